"""``EmulatorSpec``: what one broker's emulator package exports, cheap to import.

Each ``brokerlink/emulators/<broker>/__init__.py`` defines ``EMULATOR = EmulatorSpec(...)``
and imports nothing heavy: the app factory is named by ``"module:attribute"`` and
imported only when called (``AppFactory``). ``emulators/registry.py`` discovers these.

Everything that differs between brokers and that the shared framework needs lives here:
the OAuth server's config, the documented rate limit (``RateLimitPolicy``), the broker's
error body shape (``error_body(status, message)``, used for unknown routes, refused
methods and injected faults) and the ``Content-Type`` it is sent with.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.oauth_config import OAuthServerConfig
from brokerlink.emulators._shared.ratelimit import UNLIMITED, RateLimitPolicy

if TYPE_CHECKING:
    from fastapi import FastAPI

    from brokerlink.emulators._shared.env import EmulatorEnv

__all__ = ["AppFactory", "EmulatorFactory", "EmulatorSpec", "ErrorBody", "plain_error_body"]

ErrorBody = Callable[[int, str], Any]
"""``(status, message) -> body`` in the broker's error shape (a ``str``: plain text)."""


def plain_error_body(status: int, message: str) -> Any:
    """The shape used when an app has no broker spec (the framework's own tests)."""
    return {"message": message}


class EmulatorFactory(Protocol):
    """What every broker's ``app.create_app`` is."""

    def __call__(self, env: EmulatorEnv | None = None, *, strict: bool = False,
                 seed: int = 7, follow_wall_clock: bool = False) -> FastAPI: ...


@dataclass(frozen=True, slots=True)
class AppFactory:
    """A lazily imported ``create_app``: ``target`` is ``"package.module:attribute"``."""

    target: str

    def load(self) -> EmulatorFactory:
        """Import and return the factory. Raises ``ImportError``/``AttributeError``."""
        module_name, _, attribute = self.target.partition(":")
        factory: EmulatorFactory = getattr(importlib.import_module(module_name), attribute)
        return factory

    def __call__(self, env: EmulatorEnv | None = None, *, strict: bool = False,
                 seed: int = 7, follow_wall_clock: bool = False) -> FastAPI:
        return self.load()(env, strict=strict, seed=seed, follow_wall_clock=follow_wall_clock)


@dataclass(frozen=True, slots=True)
class EmulatorSpec:
    """One broker emulator, as its package describes it (see the module docstring).

    ``fault_bodies`` are the bodies injected ``error``/``rate_limit`` faults answer with
    per status (default: ``error_body(status, ...)``)."""

    broker_type: BrokerType
    create_app: AppFactory
    display_name: str
    oauth: OAuthServerConfig | None = None
    rate_limit: RateLimitPolicy = UNLIMITED
    error_body: ErrorBody = plain_error_body
    error_content_type: str = "application/json"
    fault_bodies: Mapping[int, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The name ``brokerlink emulate <name>`` takes."""
        return self.broker_type.value

"""Every installed broker emulator, discovered from its package's ``EMULATOR`` spec.

Each package under ``brokerlink.emulators`` (``_shared`` and other ``_``-prefixed ones
aside) exports ``EMULATOR = EmulatorSpec(...)`` from its ``__init__.py`` (see
``_shared/spec.py``); nothing here names a broker. Discovery imports only those light
``__init__`` modules; an app module is imported when an emulator is built. A package
that fails to import is skipped, so one broken emulator never hides the rest
(``available`` reports what really builds).

This module is also what the faces that run emulators (the demo, ``brokerlink emulate``)
import, and all they import from the emulators: ``EmulatorServer`` to serve an app on
loopback (loaded on first use: it imports uvicorn) and ``SANDBOX_CLIENT``, the OAuth
client application every emulator registers.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

import brokerlink.emulators as _emulators_package
from brokerlink.emulators._shared.oauth_config import SANDBOX_CLIENT, OAuthServerClient
from brokerlink.emulators._shared.spec import EmulatorFactory, EmulatorSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

    from brokerlink.emulators._shared.server import EmulatorServer

__all__ = ["SANDBOX_CLIENT", "EmulatorFactory", "EmulatorServer", "EmulatorSpec",
           "OAuthServerClient", "available", "create_app", "load", "names", "spec", "specs"]


def __getattr__(name: str) -> Any:
    # EmulatorServer imports uvicorn: loaded when first asked for, so discovering the
    # emulators (and ``brokerlink brokers``) stays light.
    if name == "EmulatorServer":
        from brokerlink.emulators._shared.server import EmulatorServer

        globals()[name] = EmulatorServer
        return EmulatorServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

logger = logging.getLogger("brokerlink.emulators.registry")


@cache
def _discover() -> dict[str, EmulatorSpec]:
    found: dict[str, EmulatorSpec] = {}
    for info in pkgutil.iter_modules(_emulators_package.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module_name = f"{_emulators_package.__name__}.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            logger.warning("emulator package %s cannot be imported: %s", module_name, exc)
            continue
        emulator = getattr(module, "EMULATOR", None)
        if isinstance(emulator, EmulatorSpec):
            found[emulator.name] = emulator
    return found


def specs() -> list[EmulatorSpec]:
    """Every discovered emulator's spec, sorted by name."""
    discovered = _discover()
    return [discovered[name] for name in sorted(discovered)]


def names() -> list[str]:
    """Every discovered emulator name, whether its app imports or not."""
    return sorted(_discover())


def spec(name: str) -> EmulatorSpec:
    """The spec of emulator ``name`` (case and spaces ignored). Raises ``KeyError``."""
    return _discover()[name.strip().lower()]


def load(name: str) -> EmulatorFactory:
    """The app factory of ``name``. Raises ``KeyError`` for an unknown name and
    ``ImportError`` when its app module cannot be imported."""
    return spec(name).create_app.load()


def available() -> list[str]:
    """Emulators whose app module imports in this installation."""
    ready: list[str] = []
    for name in names():
        try:
            load(name)
        except (ImportError, AttributeError):
            continue
        ready.append(name)
    return ready


def create_app(name: str, *, strict: bool = False, seed: int = 7,
               follow_wall_clock: bool = False) -> FastAPI:
    """Build the emulator app ``name`` with a fresh environment (see ``load``)."""
    return load(name)(strict=strict, seed=seed, follow_wall_clock=follow_wall_clock)

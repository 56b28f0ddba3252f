"""Emulator name -> factory, imported lazily so one broken emulator never hides the rest.

Each entry names a module attribute ``create_app(env=None, *, strict=False, seed=7,
follow_wall_clock=False) -> FastAPI`` whose ``app.state.env`` is the ``EmulatorEnv``.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from fastapi import FastAPI

from brokerlink.emulators._shared.env import EmulatorEnv


class EmulatorFactory(Protocol):
    def __call__(self, env: EmulatorEnv | None = None, *, strict: bool = False,
                 seed: int = 7, follow_wall_clock: bool = False) -> FastAPI: ...


EMULATORS: dict[str, str] = {
    "alpaca": "brokerlink.emulators.alpaca.app:create_app",
    "tradier": "brokerlink.emulators.tradier.app:create_app",
}


def names() -> list[str]:
    """Every registered emulator name, importable or not."""
    return sorted(EMULATORS)


def load(name: str) -> EmulatorFactory:
    """The factory for ``name``. Raises ``KeyError`` for an unregistered name and
    ``ImportError`` when its module cannot be imported."""
    module_name, _, attribute = EMULATORS[name.strip().lower()].partition(":")
    module = importlib.import_module(module_name)
    factory: EmulatorFactory = getattr(module, attribute)
    return factory


def available() -> list[str]:
    """Registered emulators whose module imports in this installation."""
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

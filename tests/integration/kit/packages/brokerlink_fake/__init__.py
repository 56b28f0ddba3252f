"""A fake broker's adapter package, as a third party would ship it: a ``SPEC`` and
nothing heavy at import time (the broker loads on first use)."""

from __future__ import annotations

from typing import Any

from .spec import SPEC, FakeSettings

_LAZY = {"FakeBroker": f"{__name__}.broker"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["SPEC", "FakeBroker", "FakeSettings"]

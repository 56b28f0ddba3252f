"""The Alpaca adapter: ``AlpacaBroker`` (``broker.py``) and its ``SPEC``.

Importing the package loads only its ``SPEC`` (``spec.py``); everything else loads on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .spec import SPEC, AlpacaSettings

if TYPE_CHECKING:
    from .auth import AlpacaAuth
    from .broker import AlpacaBroker, create
    from .config import AlpacaConfig
    from .stream import AlpacaTradeStream, OrderUpdate

_LAZY = {
    "AlpacaAuth": "auth",
    "AlpacaBroker": "broker",
    "create": "broker",
    "AlpacaConfig": "config",
    "AlpacaTradeStream": "stream",
    "OrderUpdate": "stream",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "SPEC",
    "AlpacaAuth",
    "AlpacaBroker",
    "AlpacaConfig",
    "AlpacaSettings",
    "AlpacaTradeStream",
    "OrderUpdate",
    "create",
]

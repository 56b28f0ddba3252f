"""The Tradier adapter: ``TradierBroker`` (``broker.py``) and its ``SPEC``.

Importing the package loads only its ``SPEC`` (``spec.py``); everything else loads on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .spec import SPEC, TRADIER_CAPABILITIES, TradierSettings

if TYPE_CHECKING:
    from .auth import TradierAuth
    from .broker import TradierBroker, create
    from .config import TradierConfig
    from .stream import OrderUpdate, TradierAccountStream

_LAZY = {
    "TradierAuth": "auth",
    "TradierBroker": "broker",
    "create": "broker",
    "TradierConfig": "config",
    "OrderUpdate": "stream",
    "TradierAccountStream": "stream",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "SPEC",
    "TRADIER_CAPABILITIES",
    "OrderUpdate",
    "TradierAccountStream",
    "TradierAuth",
    "TradierBroker",
    "TradierConfig",
    "TradierSettings",
    "create",
]

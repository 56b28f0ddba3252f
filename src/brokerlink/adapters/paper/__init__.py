"""The built-in paper broker: ``BrokerInterface`` directly on the simulation engine.

Importing the package loads only its ``SPEC``; the broker itself loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokerlink.adapters.paper.spec import PAPER_CAPABILITIES, SPEC, PaperSettings

if TYPE_CHECKING:
    from brokerlink.adapters.paper.broker import PaperBroker
    from brokerlink.adapters.paper.store import (
        MemoryPaperStateStore,
        PaperStateConflictError,
        PaperStateMissingError,
        PaperStateStore,
        StoredPaperState,
    )
    from brokerlink.adapters.paper.stream import PaperOrderStream

_LAZY = {
    "PaperBroker": "brokerlink.adapters.paper.broker",
    "PaperOrderStream": "brokerlink.adapters.paper.stream",
    "MemoryPaperStateStore": "brokerlink.adapters.paper.store",
    "PaperStateConflictError": "brokerlink.adapters.paper.store",
    "PaperStateMissingError": "brokerlink.adapters.paper.store",
    "PaperStateStore": "brokerlink.adapters.paper.store",
    "StoredPaperState": "brokerlink.adapters.paper.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["PAPER_CAPABILITIES", "SPEC", "MemoryPaperStateStore", "PaperBroker",
           "PaperOrderStream", "PaperSettings", "PaperStateConflictError",
           "PaperStateMissingError", "PaperStateStore", "StoredPaperState"]

"""The built-in paper broker: ``BrokerInterface`` directly on the simulation engine."""

from brokerlink.adapters.paper.broker import PAPER_CAPABILITIES, PaperBroker
from brokerlink.adapters.paper.store import (
    MemoryPaperStateStore,
    PaperStateConflictError,
    PaperStateMissingError,
    PaperStateStore,
    StoredPaperState,
)

__all__ = ["PAPER_CAPABILITIES", "MemoryPaperStateStore", "PaperBroker",
           "PaperStateConflictError", "PaperStateMissingError", "PaperStateStore",
           "StoredPaperState"]

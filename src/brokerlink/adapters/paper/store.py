"""The paper account's store: the shared ``BrokerStateStore`` types under their paper names."""

from brokerlink.adapters._shared.state import (
    MemoryPaperStateStore,
    PaperStateConflictError,
    PaperStateMissingError,
    PaperStateStore,
    StoredPaperState,
)

__all__ = ["MemoryPaperStateStore", "PaperStateConflictError", "PaperStateMissingError",
           "PaperStateStore", "StoredPaperState"]

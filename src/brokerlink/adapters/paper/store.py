"""The paper account's store: the shared ``BrokerStateStore`` types under their paper names."""

from brokerlink.adapters._shared.state import (
    BrokerStateConflictError,
    BrokerStateMissingError,
    BrokerStateStore,
    MemoryBrokerStateStore,
    StoredBrokerState,
)
from brokerlink.core.enums import BrokerType

PaperStateStore = BrokerStateStore
StoredPaperState = StoredBrokerState
PaperStateConflictError = BrokerStateConflictError
PaperStateMissingError = BrokerStateMissingError


class MemoryPaperStateStore(MemoryBrokerStateStore):
    """A paper account's ``BrokerStateStore`` in this process's memory."""

    def __init__(self) -> None:
        super().__init__(BrokerType.PAPER.value)


__all__ = ["MemoryPaperStateStore", "PaperStateConflictError", "PaperStateMissingError",
           "PaperStateStore", "StoredPaperState"]

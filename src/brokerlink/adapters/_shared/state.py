"""Durable state a broker keeps of its own (the paper account): the ``BrokerStateStore``.

The paper broker is the one user today; the names say paper for that reason. A spec with
``stores_state`` gets a database-backed store from the manager in ``ConnectionSettings``.


A ``PaperBroker`` given a store keeps its account there as a versioned snapshot
(``sim.snapshot`` JSON text) and saves it compare-and-swap: a save names the version
it started from, and fails with ``PaperStateConflictError`` if another writer saved in
between. The database-backed store lives with the manager (adapters never import
storage); ``MemoryPaperStateStore`` here shares one account between brokers in one
process (tests, and anything simulating several processes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from brokerlink.core.errors import BrokerError, Recovery


@dataclass(frozen=True, slots=True)
class StoredPaperState:
    """A saved paper account: its snapshot's JSON text and the version that saved it."""

    version: int
    state: str

    def __repr__(self) -> str:
        return f"StoredPaperState(version={self.version}, state=<{len(self.state)} chars>)"


class PaperStateConflictError(BrokerError):
    """Another writer saved the paper account since the version given; nothing was
    written. The broker reloads, applies the operation again and saves again."""

    retryable = True
    recovery = Recovery.RETRY_WITH_BACKOFF


class PaperStateMissingError(BrokerError):
    """The paper account's stored state is gone: its connection was removed (or never
    stored). Add a new paper connection."""

    recovery = Recovery.USER_ACTION


class PaperStateStore(Protocol):
    """One paper account's stored state. Versions start at 1 and grow by one a save."""

    async def version(self) -> int | None:
        """The stored version (``None``: nothing stored): how a broker notices, cheaply,
        that another process saved."""
        ...

    async def load(self) -> StoredPaperState | None:
        """The stored state, or ``None`` if nothing is stored."""
        ...

    async def save(self, state: str, *, expected_version: int) -> int:
        """Store ``state`` if the stored version is still ``expected_version`` (0:
        nothing stored yet) and return the new version.

        Raises ``PaperStateConflictError`` when another writer saved first,
        ``PaperStateMissingError`` when the account can no longer be stored (its
        connection was removed); nothing is written then. Any other error leaves the
        outcome unknown: the caller must reload before trusting what it holds.
        """
        ...


class MemoryPaperStateStore:
    """A ``PaperStateStore`` in this process's memory: brokers sharing one behave like
    processes sharing a database row."""

    def __init__(self) -> None:
        self.stored: StoredPaperState | None = None
        self.saves = 0

    async def version(self) -> int | None:
        return None if self.stored is None else self.stored.version

    async def load(self) -> StoredPaperState | None:
        return self.stored

    async def save(self, state: str, *, expected_version: int) -> int:
        current = 0 if self.stored is None else self.stored.version
        if current != expected_version:
            raise PaperStateConflictError(
                f"the paper account is at version {current}, not {expected_version}: "
                "another writer saved first", broker="paper")
        self.stored = StoredPaperState(current + 1, state)
        self.saves += 1
        return current + 1


# The generic names, for code that serves any broker with ``stores_state`` (the manager).
BrokerStateStore = PaperStateStore
StoredBrokerState = StoredPaperState
BrokerStateConflictError = PaperStateConflictError
BrokerStateMissingError = PaperStateMissingError

__all__ = ["BrokerStateConflictError", "BrokerStateMissingError", "BrokerStateStore",
           "MemoryPaperStateStore", "PaperStateConflictError", "PaperStateMissingError",
           "PaperStateStore", "StoredBrokerState", "StoredPaperState"]

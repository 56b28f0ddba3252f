"""Durable state a broker keeps of its own: the ``BrokerStateStore``.

A spec with ``stores_state`` (today the paper broker, which keeps its simulated account
this way) gets a database-backed store from the manager in ``ConnectionSettings.state``.
A broker given a store keeps its state there as a versioned text snapshot and saves it
compare-and-swap: a save names the version it started from, and fails with
``BrokerStateConflictError`` if another writer saved in between. The database-backed
store lives with the manager (adapters never import storage);
``MemoryBrokerStateStore`` here shares one state between brokers in one process (tests,
and anything simulating several processes). The paper package names these types after
itself (``adapters/paper/store.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from brokerlink.core.errors import BrokerError, Recovery


@dataclass(frozen=True, slots=True)
class StoredBrokerState:
    """Saved broker state: its snapshot text and the version that saved it."""

    version: int
    state: str

    def __repr__(self) -> str:
        return f"StoredBrokerState(version={self.version}, state=<{len(self.state)} chars>)"


class BrokerStateConflictError(BrokerError):
    """Another writer saved the state since the version given; nothing was written.
    The broker reloads, applies the operation again and saves again."""

    retryable = True
    recovery = Recovery.RETRY_WITH_BACKOFF


class BrokerStateMissingError(BrokerError):
    """The stored state is gone: its connection was removed (or never stored). Add a
    new connection."""

    recovery = Recovery.USER_ACTION


class BrokerStateStore(Protocol):
    """One connection's stored state. Versions start at 1 and grow by one a save."""

    async def version(self) -> int | None:
        """The stored version (``None``: nothing stored): how a broker notices, cheaply,
        that another process saved."""
        ...

    async def load(self) -> StoredBrokerState | None:
        """The stored state, or ``None`` if nothing is stored."""
        ...

    async def save(self, state: str, *, expected_version: int) -> int:
        """Store ``state`` if the stored version is still ``expected_version`` (0:
        nothing stored yet) and return the new version.

        Raises ``BrokerStateConflictError`` when another writer saved first,
        ``BrokerStateMissingError`` when the state can no longer be stored (its
        connection was removed); nothing is written then. Any other error leaves the
        outcome unknown: the caller must reload before trusting what it holds.
        """
        ...


class MemoryBrokerStateStore:
    """A ``BrokerStateStore`` in this process's memory: brokers sharing one behave like
    processes sharing a database row. ``broker`` names the broker in its errors."""

    def __init__(self, broker: str = "") -> None:
        self.broker = broker
        self.stored: StoredBrokerState | None = None
        self.saves = 0

    async def version(self) -> int | None:
        return None if self.stored is None else self.stored.version

    async def load(self) -> StoredBrokerState | None:
        return self.stored

    async def save(self, state: str, *, expected_version: int) -> int:
        current = 0 if self.stored is None else self.stored.version
        if current != expected_version:
            raise BrokerStateConflictError(
                f"the stored state is at version {current}, not {expected_version}: "
                "another writer saved first", broker=self.broker or None)
        self.stored = StoredBrokerState(current + 1, state)
        self.saves += 1
        return current + 1


__all__ = ["BrokerStateConflictError", "BrokerStateMissingError", "BrokerStateStore",
           "MemoryBrokerStateStore", "StoredBrokerState"]

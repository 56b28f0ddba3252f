"""The durable state of a broker that keeps its own (``BrokerSpec.stores_state``), in the
database: the ``BrokerStateStore`` the manager gives such a broker's connections.

``DatabaseStateStore`` is the store of one connection over a ``BrokerStateRows`` (the
broker-state table, ``storage.broker_state.BrokerStateRepository``, wired by
``bootstrap.broker_state_stores``): adapters never import storage, and the manager names
only the protocol. Every read of stored state first asks whether another process saved
it since (``version``); ``VersionReads`` answers the checks that wait at the same moment
with one query, so a portfolio read over hundreds of such connections costs a few
transactions instead of one per call. ``BrokerStates`` hands out the stores of one
table, all sharing one ``VersionReads``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Protocol

from brokerlink.adapters._shared.state import (
    BrokerStateConflictError,
    BrokerStateMissingError,
    StoredBrokerState,
)
from brokerlink.storage.broker_state import BrokerStateRecord, StateVersionConflictError
from brokerlink.storage.connections import ConnectionNotFoundError


class BrokerStateRows(Protocol):
    """Each connection's stored state, one row per connection, saved compare-and-swap
    (``storage.broker_state.BrokerStateRepository``). Every method is one transaction."""

    async def get(self, connection_id: str) -> BrokerStateRecord | None:
        """The stored state of ``connection_id``, or ``None`` if none is stored."""
        ...

    async def versions(self, connection_ids: Collection[str]) -> dict[str, int]:
        """The stored versions of several connections, by id (an id with nothing
        stored is absent)."""
        ...

    async def save(self, connection_id: str, state: str, *, expected_version: int) -> int:
        """Store ``state`` if the stored version is still ``expected_version`` (0:
        nothing stored, insert) and return the new one. Raises
        ``StateVersionConflictError`` when another writer saved first (or the row is
        gone), ``ConnectionNotFoundError`` on a first save for a connection not stored;
        nothing is written then."""
        ...


class VersionReads:
    """Stored broker-state versions of one database, read in batches (group read).

    A check queued while no query is running starts one; checks queued while it runs
    wait for the next, which starts when it ends and takes all of them. Each query
    starts after every check it answers was asked, so a check still sees every save
    committed before it was asked, as a query of its own would. The stores of one
    ``BrokerStates`` share its instance.
    """

    def __init__(self, rows: BrokerStateRows) -> None:
        self._rows = rows
        self._waiting: dict[str, list[asyncio.Future[int | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def version(self, connection_id: str) -> int | None:
        """The stored version of ``connection_id`` (``None``: nothing stored). Raises
        what the query raised (``StorageError`` and the driver's errors)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A database outlives no event loop in practice, but a test may reopen one:
            # what waited on a finished loop can never be answered.
            self._loop, self._waiting, self._reader = loop, {}, None
        answer: asyncio.Future[int | None] = loop.create_future()
        self._waiting.setdefault(connection_id, []).append(answer)
        if self._reader is None:
            self._reader = loop.create_task(self._read_batches())
        return await answer

    async def _read_batches(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                try:
                    found = await self._rows.versions(batch)
                except Exception as exc:
                    self._fail(batch, exc)
                    continue
                except BaseException:
                    self._fail(batch, None)
                    raise
                for connection_id, waiters in batch.items():
                    for answer in waiters:
                        if not answer.done():
                            answer.set_result(found.get(connection_id))
        finally:
            self._reader = None

    @staticmethod
    def _fail(batch: dict[str, list[asyncio.Future[int | None]]],
              error: Exception | None) -> None:
        """Raise ``error`` in every waiter of ``batch``; ``None``: the query was
        cancelled (the loop is shutting down), so cancel them."""
        for waiters in batch.values():
            for answer in waiters:
                if answer.done():
                    continue
                if error is None:
                    answer.cancel()
                else:
                    answer.set_exception(error)


class DatabaseStateStore:
    """The stored state of ``connection_id`` in ``rows``, its version checks asked
    through ``versions`` (shared by the stores of one table: ``BrokerStates``).
    ``broker`` names the connection's broker in the errors it raises."""

    def __init__(self, rows: BrokerStateRows, versions: VersionReads, connection_id: str,
                 *, broker: str) -> None:
        self._rows = rows
        self._versions = versions
        self.connection_id = connection_id
        self.broker = broker

    async def version(self) -> int | None:
        return await self._versions.version(self.connection_id)

    async def load(self) -> StoredBrokerState | None:
        record = await self._rows.get(self.connection_id)
        return None if record is None else StoredBrokerState(record.version, record.state)

    async def save(self, state: str, *, expected_version: int) -> int:
        """See ``BrokerStateStore.save``; the rows' errors become the store's."""
        try:
            return await self._rows.save(self.connection_id, state,
                                               expected_version=expected_version)
        except StateVersionConflictError as exc:
            if exc.found is None and expected_version > 0:
                raise self._missing() from exc
            raise BrokerStateConflictError(exc.message, broker=self.broker,
                                           connection_id=self.connection_id) from exc
        except ConnectionNotFoundError as exc:
            raise self._missing() from exc

    def _missing(self) -> BrokerStateMissingError:
        return BrokerStateMissingError(
            f"{self.broker} connection {self.connection_id} is no longer stored (it was "
            f"removed); add a new {self.broker} connection", broker=self.broker,
            connection_id=self.connection_id)


class BrokerStates:
    """The ``BrokerStateStore`` of each connection over one ``BrokerStateRows``; the
    stores it hands out share one ``VersionReads``, so their checks batch together."""

    def __init__(self, rows: BrokerStateRows) -> None:
        self.rows = rows
        self.versions = VersionReads(rows)

    def store_for(self, connection_id: str, *, broker: str) -> DatabaseStateStore:
        """The store of ``connection_id``; ``broker`` names it in errors."""
        return DatabaseStateStore(self.rows, self.versions, connection_id, broker=broker)


__all__ = ["BrokerStateRows", "BrokerStates", "DatabaseStateStore", "VersionReads"]

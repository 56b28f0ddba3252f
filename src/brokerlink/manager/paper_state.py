"""A stored paper connection's account in the database, as the paper broker's store.

``DatabasePaperStore`` is the ``PaperStateStore`` of one paper connection over the
``paper_accounts`` table: adapters never import storage, so the two meet here.
"""

from __future__ import annotations

from brokerlink.adapters.paper.store import (
    PaperStateConflictError,
    PaperStateMissingError,
    StoredPaperState,
)
from brokerlink.core.enums import BrokerType
from brokerlink.storage.connections import ConnectionNotFoundError
from brokerlink.storage.engine import Database
from brokerlink.storage.paper import PaperAccountConflictError, PaperAccountRepository


class DatabasePaperStore:
    """The ``paper_accounts`` row of ``connection_id`` (SQLite or PostgreSQL)."""

    def __init__(self, database: Database, connection_id: str) -> None:
        self._repository = PaperAccountRepository(database)
        self.connection_id = connection_id

    async def version(self) -> int | None:
        return await self._repository.version(self.connection_id)

    async def load(self) -> StoredPaperState | None:
        record = await self._repository.get(self.connection_id)
        return None if record is None else StoredPaperState(record.version, record.state)

    async def save(self, state: str, *, expected_version: int) -> int:
        """See ``PaperStateStore.save``; the repository's errors become the store's."""
        try:
            return await self._repository.save(self.connection_id, state,
                                               expected_version=expected_version)
        except PaperAccountConflictError as exc:
            if exc.found is None and expected_version > 0:
                raise self._missing() from exc
            raise PaperStateConflictError(exc.message, broker=BrokerType.PAPER.value,
                                          connection_id=self.connection_id) from exc
        except ConnectionNotFoundError as exc:
            raise self._missing() from exc

    def _missing(self) -> PaperStateMissingError:
        return PaperStateMissingError(
            f"paper connection {self.connection_id} is no longer stored (it was removed); "
            "add a new paper connection", broker=BrokerType.PAPER.value,
            connection_id=self.connection_id)


__all__ = ["DatabasePaperStore"]

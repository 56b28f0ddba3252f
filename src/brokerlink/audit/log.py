"""AuditLog: append-only, hash-chained, checkpointed; appends serialised across processes.

Appends are group-committed: each waits until its event is stored, and the appends
waiting at the same moment (many concurrent broker calls) are written together in one
transaction under the chain lock (an asyncio lock in this process; ``BEGIN IMMEDIATE``
on SQLite or an advisory lock on PostgreSQL across processes), which checks the stored
checkpoint still names the head, inserts the events chained in order and moves the
checkpoint row once. After commit the file mirror is advanced. Every commit moves the
checkpoint, so no tail is ever left uncovered; a lone append is a batch of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from brokerlink.audit.chain import checkpoint_authentic, checkpoint_mac, event_hash
from brokerlink.audit.checkpoint_file import (
    CheckpointFileError,
    FileCheckpoint,
    advance_checkpoint_file,
    read_checkpoint_file,
)
from brokerlink.audit.events import canonical_json
from brokerlink.audit.store import (
    AppendBuilder,
    AuditEventRecord,
    AuditEventStore,
    AuditKeySource,
    AuditSnapshotView,
    CheckpointRecord,
)
from brokerlink.audit.verify import Problem, VerifyReport, verify_chain
from brokerlink.core.errors import BrokerError, Recovery
from brokerlink.core.values import utc_now
from brokerlink.paths import audit_checkpoint_path

AUDIT_KEY_OWNER = "__audit__"
AUDIT_KEY_FIELD = "hmac_key"
_PAGE = 1000
# Lowest possible seq: verification must also see rows an attacker gave seq <= 0.
_BEFORE_ALL = -(2**62)


class AuditIntegrityError(BrokerError):
    """The stored chain head disagrees with its checkpoint: the log was tampered with.

    Appends are refused until someone investigates with ``brokerlink audit verify``.
    """

    recovery = Recovery.USER_ACTION


@dataclass(slots=True)
class _Pending:
    """One append waiting for the next group commit."""

    build: AppendBuilder
    event: AuditEventRecord | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.event is not None or self.error is not None


class AuditLog:
    """The audit log kept in one ``AuditEventStore``. Create with
    ``await AuditLog.open(store, vault)`` (``brokerlink.bootstrap.open_audit_log`` wires
    the database store)."""

    def __init__(self, store: AuditEventStore, key: bytes, *,
                 checkpoint_path: Path | None = None) -> None:
        """``key`` is the 32-byte audit HMAC key; prefer ``AuditLog.open``."""
        if len(key) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        self._key = key
        self._repo = store
        self._checkpoint_path = checkpoint_path
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []

    def __repr__(self) -> str:
        return f"AuditLog(dialect={self._repo.dialect!r})"

    @classmethod
    async def open(cls, store: AuditEventStore, vault: AuditKeySource, *,
                   checkpoint_path: Path | None = None) -> AuditLog:
        """The audit log kept in ``store``, keyed by the audit key sealed in ``vault``.

        The key is created on first use. ``checkpoint_path`` defaults to
        ``<home>/audit.checkpoint``. Raises ``VaultError`` if the key cannot be opened
        and ``AuditIntegrityError`` if it vanished while events exist.
        """
        # A fresh key over an existing chain would make every event look forged.
        if (await vault.get_secret(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD) is None
                and await store.checkpoint() is not None):
            raise AuditIntegrityError(
                    "the audit key is missing from the vault although the audit log has "
                    "events: the key row was deleted, so the chain cannot be verified; "
                    "restore the database from a backup")
        key = await vault.system_key(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD)
        return cls(store, key, checkpoint_path=checkpoint_path)

    @property
    def checkpoint_path(self) -> Path:
        """Where the checkpoint mirror lives."""
        return self._checkpoint_path or audit_checkpoint_path()

    async def append(
        self,
        action: str,
        *,
        actor: str,
        outcome: str,
        connection_id: str | None = None,
        broker: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEventRecord:
        """Append one event; returns it as stored (with seq and hash).

        ``detail`` should already be redacted; it is redacted again (keys naming
        tokens, secrets, passwords, authorization, api keys lose their values).
        Raises ``AuditIntegrityError`` if the head no longer matches the checkpoint,
        ``ValueError`` for a naive ``at``, ``StorageError`` on database failure.
        """
        moment = at or utc_now()
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("audit event time must be timezone-aware")
        detail_text = canonical_json(dict(detail or {}))

        def build(head_seq: int, head_hash: str, stored: CheckpointRecord | None
                  ) -> tuple[AuditEventRecord, CheckpointRecord]:
            self._check_head(head_seq, head_hash, stored)
            draft = AuditEventRecord(
                seq=head_seq + 1, at=moment, actor=actor, connection_id=connection_id,
                broker=broker, action=action, detail=detail_text, outcome=outcome,
                prev_hash=head_hash, hash="")
            digest = event_hash(self._key, head_hash, draft)
            event = AuditEventRecord(
                seq=draft.seq, at=draft.at, actor=actor, connection_id=connection_id,
                broker=broker, action=action, detail=detail_text, outcome=outcome,
                prev_hash=head_hash, hash=digest)
            checkpoint = CheckpointRecord(seq=event.seq, hash=digest,
                                          mac=checkpoint_mac(self._key, event.seq, digest),
                                          updated_at=utc_now())
            return event, checkpoint

        pending = _Pending(build)
        self._pending.append(pending)
        async with self._lock:
            if not pending.done:
                await self._flush()
        if pending.error is not None:
            raise pending.error
        assert pending.event is not None  # noqa: S101  (done without an error)
        return pending.event

    async def _flush(self) -> None:
        """Write every append waiting now in one transaction (group commit), then
        advance the file mirror once. Called under the lock by whichever waiting
        append gets it first; the others find theirs done."""
        batch, self._pending = self._pending, []
        try:
            events = await self._repo.append_many([p.build for p in batch])
            last = events[-1]
            # In a thread: the mirror is fsynced, which must not stall the event loop.
            await asyncio.to_thread(advance_checkpoint_file, self.checkpoint_path,
                                    FileCheckpoint(seq=last.seq, hash=last.hash,
                                                   mac=checkpoint_mac(self._key, last.seq,
                                                                      last.hash)))
        except Exception as exc:
            for waiting in batch:
                waiting.error = exc
            return
        except BaseException:
            # Cancelled mid-write: whether the batch committed is unknown to the others.
            for waiting in batch:
                waiting.error = AuditIntegrityError(
                    "an audit append was interrupted; whether it was stored is unknown: "
                    "run `brokerlink audit verify`")
            raise
        for waiting, event in zip(batch, events, strict=True):
            waiting.event = event

    def _check_head(self, head_seq: int, head_hash: str, stored: CheckpointRecord | None) -> None:
        if stored is None:
            if head_seq:
                raise AuditIntegrityError(
                    "the audit checkpoint row is missing although events exist; the log "
                    "was tampered with. Run `brokerlink audit verify`")
            return
        if not checkpoint_authentic(self._key, stored.seq, stored.hash, stored.mac):
            raise AuditIntegrityError(
                "the audit checkpoint row fails its MAC; run `brokerlink audit verify`")
        if stored.seq != head_seq or stored.hash != head_hash:
            raise AuditIntegrityError(
                f"the audit log head (event {head_seq}) is not the checkpointed head "
                f"(event {stored.seq}): events were removed or altered. Run "
                "`brokerlink audit verify`")

    async def recent(self, limit: int = 20) -> list[AuditEventRecord]:
        """The newest ``limit`` events, oldest first."""
        if limit <= 0:
            return []
        return await self._repo.recent(limit)

    async def verify(self) -> VerifyReport:
        """Check the whole chain and both checkpoints; see ``VerifyReport``.

        Never raises for tampering (that is reported); raises ``StorageError`` if the
        database cannot be read.
        """
        try:
            # Read before the snapshot: the file is written after each commit, so it
            # can only lag the snapshot, never lead it, unless the tail was cut.
            mirrored = read_checkpoint_file(self.checkpoint_path)
        except CheckpointFileError as exc:
            stored = await self._repo.checkpoint()
            head = stored.seq if stored else 0
            return VerifyReport(ok=False, events_checked=0, head_seq=head,
                                first_bad_seq=head, problem=Problem.BAD_CHECKPOINT,
                                reason=f"{exc}: it was edited or corrupted")
        async with self._repo.snapshot() as snapshot:
            stored = await snapshot.checkpoint()
            return await verify_chain(self._key, _iter_events(snapshot), stored, mirrored)

    async def aclose(self) -> None:
        """Nothing is buffered (every append is checkpointed); kept for symmetry."""


async def _iter_events(snapshot: AuditSnapshotView) -> AsyncIterator[AuditEventRecord]:
    after = _BEFORE_ALL
    while page := await snapshot.page(after, _PAGE):
        for event in page:
            yield event
        after = page[-1].seq

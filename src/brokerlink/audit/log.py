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

from brokerlink.audit.anchor import Anchor, AnchorError, sign_anchor
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
    DamagedRecord,
    StoredCheckpoint,
    StoredEvent,
)
from brokerlink.audit.verify import Evidence, Problem, VerifyReport, fail, verify_chain
from brokerlink.core.errors import BrokerError, Recovery
from brokerlink.core.values import utc_now
from brokerlink.paths import audit_checkpoint_path

AUDIT_KEY_OWNER = "__audit__"
AUDIT_KEY_FIELD = "hmac_key"
_PAGE = 1000
# How many rows without a sequence number verification reads to report them.
_UNNUMBERED_SAMPLE = 10
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

    def __init__(self, store: AuditEventStore, key: bytes | None = None, *,
                 key_source: AuditKeySource | None = None,
                 checkpoint_path: Path | None = None) -> None:
        """``key`` is the audit HMAC key (at least 32 bytes), or ``None`` before the first
        event, when ``key_source`` creates it on the first append; prefer ``open``.
        Raises ``ValueError`` for a short key or neither a key nor a source."""
        if key is not None and len(key) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        if key is None and key_source is None:
            raise ValueError("an audit log needs its key or the vault that will hold it")
        self._key = key
        self._key_source = key_source
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

        The key is created by the first append (never by opening). ``checkpoint_path``
        defaults to ``<home>/audit.checkpoint``. Raises ``VaultError`` if the key cannot
        be opened, ``AuditIntegrityError`` if it vanished while events exist, and
        ``StorageError`` if the audit tables cannot be read.
        """
        key = await _existing_key(vault)
        # A fresh key over an existing chain would make every event look forged.
        if key is None and (await store.checkpoint() is not None or await store.has_events()):
            raise AuditIntegrityError(
                    "the audit key is missing from the vault although the audit log has "
                    "events: the key row was deleted, so the chain cannot be verified; "
                    "restore the database from a backup")
        return cls(store, key, key_source=vault, checkpoint_path=checkpoint_path)

    async def _append_key(self) -> bytes:
        if self._key is None:
            assert self._key_source is not None  # noqa: S101  (checked in __init__)
            self._key = await self._key_source.system_key(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD)
        return self._key

    async def _verify_key(self) -> bytes | None:
        # Another process may have written the first event since this log was opened.
        if self._key is None and self._key_source is not None:
            self._key = await _existing_key(self._key_source)
        return self._key

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
        key = await self._append_key()

        def build(head_seq: int, head_hash: str, stored: StoredCheckpoint | None
                  ) -> tuple[AuditEventRecord, CheckpointRecord]:
            self._check_head(head_seq, head_hash, stored, key)
            draft = AuditEventRecord(
                seq=head_seq + 1, at=moment, actor=actor, connection_id=connection_id,
                broker=broker, action=action, detail=detail_text, outcome=outcome,
                prev_hash=head_hash, hash="")
            digest = event_hash(key, head_hash, draft)
            event = AuditEventRecord(
                seq=draft.seq, at=draft.at, actor=actor, connection_id=connection_id,
                broker=broker, action=action, detail=detail_text, outcome=outcome,
                prev_hash=head_hash, hash=digest)
            checkpoint = CheckpointRecord(seq=event.seq, hash=digest,
                                          mac=checkpoint_mac(key, event.seq, digest),
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
        key = self._key
        assert key is not None  # noqa: S101  (every append gets the key before queueing)
        try:
            events = await self._repo.append_many([p.build for p in batch])
            last = events[-1]
            # In a thread: the mirror is fsynced, which must not stall the event loop.
            await asyncio.to_thread(advance_checkpoint_file, self.checkpoint_path,
                                    FileCheckpoint(seq=last.seq, hash=last.hash,
                                                   mac=checkpoint_mac(key, last.seq,
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

    def _check_head(self, head_seq: int, head_hash: str, stored: StoredCheckpoint | None,
                    key: bytes) -> None:
        if isinstance(stored, DamagedRecord):
            raise AuditIntegrityError(
                f"the audit checkpoint row is damaged ({stored.reason}); run "
                "`brokerlink audit verify`")
        if stored is None:
            if head_seq:
                raise AuditIntegrityError(
                    "the audit checkpoint row is missing although events exist; the log "
                    "was tampered with. Run `brokerlink audit verify`")
            return
        if not checkpoint_authentic(key, stored.seq, stored.hash, stored.mac):
            raise AuditIntegrityError(
                "the audit checkpoint row fails its MAC; run `brokerlink audit verify`")
        if stored.seq != head_seq or stored.hash != head_hash:
            raise AuditIntegrityError(
                f"the audit log head (event {head_seq}) is not the checkpointed head "
                f"(event {stored.seq}): events were removed or altered. Run "
                "`brokerlink audit verify`")

    async def recent(self, limit: int = 20) -> list[AuditEventRecord]:
        """The newest ``limit`` events, oldest first.

        Raises ``AuditIntegrityError`` if one of them is damaged (``recent_rows`` shows
        damaged rows instead) and ``StorageError`` if the table cannot be read.
        """
        rows = await self.recent_rows(limit)
        for stored in rows:
            if isinstance(stored, DamagedRecord):
                raise AuditIntegrityError(
                    f"audit event {stored.seq} is damaged ({stored.reason}); run "
                    "`brokerlink audit verify`")
        return [stored for stored in rows if isinstance(stored, AuditEventRecord)]

    async def recent_rows(self, limit: int = 20) -> list[StoredEvent]:
        """The newest ``limit`` numbered rows, oldest first, each an event or a
        ``DamagedRecord`` saying what is wrong with it (for display). Raises
        ``StorageError`` if the table cannot be read."""
        if limit <= 0:
            return []
        return await self._repo.recent(limit)

    async def verify(self, *, anchor: Anchor | None = None,
                     require_checkpoint_file: bool = True) -> VerifyReport:
        """Check every event, the chain and both checkpoints; see ``VerifyReport``.

        By default a log with events but no checkpoint file fails (a cut-off tail with
        a rewound checkpoint row could not be ruled out); ``require_checkpoint_file=
        False`` makes it a warning, for a machine that never wrote to a shared
        database. ``anchor`` is also checked: authentic, its event still there with
        the same hash, the log not shorter. A vault holding the audit key with no
        events left fails as a wiped log. Never raises for tampering or damage (that is
        reported); raises ``StorageError`` if the database cannot be read and
        ``VaultError`` if the key cannot be opened.
        """
        path = self.checkpoint_path
        file_error: str | None = None
        try:
            # Read before the snapshot: the file is written after each commit, so it
            # can only lag the snapshot, never lead it, unless the tail was cut.
            mirrored = read_checkpoint_file(path)
        except CheckpointFileError as exc:
            mirrored, file_error = None, str(exc)
        key = await self._verify_key()
        if key is None:
            return await self._verify_keyless(mirrored, file_error, anchor, str(path))
        async with self._repo.snapshot() as snapshot:
            evidence = Evidence(stored=await snapshot.checkpoint(), mirrored=mirrored,
                                file_path=str(path), file_error=file_error, anchor=anchor,
                                require_file=require_checkpoint_file,
                                unnumbered=await snapshot.unnumbered(_UNNUMBERED_SAMPLE))
            return await verify_chain(key, _iter_events(snapshot), evidence)

    async def _verify_keyless(self, mirrored: FileCheckpoint | None, file_error: str | None,
                              anchor: Anchor | None, path: str) -> VerifyReport:
        """No audit key: fine only if nothing says events were ever written."""
        if await self._repo.has_events() or await self._repo.checkpoint() is not None:
            return fail(0, 0, None, Problem.MISSING_KEY,
                        "the audit key is missing from the vault although the audit log "
                        "has events or a checkpoint: the key row was deleted, so nothing "
                        "can be verified; restore the database from a backup")
        if file_error is not None:
            return fail(0, 0, None, Problem.BAD_CHECKPOINT,
                        f"{file_error}, and the log has no events and no audit key: the "
                        "log may have been wiped with its key")
        if mirrored is not None:
            return fail(0, 0, None, Problem.WIPED,
                        f"the checkpoint file {path} records event {mirrored.seq} but the "
                        "audit key, every event and the checkpoint row are gone: the log "
                        "was wiped, key and all")
        if anchor is not None:
            return fail(0, 0, None, Problem.WIPED,
                        f"the anchor records event {anchor.seq} but the log has no events "
                        "and no audit key: the log was wiped, key and all (or this is "
                        "not the database the anchor was made for)")
        return VerifyReport(ok=True, events_checked=0, head_seq=0, warnings=(
            "the audit log has never been written (no audit key yet)",))

    async def anchor(self, *, require_checkpoint_file: bool = True) -> Anchor:
        """A signed statement of the current head, to be kept off this machine.

        The log is verified first (an anchor must never vouch for a tampered log).
        Raises ``AuditIntegrityError`` if it does not verify, ``AnchorError`` if it has
        no events yet, and what ``verify`` raises.
        """
        report = await self.verify(require_checkpoint_file=require_checkpoint_file)
        if not report.ok:
            raise AuditIntegrityError(
                f"the audit log does not verify, so it cannot be anchored: {report.reason}")
        key = self._key
        if report.head_seq == 0 or report.head_hash is None or key is None:
            raise AnchorError("the audit log has no events yet: there is nothing to anchor")
        return sign_anchor(key, report.head_seq, report.head_hash, utc_now())

    async def aclose(self) -> None:
        """Nothing is buffered (every append is checkpointed); kept for symmetry."""


async def _existing_key(vault: AuditKeySource) -> bytes | None:
    """The audit key if the vault holds it; never creates it."""
    if await vault.get_secret(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD) is None:
        return None
    return await vault.system_key(AUDIT_KEY_OWNER, AUDIT_KEY_FIELD)


async def _iter_events(snapshot: AuditSnapshotView) -> AsyncIterator[StoredEvent]:
    after = _BEFORE_ALL
    while page := await snapshot.page(after, _PAGE):
        for event in page:
            yield event
        last = page[-1].seq
        if last is None or last <= after:
            return  # a store breaking its contract must not loop forever
        after = last

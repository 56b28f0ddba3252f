"""Verifying the audit chain: what a broken chain looks like, named precisely.

Walks the events in seq order with one event of look-ahead and reports the first
problem: a *damaged* row (not readable as an event: NULLs, wrong types, text that is
not UTF-8, a time that is not a time, a hash of the wrong length), a *modified* event
(its MAC fails), a *deleted* one (a gap in seq, or a link to an event that is gone), an
*inserted* one (a foreign event whose successor links past it), a *reordered* pair
(links run out of seq order), a *truncated* tail (a checkpoint or an anchor names a
later head than the log has), a *bad checkpoint* (damaged, fails its MAC, or names a
hash the log does not have), a *missing checkpoint* (so a cut-off tail cannot be ruled
out), a *wiped* log (the audit key exists, so events were written, but none are left),
or an anchor that is forged or disagrees with the log.

Nothing here raises for what is stored: every kind of damage becomes a report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from brokerlink.audit.anchor import Anchor, anchor_authentic, anchor_key_id
from brokerlink.audit.chain import checkpoint_authentic, event_authentic
from brokerlink.audit.checkpoint_file import FileCheckpoint
from brokerlink.audit.events import iso_utc
from brokerlink.audit.store import (
    GENESIS_HASH,
    AuditEventRecord,
    CheckpointRecord,
    DamagedRecord,
    StoredCheckpoint,
    StoredEvent,
)


class Problem(StrEnum):
    """Why verification failed."""

    DAMAGED = "damaged"
    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT = "bad_checkpoint"
    MISSING_CHECKPOINT = "missing_checkpoint"
    MISSING_KEY = "missing_key"
    WIPED = "wiped"
    BAD_ANCHOR = "bad_anchor"
    ANCHOR_MISMATCH = "anchor_mismatch"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of ``AuditLog.verify``.

    ``ok`` is true only if every event reads, authenticates, links to its predecessor,
    seq has no gap, and the checkpoints (and the anchor, if given) agree with the head.
    On failure ``problem`` says what kind, ``first_bad_seq`` the first bad event (or
    ``None`` when no event number applies, e.g. a row without one) and ``reason`` says
    it in words, including what cannot be ruled out. ``head_hash`` is the verified
    head's hash. ``warnings`` are notes that do not fail verification.
    """

    ok: bool
    events_checked: int
    head_seq: int
    first_bad_seq: int | None = None
    problem: Problem | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    head_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the chain is checked against besides its own links.

    ``stored`` is the checkpoint row, ``mirrored`` the checkpoint file (``file_error``
    says why it could not be read, if it exists but is not one; ``file_path`` names it
    in messages), ``anchor`` an anchor the user kept, and ``require_file`` whether a
    log with events but no checkpoint file fails (the default) or only warns.
    """

    stored: StoredCheckpoint | None
    mirrored: FileCheckpoint | None
    file_path: str = "the checkpoint file"
    file_error: str | None = None
    anchor: Anchor | None = None
    require_file: bool = True
    unnumbered: Sequence[DamagedRecord] = ()


def fail(checked: int, head: int, seq: int | None, problem: Problem,
         reason: str) -> VerifyReport:
    """A failed report."""
    return VerifyReport(ok=False, events_checked=checked, head_seq=head, first_bad_seq=seq,
                        problem=problem, reason=reason)


def _authentic(key: bytes, event: StoredEvent | None) -> bool:
    return isinstance(event, AuditEventRecord) and event_authentic(key, event)


async def verify_chain(key: bytes, events: AsyncIterator[StoredEvent],
                       evidence: Evidence) -> VerifyReport:
    """Check the chain ``events`` (seq order) against ``evidence``. Never raises for
    what the rows, checkpoints or anchor hold."""
    stored_seq = (evidence.stored.seq if isinstance(evidence.stored, CheckpointRecord)
                  else None)
    wanted = {cp.seq for cp in (evidence.stored, evidence.mirrored, evidence.anchor)
              if cp is not None and cp.seq is not None}
    seen: dict[int, str] = {}
    checked = 0
    prev_seq, prev_hash = 0, GENESIS_HASH
    current = await anext(events, None)
    while current is not None:
        following = await anext(events, None)
        expected_seq = prev_seq + 1
        # Pages hold numbered rows only (unnumbered ones come in ``evidence``).
        seq = current.seq if current.seq is not None else expected_seq
        if seq > expected_seq:
            missing = (f"event {expected_seq}" if seq == expected_seq + 1
                       else f"events {expected_seq}..{seq - 1}")
            return fail(checked, prev_seq, expected_seq, Problem.DELETED,
                        f"{missing} missing: the sequence jumps from {prev_seq} to {seq}")
        if seq < expected_seq:
            return fail(checked, prev_seq, seq, Problem.INSERTED,
                        f"event {seq} repeats a sequence number already checked")
        if isinstance(current, DamagedRecord):
            return fail(checked, prev_seq, seq, Problem.DAMAGED,
                        f"event {seq} is damaged: {current.reason}")
        if not event_authentic(key, current):
            if (isinstance(following, AuditEventRecord) and following.prev_hash == prev_hash
                    and _authentic(key, following)):
                return fail(checked, prev_seq, seq, Problem.INSERTED,
                            f"event {seq} was not written by brokerlink: the next event "
                            f"links straight to event {prev_seq}, so it was inserted")
            if stored_seq is not None and seq > stored_seq:
                return fail(checked, prev_seq, seq, Problem.INSERTED,
                            f"event {seq} lies beyond the checkpointed head "
                            f"({stored_seq}) and its MAC fails: it was inserted")
            return fail(checked, prev_seq, seq, Problem.MODIFIED,
                        f"event {seq} fails its MAC: its content or hash was modified")
        if current.prev_hash != prev_hash:
            if (isinstance(following, AuditEventRecord) and following.prev_hash == prev_hash
                    and _authentic(key, following)):
                return fail(checked, prev_seq, seq, Problem.REORDERED,
                            f"events {seq} and {following.seq} are out of order: event "
                            f"{following.seq} is the one that follows {prev_seq}")
            return fail(checked, prev_seq, seq, Problem.DELETED,
                        f"event {seq} does not follow event {prev_seq}: an event between "
                        "them was deleted (and the rest renumbered)")
        if seq in wanted:
            seen[seq] = current.hash
        checked += 1
        prev_seq, prev_hash = seq, current.hash
        current = following
    if evidence.unnumbered:
        count = len(evidence.unnumbered)
        return fail(checked, prev_seq, None, Problem.DAMAGED,
                    f"{count}{'+' if count >= 10 else ''} event row(s) have no usable "
                    f"sequence number ({evidence.unnumbered[0].reason}): rows were "
                    "damaged or planted")
    return _check_heads(key, checked, prev_seq, prev_hash, evidence, seen)


def _check_heads(key: bytes, checked: int, head: int, head_hash: str, evidence: Evidence,
                 seen: dict[int, str]) -> VerifyReport:
    stored, mirrored = evidence.stored, evidence.mirrored
    if isinstance(stored, DamagedRecord):
        return fail(checked, head, stored.seq, Problem.BAD_CHECKPOINT,
                    f"the checkpoint row is damaged: {stored.reason}")
    if evidence.file_error is not None:
        return fail(checked, head, None, Problem.BAD_CHECKPOINT,
                    f"{evidence.file_error}: it was replaced, edited or corrupted, so a "
                    "cut-off tail cannot be ruled out")
    if stored is not None:
        problem = _check_one(key, "checkpoint row", stored.seq, stored.hash, stored.mac,
                             checked, head, seen)
        if problem is not None:
            return problem
        if stored.seq != head:
            return fail(checked, head, stored.seq, Problem.BAD_CHECKPOINT,
                        f"the checkpoint row names event {stored.seq} but the head is "
                        f"{head}: it was rolled back")
    if mirrored is not None:
        problem = _check_one(key, f"checkpoint file ({evidence.file_path})", mirrored.seq,
                             mirrored.hash, mirrored.mac, checked, head, seen)
        if problem is not None:
            return problem
    notes: list[str] = []
    if evidence.anchor is not None:
        problem = _check_anchor(key, evidence.anchor, checked, head, seen)
        if problem is not None:
            return problem
        notes.append(f"anchor matches: event {evidence.anchor.seq} is as anchored at "
                     f"{iso_utc(evidence.anchor.made_at)}")
    missing = _check_missing(checked, head, evidence, notes)
    if missing is not None:
        return missing
    return VerifyReport(ok=True, events_checked=checked, head_seq=head,
                        warnings=tuple(notes), head_hash=head_hash if head else None)


def _check_missing(checked: int, head: int, evidence: Evidence,
                   notes: list[str]) -> VerifyReport | None:
    stored, mirrored, where = evidence.stored, evidence.mirrored, evidence.file_path
    if head == 0:
        if stored is None and mirrored is None:
            return fail(0, 0, None, Problem.WIPED,
                        "the audit key exists but there are no events and no checkpoint: "
                        "the log was wiped (the key is created with the first event, so "
                        "a log that was never written has none). Which events existed "
                        "cannot be known from this machine; check an anchor you kept "
                        "with --anchor")
        return None  # a checkpoint beyond an empty log was reported as truncation
    if stored is None and mirrored is None:
        return fail(checked, head, None, Problem.MISSING_CHECKPOINT,
                    f"both checkpoints (the row and {where}) are missing although the "
                    f"log has {head} events: they were deleted, and events cut off the "
                    "tail before that cannot be ruled out; check an anchor with --anchor")
    if stored is None:
        assert mirrored is not None  # noqa: S101  (both None handled above)
        return fail(checked, head, None, Problem.MISSING_CHECKPOINT,
                    f"the checkpoint row is missing although the log has {head} events "
                    "(every append writes it): it was deleted. The checkpoint file "
                    f"agrees up to event {mirrored.seq}; events appended after that by "
                    "another machine and then cut off cannot be ruled out")
    if mirrored is None:
        message = (f"no checkpoint file at {where} although the log has {head} events: "
                   "the checkpoint row is in the same database as the events, so a tail "
                   "cut off together with a rewound row cannot be ruled out")
        if evidence.require_file:
            return fail(checked, head, None, Problem.MISSING_CHECKPOINT,
                        f"{message}. If this machine never wrote to this (shared) database, "
                        "pass --allow-missing-checkpoint-file; better, check an anchor "
                        "with --anchor")
        notes.append(message)
    return None


def _check_one(key: bytes, what: str, seq: int, head_hash: str, mac: str, checked: int,
               head: int, seen: dict[int, str]) -> VerifyReport | None:
    if not checkpoint_authentic(key, seq, head_hash, mac):
        return fail(checked, head, seq, Problem.BAD_CHECKPOINT,
                    f"the {what} fails its MAC: it was edited or forged")
    if seq > head:
        return fail(checked, head, head + 1, Problem.TRUNCATED,
                    f"the log ends at event {head} but the {what} records event {seq}: "
                    f"{seq - head} event(s) were cut off the tail")
    if seq and seen.get(seq) != head_hash:
        return fail(checked, head, seq, Problem.BAD_CHECKPOINT,
                    f"the {what} names a different event {seq} than the log holds")
    return None


def _check_anchor(key: bytes, anchor: Anchor, checked: int, head: int,
                  seen: dict[int, str]) -> VerifyReport | None:
    made = iso_utc(anchor.made_at)
    if not anchor_authentic(key, anchor):
        if anchor.key_id != anchor_key_id(key):
            return fail(checked, head, None, Problem.BAD_ANCHOR,
                        "the anchor was not made with this log's audit key: it belongs to "
                        "another brokerlink installation, or its key id was edited")
        return fail(checked, head, None, Problem.BAD_ANCHOR,
                    "the anchor fails its MAC: it was forged or edited")
    if anchor.seq > head:
        gone = "the log was wiped" if head == 0 else (
            f"{anchor.seq - head} event(s) were cut off the tail")
        return fail(checked, head, head + 1, Problem.TRUNCATED,
                    f"the log ends at event {head} but the anchor made {made} records "
                    f"event {anchor.seq}: {gone}")
    if seen.get(anchor.seq) != anchor.hash:
        return fail(checked, head, anchor.seq, Problem.ANCHOR_MISMATCH,
                    f"event {anchor.seq} is not the event anchored {made}: the log up to "
                    "it was rewritten (by someone holding the audit key)")
    return None

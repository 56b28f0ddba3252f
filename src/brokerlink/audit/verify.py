"""Verifying the audit chain: what a broken chain looks like, named precisely.

Walks the events in seq order with one event of look-ahead and reports the first
problem: a *modified* event (its MAC fails), a *deleted* one (a gap in seq, or a
link to an event that is gone), an *inserted* one (a foreign event whose successor
links past it), a *reordered* pair (links run out of seq order), a *truncated*
tail (a checkpoint names a later head than the log has) or a *bad checkpoint*
(its MAC fails, or it names a hash the log does not have).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

from brokerlink.audit.chain import checkpoint_authentic, event_authentic
from brokerlink.audit.checkpoint_file import FileCheckpoint
from brokerlink.audit.store import GENESIS_HASH, AuditEventRecord, CheckpointRecord


class Problem(StrEnum):
    """Why verification failed."""

    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT = "bad_checkpoint"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of ``AuditLog.verify``.

    ``ok`` is true only if every event authenticates, links to its predecessor, seq
    has no gap, and the checkpoints agree with the head. On failure ``first_bad_seq``
    and ``problem`` name the first bad event and ``reason`` says it in words.
    ``warnings`` are notes that do not fail verification (e.g. no file mirror yet).
    """

    ok: bool
    events_checked: int
    head_seq: int
    first_bad_seq: int | None = None
    problem: Problem | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()


def _fail(checked: int, head: int, seq: int, problem: Problem, reason: str) -> VerifyReport:
    return VerifyReport(ok=False, events_checked=checked, head_seq=head, first_bad_seq=seq,
                        problem=problem, reason=reason)


async def verify_chain(
    key: bytes,
    events: AsyncIterator[AuditEventRecord],
    stored: CheckpointRecord | None,
    mirrored: FileCheckpoint | None,
    hash_at: dict[int, str] | None = None,
) -> VerifyReport:
    """Check the chain ``events`` (seq order) against both checkpoints.

    ``hash_at`` collects, as a side effect, the hashes at the checkpoints' seqs.
    """
    wanted = {cp.seq for cp in (stored, mirrored) if cp is not None}
    seen: dict[int, str] = {} if hash_at is None else hash_at
    checked = 0
    prev_seq, prev_hash = 0, GENESIS_HASH
    current = await anext(events, None)
    while current is not None:
        following = await anext(events, None)
        expected_seq = prev_seq + 1
        seq = current.seq
        if not event_authentic(key, current):
            if (following is not None and following.prev_hash == prev_hash
                    and event_authentic(key, following)):
                return _fail(checked, prev_seq, seq, Problem.INSERTED,
                             f"event {seq} was not written by brokerlink: the next event "
                             f"links straight to event {prev_seq}, so it was inserted")
            if stored is not None and seq > stored.seq:
                return _fail(checked, prev_seq, seq, Problem.INSERTED,
                             f"event {seq} lies beyond the checkpointed head "
                             f"({stored.seq}) and its MAC fails: it was inserted")
            return _fail(checked, prev_seq, seq, Problem.MODIFIED,
                         f"event {seq} fails its MAC: its content or hash was modified")
        if seq > expected_seq:
            missing = (f"event {expected_seq}" if seq == expected_seq + 1
                       else f"events {expected_seq}..{seq - 1}")
            return _fail(checked, prev_seq, expected_seq, Problem.DELETED,
                         f"{missing} missing: the sequence jumps from {prev_seq} to {seq}")
        if seq < expected_seq:
            return _fail(checked, prev_seq, seq, Problem.INSERTED,
                         f"event {seq} repeats a sequence number already checked")
        if current.prev_hash != prev_hash:
            if (following is not None and following.prev_hash == prev_hash
                    and event_authentic(key, following)):
                return _fail(checked, prev_seq, seq, Problem.REORDERED,
                             f"events {seq} and {following.seq} are out of order: event "
                             f"{following.seq} is the one that follows {prev_seq}")
            return _fail(checked, prev_seq, seq, Problem.DELETED,
                         f"event {seq} does not follow event {prev_seq}: an event between "
                         "them was deleted (and the rest renumbered)")
        if seq in wanted:
            seen[seq] = current.hash
        checked += 1
        prev_seq, prev_hash = seq, current.hash
        current = following
    return _check_heads(key, checked, prev_seq, stored, mirrored, seen)


def _check_heads(key: bytes, checked: int, head: int, stored: CheckpointRecord | None,
                 mirrored: FileCheckpoint | None, seen: dict[int, str]) -> VerifyReport:
    warnings: list[str] = []
    if stored is None:
        if head:
            return _fail(checked, head, head, Problem.BAD_CHECKPOINT,
                         "the checkpoint row is missing although the log has events")
    else:
        problem = _check_one(key, "checkpoint row", stored.seq, stored.hash, stored.mac,
                             checked, head, seen)
        if problem is not None:
            return problem
        if stored.seq != head:
            return _fail(checked, head, stored.seq, Problem.BAD_CHECKPOINT,
                         f"the checkpoint row names event {stored.seq} but the head is "
                         f"{head}: it was rolled back")
    if mirrored is None:
        if head:
            warnings.append("no checkpoint file yet: a cut-off tail is caught only by the "
                            "checkpoint row")
    else:
        problem = _check_one(key, "checkpoint file", mirrored.seq, mirrored.hash,
                             mirrored.mac, checked, head, seen)
        if problem is not None:
            return problem
    return VerifyReport(ok=True, events_checked=checked, head_seq=head,
                        warnings=tuple(warnings))


def _check_one(key: bytes, what: str, seq: int, head_hash: str, mac: str, checked: int,
               head: int, seen: dict[int, str]) -> VerifyReport | None:
    if not checkpoint_authentic(key, seq, head_hash, mac):
        return _fail(checked, head, seq, Problem.BAD_CHECKPOINT,
                     f"the {what} fails its MAC: it was edited")
    if seq > head:
        return _fail(checked, head, head + 1, Problem.TRUNCATED,
                     f"the log ends at event {head} but the {what} records event {seq}: "
                     f"{seq - head} event(s) were cut off the tail")
    if seq and seen.get(seq) != head_hash:
        return _fail(checked, head, seq, Problem.BAD_CHECKPOINT,
                     f"the {what} names a different event {seq} than the log holds")
    return None

"""The chain's MACs: event hashes and checkpoint MACs under the audit key.

``hash = HMAC-SHA256(key, prev_hash || canonical JSON of the event)``. The audit
key lives sealed in the vault, so write access to the database is not enough to
forge or recompute the chain. ``seq`` is deliberately not hashed: order is
authenticated by the ``prev_hash`` links, the head by the checkpoint, and leaving
it out lets verification tell a reordered event from a modified one.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from brokerlink.audit.events import iso_utc
from brokerlink.audit.store import AuditEventRecord

_CHECKPOINT_LABEL = b"brokerlink/audit-checkpoint/v1"


def event_payload(record: AuditEventRecord) -> bytes:
    """The canonical bytes of an event's content (everything but seq and hashes)."""
    fields = {
        "action": record.action,
        "actor": record.actor,
        "at": iso_utc(record.at),
        "broker": record.broker,
        "connection_id": record.connection_id,
        "detail": record.detail,
        "outcome": record.outcome,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def event_hash(key: bytes, prev_hash: str, record: AuditEventRecord) -> str:
    """The HMAC an event with this content and predecessor must carry."""
    return hmac.new(key, prev_hash.encode("ascii") + event_payload(record),
                    hashlib.sha256).hexdigest()


def event_authentic(key: bytes, record: AuditEventRecord) -> bool:
    """Whether ``record.hash`` is the MAC of its content and stored ``prev_hash``."""
    try:
        expected = event_hash(key, record.prev_hash, record)
    except (UnicodeEncodeError, ValueError):
        return False
    return hmac.compare_digest(expected, record.hash)


def checkpoint_mac(key: bytes, seq: int, head_hash: str) -> str:
    """The MAC binding a checkpoint's seq to the head hash."""
    message = _CHECKPOINT_LABEL + f"\x00{seq}\x00{head_hash}".encode("ascii", "replace")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def checkpoint_authentic(key: bytes, seq: int, head_hash: str, mac: str) -> bool:
    """Whether ``mac`` is the checkpoint MAC of (seq, head hash)."""
    return hmac.compare_digest(checkpoint_mac(key, seq, head_hash), mac)

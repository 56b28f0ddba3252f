"""Anchors: MAC-signed statements of the chain head that the user keeps elsewhere.

The checkpoint row and the checkpoint file both live on the machine (the row even in
the same database as the events), so someone who controls the machine can cut the
log's tail and remove or rewind both. An anchor is the answer, as CloudTrail's digest
files are: ``brokerlink audit anchor`` states "the log had N events and event N had
this hash at this time", signed, and the user copies it off the machine (mail, another
host, a write-once bucket). ``brokerlink audit verify --anchor FILE`` then proves the
log still holds that event with that hash and is not shorter.

The MAC is under a key derived from the audit key for this purpose alone
(``HMAC(audit key, label)``), so an anchor can never be confused with an event hash or
a checkpoint MAC. An anchor is not secret: it holds hashes and a MAC, never the key.
Format (one line of JSON, so a cron job can mail or upload it as is)::

    {"format":"brokerlink-audit-anchor","version":1,"seq":N,"hash":"<64 hex>",
     "made_at":"<ISO 8601 UTC>","key_id":"<16 hex>","mac":"<64 hex>"}

``key_id`` names the audit key (a MAC of a fixed label, not the key) so an anchor
from another installation is told apart from a forged one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from brokerlink.audit.events import iso_utc
from brokerlink.audit.rows import hash_problem

__all__ = [
    "ANCHOR_FORMAT",
    "Anchor",
    "AnchorError",
    "anchor_authentic",
    "anchor_key_id",
    "parse_anchor",
    "read_anchor_file",
    "sign_anchor",
]

ANCHOR_FORMAT = "brokerlink-audit-anchor"
_VERSION = 1
_KEY_LABEL = b"brokerlink/audit-anchor-key/v1"
_ID_LABEL = b"brokerlink/audit-anchor-key-id/v1"
_MAC_LABEL = b"brokerlink/audit-anchor/v1"
# An anchor is ~300 bytes; anything far larger is not one (and is not read whole).
_MAX_SIZE = 4096
_FIELDS = frozenset({"format", "version", "seq", "hash", "made_at", "key_id", "mac"})


class AnchorError(ValueError):
    """Not an anchor: unreadable, malformed, or nothing to anchor. The message says
    why, never quoting the file's content."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed head: event ``seq`` had hash ``hash`` when the anchor was made."""

    seq: int
    hash: str
    made_at: datetime
    key_id: str
    mac: str

    def to_text(self) -> str:
        """The one-line JSON form (what ``brokerlink audit anchor`` prints)."""
        return json.dumps({"format": ANCHOR_FORMAT, "version": _VERSION, "seq": self.seq,
                           "hash": self.hash, "made_at": iso_utc(self.made_at),
                           "key_id": self.key_id, "mac": self.mac},
                          separators=(",", ":"))


def _anchor_key(audit_key: bytes) -> bytes:
    return hmac.new(audit_key, _KEY_LABEL, hashlib.sha256).digest()


def anchor_key_id(audit_key: bytes) -> str:
    """A short public name of the audit key (a MAC of a label; reveals nothing)."""
    return hmac.new(_anchor_key(audit_key), _ID_LABEL, hashlib.sha256).hexdigest()[:16]


def _mac(audit_key: bytes, seq: int, head_hash: str, made_at: datetime, key_id: str) -> str:
    message = _MAC_LABEL + "\x00".join(
        ("", str(seq), head_hash, iso_utc(made_at), key_id)).encode("ascii", "replace")
    return hmac.new(_anchor_key(audit_key), message, hashlib.sha256).hexdigest()


def sign_anchor(audit_key: bytes, seq: int, head_hash: str, made_at: datetime) -> Anchor:
    """The anchor of head (``seq``, ``head_hash``) at ``made_at`` (aware)."""
    key_id = anchor_key_id(audit_key)
    return Anchor(seq=seq, hash=head_hash, made_at=made_at.astimezone(UTC), key_id=key_id,
                  mac=_mac(audit_key, seq, head_hash, made_at, key_id))


def anchor_authentic(audit_key: bytes, anchor: Anchor) -> bool:
    """Whether ``anchor`` was signed under this audit key, unchanged."""
    expected = _mac(audit_key, anchor.seq, anchor.hash, anchor.made_at, anchor.key_id)
    return hmac.compare_digest(expected, anchor.mac)


def parse_anchor(data: bytes | str) -> Anchor:
    """The anchor in ``data`` (its JSON text). Does not check the MAC.

    Raises ``AnchorError`` if it is not UTF-8 JSON of the anchor format with every
    field well-formed (seq a positive integer, hashes 64 hex digits, an ISO time).
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > _MAX_SIZE:
        raise AnchorError("it is too large to be an anchor")
    try:
        fields = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AnchorError("it is not UTF-8 text") from exc
    except (ValueError, RecursionError) as exc:
        raise AnchorError("it is not JSON") from exc
    if not isinstance(fields, dict) or fields.get("format") != ANCHOR_FORMAT:
        raise AnchorError("it is not a brokerlink audit anchor")
    if fields.get("version") != _VERSION:
        raise AnchorError("it has an unknown anchor version")
    if set(fields) != _FIELDS:
        raise AnchorError("it has missing or extra fields")
    seq = fields["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise AnchorError("its seq is not a positive integer")
    for name in ("hash", "mac"):
        if hash_problem(fields[name], name) is not None:
            raise AnchorError(f"its {name} is not 64 lowercase hex digits")
    key_id = fields["key_id"]
    if not (isinstance(key_id, str) and len(key_id) == 16
            and all(c in "0123456789abcdef" for c in key_id)):
        raise AnchorError("its key_id is not 16 lowercase hex digits")
    made_at = fields["made_at"]
    try:
        moment = datetime.fromisoformat(made_at) if isinstance(made_at, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise AnchorError("its made_at is not an ISO 8601 time with a zone")
    return Anchor(seq=seq, hash=fields["hash"], made_at=moment.astimezone(UTC),
                  key_id=key_id, mac=fields["mac"])


def read_anchor_file(path: Path) -> Anchor:
    """The anchor stored at ``path``. Raises ``AnchorError`` if it cannot be read (the
    message names the path and why) or is not an anchor."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_SIZE + 1)
    except FileNotFoundError as exc:
        raise AnchorError(f"anchor file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise AnchorError(f"anchor file {path} is a directory") from exc
    except OSError as exc:
        raise AnchorError(f"anchor file {path} cannot be read "
                          f"({exc.strerror or type(exc).__name__})") from exc
    try:
        return parse_anchor(data)
    except AnchorError as exc:
        raise AnchorError(f"anchor file {path}: {exc}") from exc

"""The file mirror of the chain head, ``<home>/audit.checkpoint`` (mode 0600).

It lives outside the database, so deleting the newest events *and* rewinding the
checkpoint row is still caught, unless the attacker also controls this file. It is
rewritten after every committed append, only ever forwards: a lagging mirror
(another process or host appended since) is normal; one ahead of the log means
the tail was cut off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from brokerlink.paths import write_private_file

_VERSION = 1


@dataclass(frozen=True, slots=True)
class FileCheckpoint:
    """The mirrored head: seq, hash and the MAC binding them."""

    seq: int
    hash: str
    mac: str


class CheckpointFileError(ValueError):
    """The checkpoint file exists but is not a checkpoint (damaged or edited)."""


def read_checkpoint_file(path: Path) -> FileCheckpoint | None:
    """The mirrored checkpoint, or ``None`` if the file does not exist.

    Raises ``CheckpointFileError`` if it exists but cannot be parsed.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        if data.get("version") != _VERSION:
            raise CheckpointFileError(f"unknown checkpoint file version in {path}")
        return FileCheckpoint(seq=int(data["seq"]), hash=str(data["hash"]),
                              mac=str(data["mac"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointFileError(f"checkpoint file {path} is damaged") from exc


def advance_checkpoint_file(path: Path, checkpoint: FileCheckpoint) -> None:
    """Write ``checkpoint`` unless the file already records this seq or a later one.

    A damaged file is left alone as evidence for ``verify``. Raises ``OSError``.
    """
    try:
        current = read_checkpoint_file(path)
    except CheckpointFileError:
        return
    if current is not None and current.seq >= checkpoint.seq:
        return
    body = json.dumps({"version": _VERSION, "seq": checkpoint.seq, "hash": checkpoint.hash,
                       "mac": checkpoint.mac}, sort_keys=True)
    write_private_file(path, body.encode("utf-8") + b"\n")

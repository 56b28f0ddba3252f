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

from brokerlink.audit.rows import hash_problem
from brokerlink.paths import write_private_file

_VERSION = 1


@dataclass(frozen=True, slots=True)
class FileCheckpoint:
    """The mirrored head: seq, hash and the MAC binding them."""

    seq: int
    hash: str
    mac: str


class CheckpointFileError(ValueError):
    """The checkpoint file exists but is not a readable checkpoint (a directory, not
    readable, not UTF-8, not JSON, a field missing or malformed); the message says
    which, naming the path but never quoting the content."""


# A real checkpoint is ~200 bytes; reading a planted huge file must not exhaust memory.
_MAX_SIZE = 4096


def _hex64(value: object) -> str | None:
    problem = hash_problem(value, "x")
    return value if problem is None and isinstance(value, str) else None


def read_checkpoint_file(path: Path) -> FileCheckpoint | None:
    """The mirrored checkpoint, or ``None`` if nothing exists at ``path``.

    Raises ``CheckpointFileError`` if something exists but is not a checkpoint: a
    directory or other non-file, unreadable (permissions, I/O), over 4 KiB, not UTF-8,
    not JSON, an unknown version, a seq that is not a non-negative integer, or a hash
    or MAC that is not 64 lowercase hex digits.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_SIZE + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise CheckpointFileError(f"the checkpoint file {path} is a directory") from exc
    except PermissionError as exc:
        raise CheckpointFileError(f"the checkpoint file {path} cannot be read "
                                  "(permission denied)") from exc
    except OSError as exc:
        raise CheckpointFileError(f"the checkpoint file {path} cannot be read "
                                  f"({exc.strerror or type(exc).__name__})") from exc
    if len(raw) > _MAX_SIZE:
        raise CheckpointFileError(f"the checkpoint file {path} is too large to be one")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointFileError(f"the checkpoint file {path} is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise CheckpointFileError(f"the checkpoint file {path} is not JSON") from exc
    if not isinstance(data, dict):
        raise CheckpointFileError(f"the checkpoint file {path} is not a JSON object")
    if data.get("version") != _VERSION:
        raise CheckpointFileError(f"the checkpoint file {path} has an unknown version")
    seq = data.get("seq")
    # bool is an int; 3.7 must not silently become 3.
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise CheckpointFileError(f"the checkpoint file {path} has no valid seq")
    digest, mac = _hex64(data.get("hash")), _hex64(data.get("mac"))
    if digest is None or mac is None:
        which = "hash" if digest is None else "mac"
        raise CheckpointFileError(f"the checkpoint file {path} has a malformed {which} "
                                  "(not 64 hex digits)")
    return FileCheckpoint(seq=seq, hash=digest, mac=mac)


def advance_checkpoint_file(path: Path, checkpoint: FileCheckpoint) -> None:
    """Write ``checkpoint`` unless the file already records this seq or a later one.

    A damaged or unreadable file (or a directory in its place) is left alone as
    evidence for ``verify``. Raises ``OSError`` if writing fails.
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

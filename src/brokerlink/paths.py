"""Where brokerlink keeps its files: one private home directory per user.

The home is ``$BROKERLINK_HOME`` when set, else the platform's user data directory
for "brokerlink" (``~/.local/share/brokerlink`` on Linux). It holds the embedded
database, the audit checkpoint mirror and, in ``keys/``, the key file of the ``file``
key-encryption-key provider. Every directory is created with mode 0700 and every
file brokerlink writes there with mode 0600, because they describe brokerage accounts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

HOME_ENV = "BROKERLINK_HOME"
DATABASE_FILENAME = "brokerlink.db"
CHECKPOINT_FILENAME = "audit.checkpoint"
KEYS_DIRNAME = "keys"

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class PrivateDirectoryError(OSError):
    """A brokerlink directory (the home, its key directory, a database's directory)
    cannot be created or made private; the message names it and says why, in one line.

    An ``OSError``, so callers that handle file-system failures keep handling it."""


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it mode 0700.

    The mode is forced even on an existing directory: a home or key directory that
    others can list would leak which accounts exist. Raises ``PrivateDirectoryError``
    (an ``OSError``) if the directory cannot be created or its mode changed, for
    example when it, or a parent, is a file.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        os.chmod(path, PRIVATE_DIR_MODE)
    except OSError as exc:
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()),
                       None)
        reason = (f"{blocker} is a file, not a directory" if blocker is not None
                  else exc.strerror or type(exc).__name__)
        raise PrivateDirectoryError(
            f"cannot use {path} as a private brokerlink directory: {reason} (check "
            f"{HOME_ENV} or the configured path)") from exc
    return path


def brokerlink_home() -> Path:
    """The brokerlink home directory, created with mode 0700 if needed.

    ``$BROKERLINK_HOME`` wins (tests and multi-profile setups point it elsewhere);
    otherwise the platformdirs user data dir. Raises ``OSError`` if it cannot be made.
    """
    configured = os.environ.get(HOME_ENV, "").strip()
    home = Path(configured).expanduser() if configured else platformdirs.user_data_path(
        "brokerlink", appauthor=False)
    return ensure_private_dir(home)


def default_database_path() -> Path:
    """``<home>/brokerlink.db``, the embedded SQLite database."""
    return brokerlink_home() / DATABASE_FILENAME


def audit_checkpoint_path() -> Path:
    """``<home>/audit.checkpoint``, the file mirror of the audit chain's head."""
    return brokerlink_home() / CHECKPOINT_FILENAME


def keys_dir() -> Path:
    """``<home>/keys``, mode 0700, kept apart from the database file."""
    return ensure_private_dir(brokerlink_home() / KEYS_DIRNAME)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600, durably.

    Written to a temporary sibling created 0600 from the start (never world-readable,
    not even for an instant), fsynced, then renamed over the target, so a crash leaves
    either the old or the new content, never half of one. Raises ``OSError``.
    """
    # mkstemp: a unique name (concurrent writers never share a temp file), mode 0600.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

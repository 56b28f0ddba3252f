"""Key-encryption-key (KEK) providers: where the key that wraps every data key lives.

Four providers, chosen by ``$BROKERLINK_KEK_PROVIDER`` (``keyring``, ``env``,
``passphrase``, ``file``) or by default: ``env`` when ``$BROKERLINK_MASTER_KEY`` is
set, else ``keyring`` when the OS offers a secure backend, else ``file`` (headless
machines and CI have no keyring).

A provider creates key material for a new KEK id and later offers *candidates* for
an existing one; the vault accepts the candidate that opens the KEK's stored check
value, so a wrong passphrase or key is reported as such instead of as corruption.
No provider ever puts key bytes in the database, a log or an exception.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from argon2.low_level import Type, hash_secret_raw
from pydantic import SecretStr

from brokerlink.auth.secrets import reveal_bytes
from brokerlink.core.errors import BrokerError, Recovery
from brokerlink.paths import PRIVATE_FILE_MODE, keys_dir

KEK_BYTES = 32
PROVIDER_ENV = "BROKERLINK_KEK_PROVIDER"
MASTER_KEY_ENV = "BROKERLINK_MASTER_KEY"
PREVIOUS_MASTER_KEY_ENV = "BROKERLINK_MASTER_KEY_PREVIOUS"
PASSPHRASE_ENV = "BROKERLINK_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
NEW_PASSPHRASE_ENV = "BROKERLINK_NEW_PASSPHRASE"  # noqa: S105 - a variable name
KEYRING_SERVICE = "brokerlink"
MASTER_KEY_FILENAME = "master.key"
_KEY_FILE_NAME = re.compile(r"master(-[A-Za-z0-9_-]{1,64})?\.key")

# OWASP's argon2id minimum (2023): m=19 MiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19_456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
ARGON2_SALT_BYTES = 16

Strength = Literal["weak", "moderate", "strong"]
ProviderName = Literal["keyring", "env", "passphrase", "file"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("keyring", "env", "passphrase", "file")


class VaultError(BrokerError):
    """Root of vault and key errors: a secret could not be sealed, opened or protected."""

    recovery = Recovery.USER_ACTION


class KekUnavailableError(VaultError):
    """The key-encryption key cannot be obtained from its provider (missing, malformed)."""


class KeyReferenceError(VaultError):
    """A stored key reference names something other than this provider's own key: it is
    refused, and nothing is read or deleted."""


class InsecureKeyStoreError(VaultError):
    """The key store would expose the key: a plaintext keyring, a readable key file."""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What ``brokerlink vault status`` says about a provider."""

    name: str
    strength: Strength
    description: str
    advice: str


@dataclass(frozen=True, slots=True)
class NewKek:
    """Fresh key material and what the registry must remember to find it again."""

    material: bytes = field(repr=False)
    provider_ref: str | None = None
    salt: bytes | None = field(default=None, repr=False)


class KekProvider(ABC):
    """A place key-encryption keys come from."""

    name: ClassVar[ProviderName]

    @abstractmethod
    def info(self) -> ProviderInfo:
        """Name, strength and advice, for status output."""

    @abstractmethod
    def create(self, kek_id: str) -> NewKek:
        """Make (and, where the provider stores keys, persist) key material for ``kek_id``.

        Raises ``KekUnavailableError`` or ``InsecureKeyStoreError``.
        """

    @abstractmethod
    def candidates(self, kek_id: str, provider_ref: str | None,
                   salt: bytes | None) -> Iterator[bytes]:
        """Key material that may be the KEK ``kek_id``; the vault checks each.

        Raises ``KekUnavailableError`` or ``InsecureKeyStoreError`` when none can be had.
        """

    def destroy(self, kek_id: str, provider_ref: str | None) -> None:  # noqa: B027
        """Delete a retired KEK's stored material; a no-op where nothing is stored."""


def _decode_key(value: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), altchars=b"-_" if (
            "-" in value or "_" in value) else None, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KekUnavailableError(
            f"{source} is not valid base64; generate a key with: python -c "
            "\"import base64,os; print(base64.b64encode(os.urandom(32)).decode())\"") from exc
    if len(raw) != KEK_BYTES:
        raise KekUnavailableError(
            f"{source} must decode to exactly {KEK_BYTES} bytes (it decodes to {len(raw)}); "
            "use 32 random bytes in base64")
    return raw


class EnvKeyProvider(KekProvider):
    """The KEK is ``$BROKERLINK_MASTER_KEY`` (32 random bytes, base64).

    To rotate, put the new key in ``$BROKERLINK_MASTER_KEY`` and the old one in
    ``$BROKERLINK_MASTER_KEY_PREVIOUS`` until ``brokerlink vault rotate-key`` finishes.
    """

    name: ClassVar[ProviderName] = "env"

    def __init__(self, environ: Callable[[str], str | None] = os.environ.get) -> None:
        self._environ = environ

    def info(self) -> ProviderInfo:
        return ProviderInfo(
            "env", "moderate",
            f"key in the environment variable {MASTER_KEY_ENV}: as safe as the place it is "
            "set from (a secrets manager is fine; a shell profile is not)",
            "on a desktop prefer BROKERLINK_KEK_PROVIDER=keyring or passphrase")

    def create(self, kek_id: str) -> NewKek:
        value = self._environ(MASTER_KEY_ENV)
        if not value:
            raise KekUnavailableError(
                f"{MASTER_KEY_ENV} is not set; set it to 32 random bytes in base64")
        return NewKek(_decode_key(value, MASTER_KEY_ENV))

    def candidates(self, kek_id: str, provider_ref: str | None,
                   salt: bytes | None) -> Iterator[bytes]:
        found = False
        for variable in (MASTER_KEY_ENV, PREVIOUS_MASTER_KEY_ENV):
            value = self._environ(variable)
            if value:
                found = True
                yield _decode_key(value, variable)
        if not found:
            raise KekUnavailableError(
                f"{MASTER_KEY_ENV} is not set, and the vault's key comes from it; set it "
                "to the key this vault was created with")


class FileKeyProvider(KekProvider):
    """The KEK is a 32-byte file in ``<home>/keys`` (mode 0600, directory 0700).

    Created on first use; refused if group/world-readable or owned by someone else.
    Protects a copied or backed-up database, not a stolen home directory.
    """

    name: ClassVar[ProviderName] = "file"

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else keys_dir()

    def info(self) -> ProviderInfo:
        return ProviderInfo(
            "file", "weak",
            f"key file in {self.directory} (mode 0600), apart from the database: protects "
            "a copied database, not a stolen home directory",
            "use BROKERLINK_KEK_PROVIDER=keyring (OS credential store) or passphrase, "
            "then run `brokerlink vault rotate-key`")

    def create(self, kek_id: str) -> NewKek:
        directory = self.directory
        name = MASTER_KEY_FILENAME
        if (directory / name).exists():
            name = f"master-{kek_id}.key"
        path = directory / name
        material = os.urandom(KEK_BYTES)
        try:
            # O_EXCL: never overwrite a key that may still wrap data.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError as exc:
            raise KekUnavailableError(
                f"key file {path} already exists; refusing to overwrite a key") from exc
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            os.write(fd, material)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(directory)
        return NewKek(material, provider_ref=name)

    def _path(self, provider_ref: str | None) -> Path:
        """The key file a stored reference names, inside ``directory`` and nowhere else.

        A reference comes from the database, which another user of a shared PostgreSQL
        (or anyone who can write the SQLite file) may have planted, so it must be a plain
        file name of the form this provider creates. Raises ``KeyReferenceError`` for
        anything else (an absolute path, ``..``, a separator, a link out of the directory).
        """
        name = provider_ref or MASTER_KEY_FILENAME
        if not _KEY_FILE_NAME.fullmatch(name):
            raise KeyReferenceError(
                f"the vault's stored key reference {name[:80]!r} is not a key file name of "
                "this vault (master.key or master-<id>.key); refused. The vault_keys table "
                "may have been tampered with: check it before rotating keys")
        directory = self.directory
        path = directory / name
        if path.is_symlink() or (path.exists()
                                 and path.resolve().parent != directory.resolve()):
            raise KeyReferenceError(
                f"key file {path} is a link or lies outside {directory}; refused")
        return path

    def candidates(self, kek_id: str, provider_ref: str | None,
                   salt: bytes | None) -> Iterator[bytes]:
        path = self._path(provider_ref)
        try:
            info = path.stat()
        except FileNotFoundError as exc:
            raise KekUnavailableError(
                f"key file {path} is missing; restore it from backup (without it the "
                "secrets it protects cannot be opened)") from exc
        if info.st_mode & 0o077:
            raise InsecureKeyStoreError(
                f"key file {path} is accessible to group or others "
                f"(mode {stat.filemode(info.st_mode)}); run `chmod 600 {path}`")
        if info.st_uid != os.getuid():
            raise InsecureKeyStoreError(
                f"key file {path} belongs to another user; it must be owned by you")
        material = path.read_bytes()
        if len(material) != KEK_BYTES:
            raise KekUnavailableError(
                f"key file {path} is {len(material)} bytes, expected {KEK_BYTES}: damaged")
        yield material

    def destroy(self, kek_id: str, provider_ref: str | None) -> None:
        path = self._path(provider_ref)
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def derive_passphrase_key(passphrase: SecretStr, salt: bytes) -> bytes:
    """argon2id(passphrase, salt) with OWASP parameters, 32 bytes (~50 ms)."""
    return hash_secret_raw(
        secret=reveal_bytes(passphrase), salt=salt, time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM, hash_len=KEK_BYTES,
        type=Type.ID)


class PassphraseKeyProvider(KekProvider):
    """The KEK is argon2id(passphrase, random salt); only the salt is stored.

    The passphrase comes from the constructor, ``$BROKERLINK_PASSPHRASE`` or the
    ``prompt`` callable. A rotation may switch to ``new_passphrase`` (or
    ``$BROKERLINK_NEW_PASSPHRASE``); both are tried while it runs.
    """

    name: ClassVar[ProviderName] = "passphrase"

    def __init__(self, passphrase: SecretStr | None = None, *,
                 new_passphrase: SecretStr | None = None,
                 prompt: Callable[[], SecretStr] | None = None) -> None:
        self._passphrase = passphrase
        self._new_passphrase = new_passphrase
        self._prompt = prompt
        self._derived: dict[tuple[int, bytes], bytes] = {}

    def info(self) -> ProviderInfo:
        return ProviderInfo(
            "passphrase", "strong",
            f"key derived from your passphrase with argon2id (m={ARGON2_MEMORY_KIB} KiB, "
            f"t={ARGON2_TIME_COST}); only a salt is stored. As strong as the passphrase",
            "use a long random passphrase (5+ words); keep it in a password manager")

    def _current(self) -> SecretStr:
        if self._passphrase is None:
            from_env = os.environ.get(PASSPHRASE_ENV)
            if from_env:
                self._passphrase = SecretStr(from_env)
            elif self._prompt is not None:
                self._passphrase = self._prompt()
            else:
                raise KekUnavailableError(
                    f"the vault needs its passphrase: set {PASSPHRASE_ENV} or run interactively")
        return self._passphrase

    def _new(self) -> SecretStr | None:
        if self._new_passphrase is None and os.environ.get(NEW_PASSPHRASE_ENV):
            self._new_passphrase = SecretStr(os.environ[NEW_PASSPHRASE_ENV])
        return self._new_passphrase

    def _derive(self, which: int, passphrase: SecretStr, salt: bytes) -> bytes:
        # Cached: each derivation costs ~50 ms and 19 MiB on purpose.
        cache_key = (which, salt)
        if cache_key not in self._derived:
            self._derived[cache_key] = derive_passphrase_key(passphrase, salt)
        return self._derived[cache_key]

    def create(self, kek_id: str) -> NewKek:
        salt = os.urandom(ARGON2_SALT_BYTES)
        new = self._new()
        if new is not None:
            return NewKek(self._derive(1, new, salt), salt=salt)
        return NewKek(self._derive(0, self._current(), salt), salt=salt)

    def candidates(self, kek_id: str, provider_ref: str | None,
                   salt: bytes | None) -> Iterator[bytes]:
        if salt is None:
            raise KekUnavailableError(f"vault key {kek_id} has no stored salt: registry damaged")
        yield self._derive(0, self._current(), salt)
        new = self._new()
        if new is not None:
            yield self._derive(1, new, salt)


def is_secure_keyring(backend: Any) -> bool:
    """Whether ``backend`` keeps secrets encrypted by the OS (not fail/null/plaintext)."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        members = list(backend.backends)
        return bool(members) and all(is_secure_keyring(member) for member in members)
    kind = type(backend)
    if kind.__module__.startswith("keyrings.alt") and "plaintext" in kind.__name__.lower():
        return False
    if "plaintext" in kind.__name__.lower():
        return False
    try:
        return float(backend.priority) > 0
    except (AttributeError, TypeError, ValueError):
        return False


class KeyringKeyProvider(KekProvider):
    """The KEK lives in the OS credential store through ``keyring``.

    Refuses the fail, null and plaintext backends: a key stored in clear next to the
    data would protect nothing.
    """

    name: ClassVar[ProviderName] = "keyring"

    def __init__(self, backend: Any | None = None) -> None:
        self._backend = backend

    def _store(self) -> Any:
        import keyring

        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if not is_secure_keyring(backend):
            raise InsecureKeyStoreError(
                f"the keyring backend {type(backend).__module__}.{type(backend).__name__} "
                "does not store secrets securely (no OS keyring available); use "
                "BROKERLINK_KEK_PROVIDER=file, passphrase or env instead")
        return backend

    def info(self) -> ProviderInfo:
        try:
            backend = self._store()
            where = f"{type(backend).__name__}"
        except InsecureKeyStoreError:
            where = "unavailable"
        return ProviderInfo(
            "keyring", "strong",
            f"key in the OS credential store ({where}), unlocked with your login session",
            "already the strongest unattended option; keep your OS account locked")

    @staticmethod
    def _username(kek_id: str) -> str:
        return f"kek-{kek_id}"

    def create(self, kek_id: str) -> NewKek:
        from keyring.errors import KeyringError

        store = self._store()
        material = os.urandom(KEK_BYTES)
        try:
            store.set_password(KEYRING_SERVICE, self._username(kek_id),
                               base64.b64encode(material).decode())
        except KeyringError as exc:
            raise KekUnavailableError(
                f"the OS keyring refused to store the vault key: {type(exc).__name__}; "
                "unlock it or choose another BROKERLINK_KEK_PROVIDER") from exc
        return NewKek(material, provider_ref=self._username(kek_id))

    def candidates(self, kek_id: str, provider_ref: str | None,
                   salt: bytes | None) -> Iterator[bytes]:
        from keyring.errors import KeyringError

        store = self._store()
        username = provider_ref or self._username(kek_id)
        try:
            value = store.get_password(KEYRING_SERVICE, username)
        except KeyringError as exc:
            raise KekUnavailableError(
                f"the OS keyring could not be read: {type(exc).__name__}; unlock it") from exc
        if value is None:
            raise KekUnavailableError(
                f"the OS keyring has no entry {KEYRING_SERVICE}/{username}; the vault key is "
                "lost unless restored from a keyring backup")
        yield _decode_key(value, f"keyring entry {KEYRING_SERVICE}/{username}")

    def destroy(self, kek_id: str, provider_ref: str | None) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self._store().delete_password(KEYRING_SERVICE, provider_ref or self._username(kek_id))
        except PasswordDeleteError:
            return


def secure_keyring_available() -> bool:
    """Whether the default keyring backend is a secure one (never raises)."""
    try:
        import keyring

        return is_secure_keyring(keyring.get_keyring())
    except Exception:  # keyring discovery can fail in many ways; all mean "no"
        return False


def provider_by_name(name: str) -> KekProvider:
    """A provider with default settings for ``name``.

    Raises ``VaultError`` naming the accepted values for an unknown name.
    """
    normalized = name.strip().lower()
    if normalized == "env":
        return EnvKeyProvider()
    if normalized == "file":
        return FileKeyProvider()
    if normalized == "passphrase":
        return PassphraseKeyProvider()
    if normalized == "keyring":
        return KeyringKeyProvider()
    raise VaultError(
        f"unknown key provider {name!r} in {PROVIDER_ENV}; use one of: "
        + ", ".join(PROVIDER_NAMES))


def select_provider(name: str | None = None) -> KekProvider:
    """The provider for new keys: ``name``, else ``$BROKERLINK_KEK_PROVIDER``, else default.

    Default: ``env`` if ``$BROKERLINK_MASTER_KEY`` is set, else ``keyring`` if a secure
    backend exists, else ``file``. Raises ``VaultError`` for an unknown name.
    """
    chosen = name or os.environ.get(PROVIDER_ENV, "").strip()
    if chosen:
        return provider_by_name(chosen)
    if os.environ.get(MASTER_KEY_ENV):
        return EnvKeyProvider()
    if secure_keyring_available():
        return KeyringKeyProvider()
    return FileKeyProvider()

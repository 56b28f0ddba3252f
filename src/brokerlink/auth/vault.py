"""The vault: envelope encryption of every stored secret, and key rotation.

Each secret is sealed with AES-256-GCM under its own random 256-bit data key and a
fresh 96-bit nonce. The associated data binds the ciphertext to its (connection id,
field), so a ciphertext copied to another row or field fails to open. The data key
is itself wrapped with AES-256-GCM under the key-encryption key (KEK) from a
provider in ``brokerlink.auth.keys``; the wrap's associated data binds it to the
KEK id and the same (connection id, field). The database holds only ciphertext,
nonces, wrapped keys and the KEK id.

Rotation (``Vault.rotate``) re-wraps data keys under a new KEK, one row per
transaction; the old KEK stays usable until no row names it, so every secret opens
at every instant and a killed rotation resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from brokerlink.auth.keys import (
    KEK_BYTES,
    InsecureKeyStoreError,
    KekProvider,
    KekUnavailableError,
    ProviderInfo,
    VaultError,
    provider_by_name,
    select_provider,
)
from brokerlink.auth.secrets import reveal_bytes
from brokerlink.auth.vault_store import (
    PENDING_STATE_AD_PREFIX,
    PENDING_STATE_FIELD,
    CredentialRecord,
    KekRecord,
    KekState,
    PendingStateRecord,
    SealedSecret,
    StaleKekError,
    VaultStore,
    hash_state,
)
from brokerlink.core.values import utc_now

NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_KEY_BYTES = NONCE_BYTES + KEK_BYTES + _TAG_BYTES
_CHECK_LABEL = b"brokerlink/kek-check/v1"
ROTATE_DELAY_TEST_HOOK_ENV = "BROKERLINK_TEST_ROTATE_DELAY"
"""Test hook only: seconds to pause after each re-wrapped row, so a test can kill a
rotation midway. Never set it in production."""
_ROTATION_BATCH = 200

__all__ = [
    "DamagedColumn",
    "InsecureKeyStoreError",
    "KekMismatchError",
    "KekUnavailableError",
    "OpenedPendingState",
    "RotationReport",
    "SecretTamperedError",
    "UnknownKekError",
    "Vault",
    "VaultError",
    "VaultStatus",
]


class SecretTamperedError(VaultError):
    """A sealed secret failed authentication: modified, truncated or moved to another row,
    or a column of it holds something other than bytes (text, NULL, a number)."""


class DamagedColumn(bytes):
    """What a store hands over for a sealed column that holds no bytes (text, NULL, a
    number): empty bytes, so nothing can ever decrypt from it, marked with ``found``
    (what the column held, e.g. ``"text"``) so that ``Vault.open`` names the damage.
    Built by ``storage.sealed.column_bytes``; the damaged value itself is not kept."""

    found: str

    def __new__(cls, found: str) -> DamagedColumn:
        made = super().__new__(cls, b"")
        made.found = found
        return made

    def __repr__(self) -> str:
        return f"DamagedColumn({self.found!r})"


def _check_columns(sealed: SealedSecret, where: str) -> None:
    """Raise ``SecretTamperedError`` naming the column if one of ``sealed``'s byte
    columns is damaged (not bytes) or its key reference has the wrong type."""
    for name, value in (("ciphertext", sealed.ciphertext), ("nonce", sealed.nonce),
                        ("wrapped key", sealed.wrapped_key)):
        if isinstance(value, DamagedColumn) or not isinstance(value, bytes):
            found = value.found if isinstance(value, DamagedColumn) else type(value).__name__
            raise SecretTamperedError(
                f"{where}: its {name} holds {found} instead of bytes; the row was altered")
    if not isinstance(sealed.kek_id, str) or not sealed.kek_id:
        raise SecretTamperedError(f"{where}: its key id is missing or not text; the row was "
                                  "altered")


class UnknownKekError(VaultError):
    """A sealed secret names a KEK the registry does not have (or whose key was destroyed)."""


class KekMismatchError(VaultError):
    """The provider's key is not the one this vault's KEK was made with (wrong passphrase?)."""


@dataclass(frozen=True, slots=True)
class OpenedPendingState:
    """A consumed OAuth pending state, with its code verifier opened."""

    broker: str
    redirect_uri: str
    code_verifier: SecretStr
    created_at: datetime
    expires_at: datetime
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What ``Vault.rotate`` did."""

    to_kek_id: str
    from_kek_ids: tuple[str, ...]
    rewrapped: int
    resumed: bool


@dataclass(frozen=True, slots=True)
class VaultStatus:
    """What ``brokerlink vault status`` shows."""

    selected_provider: ProviderInfo
    active_kek: KekRecord
    active_provider: ProviderInfo
    keks: tuple[KekRecord, ...]
    rows_by_kek: dict[str, int] = field(default_factory=dict)

    @property
    def rotation_in_progress(self) -> bool:
        return any(k.state is KekState.RETIRING for k in self.keks)


def _length_prefixed(*parts: str) -> bytes:
    # Length prefixes make the encoding injective: ("a:b", "c") never equals ("a", "b:c").
    out = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def _data_ad(connection_id: str, field_name: str) -> bytes:
    return b"brokerlink/secret/v1" + _length_prefixed(connection_id, field_name)


def _wrap_ad(kek_id: str, connection_id: str, field_name: str) -> bytes:
    return b"brokerlink/data-key/v1" + _length_prefixed(kek_id, connection_id, field_name)


def _check_value(material: bytes, kek_id: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(material).encrypt(nonce, _CHECK_LABEL, kek_id.encode())


def _matches_check(material: bytes, record: KekRecord) -> bool:
    blob = record.check_value
    try:
        return AESGCM(material).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                        record.kek_id.encode()) == _CHECK_LABEL
    except InvalidTag:
        return False


class Vault:
    """Seals and opens secrets; stores them through a ``VaultStore``.

    Obtain with ``await Vault.load(store)`` (``brokerlink.bootstrap.load_vault`` wires
    the database store). ``seal``/``open`` are pure crypto (no I/O); the ``async``
    helpers read and write the store.
    """

    def __init__(self, store: VaultStore, provider: KekProvider,
                 providers: Callable[[str], KekProvider]) -> None:
        """Use ``Vault.load``; this constructor does not read the key registry."""
        self._store = store
        self._provider = provider
        self._providers = providers
        self._records: dict[str, KekRecord] = {}
        self._materials: dict[str, bytes] = {}
        self._active_id: str | None = None
        self._credentials = store.credentials
        self._pending = store.pending_states
        self._registry = store.keys

    def __repr__(self) -> str:
        return f"Vault(provider={self._provider.name!r}, active_kek={self._active_id!r})"

    @classmethod
    async def load(cls, store: VaultStore, provider: KekProvider | None = None, *,
                   providers: Callable[[str], KekProvider] | None = None) -> Vault:
        """Open the vault kept in ``store``, creating its first KEK if it has none.

        ``provider`` (default ``select_provider()``) makes new KEKs; existing KEKs are
        read through the provider named in their registry row (``providers`` maps a
        name to a provider; by default the same one when names match). Raises
        ``KekUnavailableError``, ``InsecureKeyStoreError`` or ``KekMismatchError``
        when the active KEK cannot be obtained.
        """
        chosen = provider or select_provider()

        def by_name(name: str) -> KekProvider:
            if name == chosen.name:
                return chosen
            return providers(name) if providers is not None else provider_by_name(name)

        vault = cls(store, chosen, by_name)
        await vault.reload()
        if vault._active_id is None:
            await vault._register_new_kek()
        vault._material(vault.active_kek.kek_id)
        return vault

    @property
    def provider(self) -> KekProvider:
        """The provider new KEKs come from."""
        return self._provider

    @property
    def active_kek(self) -> KekRecord:
        """The registry row of the KEK new secrets are wrapped under."""
        if self._active_id is None:
            raise VaultError("the vault has no active key; open it with Vault.load")
        return self._records[self._active_id]

    async def reload(self) -> None:
        """Re-read the KEK registry (another process may have rotated)."""
        records = await self._registry.all()
        self._records = {r.kek_id: r for r in records}
        active = [r for r in records if r.state is KekState.ACTIVE]
        self._active_id = active[-1].kek_id if active else None

    # --- crypto ---------------------------------------------------------------------

    def seal(self, connection_id: str, field_name: str, secret: SecretStr) -> SealedSecret:
        """Encrypt ``secret`` for (connection id, field) under a fresh data key.

        Raises ``KekUnavailableError``/``KekMismatchError`` if the active KEK is unavailable.
        """
        kek = self.active_kek
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(
            nonce, reveal_bytes(secret), _data_ad(connection_id, field_name))
        wrapped = self._wrap(data_key, kek, connection_id, field_name)
        return SealedSecret(ciphertext=ciphertext, nonce=nonce, wrapped_key=wrapped,
                            kek_id=kek.kek_id, kek_version=kek.version)

    def open(self, sealed: SealedSecret, connection_id: str, field_name: str) -> SecretStr:
        """Decrypt ``sealed``, which must have been sealed for (connection id, field).

        Raises ``SecretTamperedError`` (naming the connection and field) if any byte of
        ciphertext, nonce or wrapped key changed, it was truncated, a column holds no bytes
        (text, NULL: a ``DamagedColumn``), or it belongs to another row or field;
        ``UnknownKekError`` if its KEK is not registered; ``KekUnavailableError`` or
        ``KekMismatchError`` if the KEK's key cannot be had.
        """
        where = f"secret {connection_id}/{field_name}"
        data_key = self._unwrap(sealed, connection_id, field_name)
        if len(sealed.nonce) != NONCE_BYTES:
            raise SecretTamperedError(f"{where}: nonce has the wrong length; the row was altered")
        try:
            plaintext = AESGCM(data_key).decrypt(
                sealed.nonce, sealed.ciphertext, _data_ad(connection_id, field_name))
        except InvalidTag as exc:
            raise SecretTamperedError(
                f"{where} failed authentication: its ciphertext or nonce was modified or "
                "truncated, or it was copied from another connection or field") from exc
        return SecretStr(plaintext.decode("utf-8"))

    def rewrap(self, sealed: SealedSecret, connection_id: str, field_name: str) -> SealedSecret:
        """The same ciphertext with its data key wrapped under the active KEK.

        Raises as ``open`` does; the secret itself is never decrypted.
        """
        data_key = self._unwrap(sealed, connection_id, field_name)
        kek = self.active_kek
        return SealedSecret(ciphertext=sealed.ciphertext, nonce=sealed.nonce,
                            wrapped_key=self._wrap(data_key, kek, connection_id, field_name),
                            kek_id=kek.kek_id, kek_version=kek.version)

    def _wrap(self, data_key: bytes, kek: KekRecord, connection_id: str,
              field_name: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._material(kek.kek_id)).encrypt(
            nonce, data_key, _wrap_ad(kek.kek_id, connection_id, field_name))

    def _unwrap(self, sealed: SealedSecret, connection_id: str, field_name: str) -> bytes:
        # Every open and rewrap starts here: damaged columns are refused before any use.
        where = f"secret {connection_id}/{field_name}"
        _check_columns(sealed, where)
        material = self._material(sealed.kek_id)
        blob = sealed.wrapped_key
        if len(blob) != _WRAPPED_KEY_BYTES:
            raise SecretTamperedError(
                f"{where}: its wrapped data key has the wrong length; the row was altered")
        try:
            return AESGCM(material).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                            _wrap_ad(sealed.kek_id, connection_id, field_name))
        except InvalidTag as exc:
            raise SecretTamperedError(
                f"{where}: its wrapped data key failed authentication; it was modified or "
                "copied from another connection or field") from exc

    def _material(self, kek_id: str) -> bytes:
        cached = self._materials.get(kek_id)
        if cached is not None:
            return cached
        record = self._records.get(kek_id)
        if record is None or record.destroyed_at is not None:
            raise UnknownKekError(
                f"vault key {kek_id} is not registered or was destroyed; the secret cannot "
                "be opened (restore the database and key from the same backup)")
        provider = self._providers(record.provider)
        for candidate in provider.candidates(record.kek_id, record.provider_ref, record.salt):
            if _matches_check(candidate, record):
                self._materials[kek_id] = candidate
                return candidate
        raise KekMismatchError(
            f"the {record.provider} key provider gave a key that does not match vault key "
            f"{kek_id} (version {record.version}); supply the key or passphrase this vault "
            "was created with")

    async def _register_new_kek(self) -> KekRecord:
        kek_id = uuid.uuid4().hex
        new = self._provider.create(kek_id)
        for existing in self._records.values():
            if existing.state is not KekState.RETIRED and _matches_check(new.material, existing):
                raise VaultError(
                    f"the {self._provider.name} provider returned the key already used by "
                    f"vault key {existing.kek_id}; for env keys set a new "
                    "BROKERLINK_MASTER_KEY and move the old one to "
                    "BROKERLINK_MASTER_KEY_PREVIOUS, then retry")
        record = KekRecord(
            kek_id=kek_id, version=await self._registry.next_version(),
            provider=self._provider.name, provider_ref=new.provider_ref, salt=new.salt,
            check_value=_check_value(new.material, kek_id), state=KekState.ACTIVE,
            created_at=utc_now())
        if not await self._registry.activate(record):
            # Another process registered first: use its key, drop ours.
            self._provider.destroy(kek_id, new.provider_ref)
        else:
            self._materials[kek_id] = new.material
        await self.reload()
        return self.active_kek

    # --- storage helpers ------------------------------------------------------------

    async def put_secret(self, connection_id: str, field_name: str, secret: SecretStr) -> None:
        """Seal and store ``secret`` as (connection id, field), replacing any old value."""
        await self.put_secrets(connection_id, {field_name: secret})

    async def put_secrets(self, connection_id: str, secrets: dict[str, SecretStr]) -> None:
        """Seal and store several fields of one connection in a single transaction."""
        for attempt in range(2):
            now = utc_now()
            records = [CredentialRecord(connection_id, name, self.seal(connection_id, name, value),
                                        created_at=now) for name, value in secrets.items()]
            try:
                await self._credentials.put_many(records)
                return
            except StaleKekError:
                # A rotation began since we loaded: seal again under the new key.
                if attempt:
                    raise
                await self.reload()

    async def get_secret(self, connection_id: str, field_name: str) -> SecretStr | None:
        """The opened secret (connection id, field), or ``None`` if none is stored.

        Raises as ``open`` does when the stored value is damaged.
        """
        record = await self._credentials.get(connection_id, field_name)
        if record is None:
            return None
        if record.sealed.kek_id not in self._records:
            await self.reload()
        return self.open(record.sealed, connection_id, field_name)

    async def delete_secret(self, connection_id: str, field_name: str) -> bool:
        """Remove one stored field; returns whether it existed."""
        return await self._credentials.delete(connection_id, field_name)

    async def delete_connection_secrets(self, connection_id: str) -> int:
        """Remove every stored field of a connection; returns how many."""
        return await self._credentials.delete_connection(connection_id)

    async def system_key(self, owner: str, field_name: str, *, nbytes: int = 32) -> bytes:
        """A random key kept sealed in the vault under a reserved id (e.g. ``"__audit__"``).

        Created on first use (``nbytes`` random bytes); concurrent first uses agree on
        one key. The caller must not log or persist the returned bytes.
        """
        existing = await self.get_secret(owner, field_name)
        if existing is None:
            fresh = SecretStr(base64.b64encode(os.urandom(nbytes)).decode())
            for attempt in range(2):
                record = CredentialRecord(owner, field_name,
                                          self.seal(owner, field_name, fresh),
                                          created_at=utc_now())
                try:
                    await self._credentials.insert_if_absent(record)
                    break
                except StaleKekError:
                    if attempt:
                        raise
                    await self.reload()
            existing = await self.get_secret(owner, field_name)
            if existing is None:
                raise VaultError(f"could not create the {owner}/{field_name} key")
        return base64.b64decode(reveal_bytes(existing))

    async def put_pending_state(self, *, state: SecretStr, broker: str, redirect_uri: str,
                                code_verifier: SecretStr, expires_at: datetime,
                                connection_id: str | None = None) -> str:
        """Store an OAuth authorization in flight; returns the state's hash.

        Only ``hash_state(state)`` is stored; the PKCE verifier is sealed, bound to it.
        Raises the store's error (``StorageError`` for the database) if the state is
        already pending.
        """
        state_hash = hash_state(state)
        for attempt in range(2):
            sealed = self.seal(f"{PENDING_STATE_AD_PREFIX}{state_hash}", PENDING_STATE_FIELD,
                               code_verifier)
            record = PendingStateRecord(
                state_hash=state_hash, broker=broker, redirect_uri=redirect_uri,
                code_verifier=sealed, created_at=utc_now(), expires_at=expires_at,
                connection_id=connection_id)
            try:
                await self._pending.add(record)
                break
            except StaleKekError:
                if attempt:
                    raise
                await self.reload()
        return state_hash

    async def pending_state(self, state: SecretStr) -> PendingStateRecord | None:
        """The stored record of ``state`` whatever its status (consumed, expired), without
        changing it, or ``None``: to say why ``take_pending_state`` refused it."""
        return await self._pending.get(hash_state(state))

    async def take_pending_state(self, state: SecretStr, *,
                                 now: datetime | None = None) -> OpenedPendingState | None:
        """Consume the pending state (single use) and open its verifier.

        Returns ``None`` for an unknown, expired or already consumed state: the OAuth
        callback must then be refused. Raises as ``open`` does if the row was altered.
        """
        record = await self._pending.consume(hash_state(state), now or utc_now())
        if record is None:
            return None
        if record.code_verifier.kek_id not in self._records:
            await self.reload()
        verifier = self.open(record.code_verifier,
                             f"{PENDING_STATE_AD_PREFIX}{record.state_hash}", PENDING_STATE_FIELD)
        return OpenedPendingState(
            broker=record.broker, redirect_uri=record.redirect_uri, code_verifier=verifier,
            created_at=record.created_at, expires_at=record.expires_at,
            connection_id=record.connection_id)

    # --- status and rotation --------------------------------------------------------

    async def status(self) -> VaultStatus:
        """The selected provider, the active KEK and how many sealed rows each KEK wraps."""
        await self.reload()
        counts: dict[str, int] = {}
        for table in self._store.sealed_tables():
            for kek_id, count in (await table.count_by_kek()).items():
                counts[kek_id] = counts.get(kek_id, 0) + count
        active = self.active_kek
        return VaultStatus(
            selected_provider=self._provider.info(), active_kek=active,
            active_provider=self._providers(active.provider).info(),
            keks=tuple(self._records.values()), rows_by_kek=counts)

    async def rotate(self, *, on_progress: Callable[[int, int], None] | None = None
                     ) -> RotationReport:
        """Re-wrap every data key under a new KEK from the selected provider; resumable.

        If a rotation was interrupted (a KEK is still ``retiring``), it is resumed with
        the KEK it created instead of starting another. Steps, each durable before the
        next: new KEK persisted by its provider; registered active (old -> retiring)
        in one transaction; each row re-wrapped in its own transaction; old KEKs
        marked retired once no row names them; their material destroyed last.
        ``on_progress(done, total)`` is called after each row. Raises ``VaultError``
        subclasses if a key is unavailable or a row fails authentication.
        """
        await self.reload()
        retiring = [r for r in self._records.values() if r.state is KekState.RETIRING]
        resumed = bool(retiring or self._undestroyed_retired())
        if not resumed:
            self._material(self.active_kek.kek_id)  # the old key must open before we move
            await self._register_new_kek()
            retiring = [r for r in self._records.values() if r.state is KekState.RETIRING]
        from_ids = [r.kek_id for r in retiring]
        for kek_id in from_ids:
            self._material(kek_id)  # fail now, before touching a row, if a key is missing
        rewrapped = await self._sweep(from_ids, on_progress)
        await self._registry.retire(from_ids)
        # A writer that sealed under an old key just before it was retired committed
        # before the retire (it held the registry row); catch its row now.
        rewrapped += await self._sweep(from_ids, on_progress)
        await self._destroy_retired()
        await self.reload()
        return RotationReport(to_kek_id=self.active_kek.kek_id, from_kek_ids=tuple(from_ids),
                              rewrapped=rewrapped, resumed=resumed)

    def _undestroyed_retired(self) -> list[KekRecord]:
        return [r for r in self._records.values()
                if r.state is KekState.RETIRED and r.destroyed_at is None]

    async def _sweep(self, from_ids: Sequence[str],
                     on_progress: Callable[[int, int], None] | None) -> int:
        if not from_ids:
            return 0
        delay = float(os.environ.get(ROTATE_DELAY_TEST_HOOK_ENV, "0") or 0)
        tables = self._store.sealed_tables()
        total = 0
        for table in tables:
            counts = await table.count_by_kek()
            total += sum(counts.get(kek_id, 0) for kek_id in from_ids)
        done = 0
        for table in tables:
            while batch := await table.locations_under(from_ids, _ROTATION_BATCH):
                for location in batch:
                    if await table.rewrap(location, from_ids, self.rewrap):
                        done += 1
                    if on_progress is not None:
                        on_progress(done, total)
                    if delay:
                        await asyncio.sleep(delay)
        return done

    async def _destroy_retired(self) -> None:
        await self.reload()
        for record in self._undestroyed_retired():
            self._providers(record.provider).destroy(record.kek_id, record.provider_ref)
            await self._registry.mark_destroyed(record.kek_id)
            self._materials.pop(record.kek_id, None)

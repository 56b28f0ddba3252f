"""``SqlTokenStore``: OAuth tokens in the brokerlink database, sealed by the vault.

Layout (no schema of its own): the tokens are vault-sealed rows of ``credentials`` under
the connection's id, fields ``access_token``, ``refresh_token`` and ``oauth_token_meta``
(issue/expiry times, scope; sealed too so the three always travel together and open
together). The ``connections`` row carries what may be shown without opening anything:
``access_token_expires_at``, ``reauth_due_at``, ``status`` (``reauth_required``),
``last_refresh_at`` and the refresh counters.

``refresh_lock`` is one database transaction that first takes the connection's lock:
``SELECT ... FOR UPDATE`` of its ``connections`` row on PostgreSQL, ``BEGIN IMMEDIATE``
(the database write lock) on SQLite. Everything the refresh writes (rotated refresh
token, new access token, counters, status) commits in that same transaction, so another
process either sees the old tokens with the lock still held, or the new ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from brokerlink.auth.tokens import StoredTokens, TokenSet
from brokerlink.auth.vault import UnknownKekError, Vault
from brokerlink.core.values import utc_now
from brokerlink.storage.connections import ConnectionNotFoundError
from brokerlink.storage.engine import Database
from brokerlink.storage.records import ConnectionStatus, SealedSecret
from brokerlink.storage.sealed import sealed_from_columns
from brokerlink.storage.tables import connections, credentials
from brokerlink.storage.vault_keys import StaleKekError, ensure_active_keks

__all__ = ["ACCESS_TOKEN_FIELD", "META_FIELD", "REFRESH_TOKEN_FIELD", "SqlTokenStore"]

ACCESS_TOKEN_FIELD = "access_token"  # noqa: S105 - a field name, not a secret
REFRESH_TOKEN_FIELD = "refresh_token"  # noqa: S105 - a field name
META_FIELD = "oauth_token_meta"
_FIELDS = (ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD, META_FIELD)


class SqlTokenStore:
    """``TokenStore`` on SQLite or PostgreSQL through ``Database`` and ``Vault``.

    The connection must exist in ``connections`` (``ConnectionRepository.add``); every
    method raises ``ConnectionNotFoundError`` otherwise, and vault errors
    (``SecretTamperedError``...) if a sealed row was altered.
    """

    def __init__(self, database: Database, vault: Vault) -> None:
        self._db = database
        self._vault = vault

    def __repr__(self) -> str:
        return f"SqlTokenStore(dialect={self._db.dialect!r})"

    async def load(self, connection_id: str) -> StoredTokens:
        """The stored tokens, read in one transaction (never half of a refresh)."""
        async with self._db.transaction() as conn:
            return await self._read(conn, connection_id)

    async def save(self, connection_id: str, tokens: TokenSet) -> None:
        """Store a new sign-in's tokens and mark the connection connected."""
        async with self._db.transaction(write_lock=True) as conn:
            await self._lock_row(conn, connection_id)
            await self._write_tokens(conn, connection_id, tokens)
            await conn.execute(
                update(connections).where(connections.c.id == connection_id).values(
                    status=ConnectionStatus.CONNECTED.value, updated_at=utc_now(),
                    access_token_expires_at=tokens.expires_at,
                    reauth_due_at=StoredTokens(tokens).reauth_due_at))

    @asynccontextmanager
    async def refresh_lock(self, connection_id: str) -> AsyncIterator[_SqlRefreshSession]:
        """The connection's tokens, locked across processes for one refresh."""
        async with self._db.transaction(write_lock=True) as conn:
            await self._lock_row(conn, connection_id)
            yield _SqlRefreshSession(self, conn, connection_id)

    # --- shared by the session --------------------------------------------------------

    async def _lock_row(self, conn: AsyncConnection, connection_id: str) -> None:
        query = select(connections.c.id).where(connections.c.id == connection_id)
        if not self._db.is_sqlite:
            # SQLite needs no row lock: BEGIN IMMEDIATE already holds the write lock.
            query = query.with_for_update()
        if (await conn.execute(query)).first() is None:
            raise ConnectionNotFoundError(
                f"no stored connection {connection_id!r}; add it before saving tokens",
                connection_id=connection_id)

    async def _read(self, conn: AsyncConnection, connection_id: str) -> StoredTokens:
        row = (await conn.execute(
            select(connections.c.status, connections.c.refresh_attempts,
                   connections.c.refresh_successes)
            .where(connections.c.id == connection_id))).first()
        if row is None:
            raise ConnectionNotFoundError(
                f"no stored connection {connection_id!r}", connection_id=connection_id)
        sealed_rows = (await conn.execute(
            select(credentials).where(and_(credentials.c.connection_id == connection_id,
                                           credentials.c.field.in_(_FIELDS))))).mappings().all()
        sealed = {r["field"]: sealed_from_columns(
            r["ciphertext"], r["nonce"], r["wrapped_key"], r["kek_id"], r["kek_version"])
            for r in sealed_rows}
        tokens = await self._open_tokens(connection_id, sealed)
        return StoredTokens(
            tokens=tokens,
            reauth_required=row.status == ConnectionStatus.REAUTH_REQUIRED.value,
            refresh_attempts=int(row.refresh_attempts),
            refresh_successes=int(row.refresh_successes))

    async def _open_tokens(self, connection_id: str,
                           sealed: Mapping[str, SealedSecret]) -> TokenSet | None:
        if ACCESS_TOKEN_FIELD not in sealed or META_FIELD not in sealed:
            return None
        try:
            opened = {name: self._vault.open(value, connection_id, name)
                      for name, value in sealed.items()}
        except UnknownKekError:
            # Sealed under a key registered after we loaded (another process rotated).
            await self._vault.reload()
            opened = {name: self._vault.open(value, connection_id, name)
                      for name, value in sealed.items()}
        meta = json.loads(opened[META_FIELD].get_secret_value())
        return TokenSet(
            access_token=opened[ACCESS_TOKEN_FIELD],
            refresh_token=opened.get(REFRESH_TOKEN_FIELD),
            issued_at=_parse_time(meta["issued_at"]) or utc_now(),
            expires_at=_parse_time(meta.get("expires_at")),
            refresh_expires_at=_parse_time(meta.get("refresh_expires_at")),
            scope=meta.get("scope"),
            token_type=meta.get("token_type") or "Bearer")

    async def _write_tokens(self, conn: AsyncConnection, connection_id: str,
                            tokens: TokenSet) -> None:
        meta = SecretStr(json.dumps({
            "v": 1,
            "issued_at": tokens.issued_at.isoformat(),
            "expires_at": _format_time(tokens.expires_at),
            "refresh_expires_at": _format_time(tokens.refresh_expires_at),
            "scope": tokens.scope,
            "token_type": tokens.token_type,
        }, sort_keys=True))
        values = {ACCESS_TOKEN_FIELD: tokens.access_token, META_FIELD: meta}
        if tokens.refresh_token is not None:
            values[REFRESH_TOKEN_FIELD] = tokens.refresh_token
        for attempt in range(2):
            sealed = {name: self._vault.seal(connection_id, name, secret)
                      for name, secret in values.items()}
            try:
                # Checked in this transaction, so a key rotation cannot miss these rows.
                await ensure_active_keks(conn, self._db, {s.kek_id for s in sealed.values()})
                break
            except StaleKekError:
                if attempt:
                    raise
                await self._vault.reload()
        now = utc_now()
        for name, value in sealed.items():
            await conn.execute(self._upsert({
                "connection_id": connection_id, "field": name,
                "ciphertext": value.ciphertext, "nonce": value.nonce,
                "wrapped_key": value.wrapped_key, "kek_id": value.kek_id,
                "kek_version": value.kek_version, "created_at": now, "rotated_at": None}))
        if tokens.refresh_token is None:
            await conn.execute(delete(credentials).where(and_(
                credentials.c.connection_id == connection_id,
                credentials.c.field == REFRESH_TOKEN_FIELD)))

    def _upsert(self, values: dict[str, Any]) -> Any:
        dialect_insert = sqlite.insert if self._db.is_sqlite else postgresql.insert
        statement = dialect_insert(credentials).values(**values)
        return statement.on_conflict_do_update(
            index_elements=[credentials.c.connection_id, credentials.c.field],
            set_={name: statement.excluded[name] for name in values
                  if name not in ("connection_id", "field")})


class _SqlRefreshSession:
    """``RefreshSession`` bound to the transaction ``SqlTokenStore.refresh_lock`` holds."""

    def __init__(self, store: SqlTokenStore, conn: AsyncConnection, connection_id: str) -> None:
        self._store = store
        self._conn = conn
        self._id = connection_id

    async def current(self) -> StoredTokens:
        return await self._store._read(self._conn, self._id)

    async def store_refreshed(self, tokens: TokenSet) -> None:
        await self._store._write_tokens(self._conn, self._id, tokens)
        now = utc_now()
        await self._conn.execute(update(connections).where(connections.c.id == self._id).values(
            access_token_expires_at=tokens.expires_at,
            reauth_due_at=StoredTokens(tokens).reauth_due_at,
            last_refresh_at=now, updated_at=now,
            refresh_attempts=connections.c.refresh_attempts + 1,
            refresh_successes=connections.c.refresh_successes + 1))

    async def record_failure(self, *, reauth_required: bool) -> None:
        now = utc_now()
        values: dict[str, Any] = {
            "last_refresh_at": now, "updated_at": now,
            "refresh_attempts": connections.c.refresh_attempts + 1}
        if reauth_required:
            values["status"] = ConnectionStatus.REAUTH_REQUIRED.value
        await self._conn.execute(
            update(connections).where(connections.c.id == self._id).values(**values))

    async def mark_reauth_required(self) -> None:
        await self._conn.execute(update(connections).where(connections.c.id == self._id).values(
            status=ConnectionStatus.REAUTH_REQUIRED.value, updated_at=utc_now()))


def _format_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None

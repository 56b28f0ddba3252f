"""Stored broker connections: sign in, test, seal, audit, reopen, remove.

A connection is tested against the broker before anything is saved; its secrets go
only to the vault (sealed per connection and field); every step lands in the audit
log. Reopening an OAuth connection wires a ``TokenManager`` over the database token
store, so access tokens refresh ahead of expiry, one refresh at a time across
processes. The stores it keeps connections, tokens and pending sign-ins in are
given to it (``bootstrap`` picks them), so nothing here names a storage class. A broker
that signs in with no credentials (``CredentialKind.NONE``) stores
its settings as the connection's ``base_url`` (its spec's ``connection_url``) and no
secrets; if it keeps state of its own (``stores_state``), that state is in the database,
continued by every process that opens the connection. Every broker fact (OAuth
endpoints, credential kinds) comes from the broker's ``BrokerSpec``. If saving fails
halfway, what was written is removed again: a connection is either whole or absent.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from pydantic import SecretStr

from brokerlink.adapters._shared import AuditSink, BearerToken, CredentialSource
from brokerlink.adapters._shared.spec import BrokerSettings, CredentialKind
from brokerlink.adapters.registry import resolve
from brokerlink.audit.log import AuditLog
from brokerlink.audit.sink import AuditLogSink
from brokerlink.auth.loopback import sign_in_via_loopback
from brokerlink.auth.oauth import OAuthClient, PendingStateStore
from brokerlink.auth.oauth_config import OAuthClientCredentials, oauth_config_for
from brokerlink.auth.oauth_errors import RefreshTokenRejectedError
from brokerlink.auth.tokens import Clock, TokenManager, TokenSet, TokenStore
from brokerlink.auth.vault import Vault
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import BrokerError, NotSupportedError
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import BrokerAccount
from brokerlink.core.values import utc_now
from brokerlink.manager.connectors import BrokerStateStores, connector_for
from brokerlink.storage.connections import ConnectionNotFoundError
from brokerlink.storage.engine import Database
from brokerlink.storage.records import (
    ConnectionRecord,
    ConnectionStatus,
    check_actor,
    check_base_url,
    check_label,
)

API_KEY = "api_key"
API_SECRET = "api_secret"  # noqa: S105  (a field name)
CLIENT_ID = "oauth_client_id"
CLIENT_SECRET = "oauth_client_secret"  # noqa: S105  (a field name)

UrlOpener = Callable[[str], Awaitable[object] | object]


class ConnectionStore(Protocol):
    """Where connection records are kept (``storage.connections.ConnectionRepository``
    over the database). Each method is one transaction; ``add`` raises the store's
    error for an id already stored, ``delete`` also removes any state a broker stored
    for the connection and says whether the record existed."""

    async def add(self, record: ConnectionRecord) -> ConnectionRecord: ...

    async def get(self, connection_id: str) -> ConnectionRecord | None: ...

    async def delete(self, connection_id: str) -> bool: ...

    async def list(self) -> list[ConnectionRecord]: ...


class ConnectionTestError(BrokerError):
    """The broker refused the new connection's credentials; nothing was saved."""


@dataclass(frozen=True, slots=True)
class OpenedConnection:
    """A live broker for a stored connection, and its token manager if it uses OAuth."""

    record: ConnectionRecord
    broker: BrokerInterface
    tokens: AuditedTokens | None


class ConnectionService:
    """Adds, lists, opens and removes stored connections for one actor (``cli:<user>``,
    ``service``...), which every audit event names. ``clock`` decides when tokens are
    due for refresh (injectable for tests). A label, base URL or actor out of bounds
    (``storage.records.check_*``) is refused with ``InvalidNameError`` before any sign-in
    or write.

    ``connections`` keeps the records, ``tokens`` the OAuth tokens (sealed by ``vault``),
    ``pending_states`` the sign-ins under way, ``broker_states`` the state of brokers
    that keep their own; all four are over ``database`` (which ``aclose`` closes).
    ``bootstrap.connection_service`` builds one with the database stores.
    """

    def __init__(self, database: Database, vault: Vault, audit: AuditLog, *,
                 actor: str, connections: ConnectionStore, tokens: TokenStore,
                 pending_states: PendingStateStore, broker_states: BrokerStateStores,
                 clock: Clock = utc_now) -> None:
        self.database = database
        self.vault = vault
        self.audit = audit
        self.actor = check_actor(actor)  # every audit event stores it
        self._clock = clock
        self._connections = connections
        self._tokens = tokens
        self._pending_states = pending_states
        self._broker_states = broker_states

    @classmethod
    async def open(cls, *, actor: str, database_url: str | None = None) -> ConnectionService:
        """Open the default (or given) database, its vault and audit log.

        A convenience over ``brokerlink.bootstrap.open_connection_service``, which does
        the wiring. Raises as ``bootstrap.open_components``.
        """
        # Imported here: bootstrap imports this module (it is the composition root).
        from brokerlink.bootstrap import open_connection_service

        return await open_connection_service(actor=actor, database_url=database_url)

    async def aclose(self) -> None:
        await self.audit.aclose()
        await self.database.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    @property
    def audit_sink(self) -> AuditSink:
        """Where adapters send one event per broker request."""
        return AuditLogSink(self.audit, actor=self.actor)

    # --- adding -----------------------------------------------------------------------

    async def add_with_keys(self, broker: BrokerType, *, api_key: SecretStr,
                            api_secret: SecretStr | None, base_url: str | None = None,
                            label: str | None = None) -> ConnectionRecord:
        """Test API-key credentials against the broker, then store them sealed.

        Raises ``ConnectionTestError`` (chained to the broker's error) when the broker
        refuses them; nothing is stored then.
        """
        label, base_url = check_label(label), check_base_url(base_url)
        connection_id = _new_id()
        account = await self._test(broker, connection_id, base_url, api_key=api_key,
                                   api_secret=api_secret, source=None)
        secrets = {API_KEY: api_key}
        if api_secret is not None:
            secrets[API_SECRET] = api_secret
        return await self._save(broker, connection_id, account, base_url, label,
                                secrets=secrets, tokens=None, method="api_key")

    async def add_with_oauth(self, broker: BrokerType, *, client: OAuthClientCredentials,
                             open_url: UrlOpener, base_url: str | None = None,
                             label: str | None = None,
                             wait_seconds: float = 300.0) -> ConnectionRecord:
        """Sign in through the browser (a loopback receiver takes the one callback),
        test the tokens, then store them and the client credentials sealed.

        Raises the OAuth flow's ``AuthError`` subclasses (denied, bad state, replayed
        code...), ``LoopbackTimeoutError``, or ``ConnectionTestError``; nothing is stored
        on any of them.
        """
        label, base_url = check_label(label), check_base_url(base_url)
        connection_id = _new_id()
        oauth = self._oauth_client(broker, client, base_url)
        completed = await sign_in_via_loopback(oauth, open_url, connection_id=connection_id,
                                               wait_seconds=wait_seconds)
        tokens = completed.tokens
        account = await self._test(broker, connection_id, base_url, api_key=None,
                                   api_secret=None, source=BearerToken(tokens.access_token))
        secrets = {CLIENT_ID: SecretStr(client.client_id)}
        if client.client_secret is not None:
            secrets[CLIENT_SECRET] = client.client_secret
        return await self._save(broker, connection_id, account, base_url, label,
                                secrets=secrets, tokens=tokens, method="oauth")

    async def add_with_settings(self, broker: BrokerType | str,
                                settings: BrokerSettings | None = None, *,
                                label: str | None = None) -> ConnectionRecord:
        """Store a connection to a broker that signs in with no credentials (a simulated
        account): its settings, no secrets.

        ``settings`` is an instance of the broker's ``settings_model`` (default: its
        defaults); the spec's ``connection_url`` turns it into the record's ``base_url``.
        A broker that keeps state of its own (``stores_state``) opens it in the database
        before the connection is reported, so every process that opens the connection
        continues the same state (see ``open_broker``).

        Raises ``NotSupportedError`` for a broker that needs credentials or settings of
        another broker's model, ``ConnectionTestError`` if the broker refuses the
        settings (for example negative cash); nothing is stored then.
        """
        label = check_label(label)
        spec = resolve(broker)
        kind = spec.broker_type
        if spec.connection_url is None or spec.credential(CredentialKind.NONE) is None:
            raise NotSupportedError(
                f"{kind.value} signs in with credentials "
                f"({', '.join(c.kind.value for c in spec.credentials)}), not settings alone",
                broker=kind.value)
        chosen = settings if settings is not None else spec.settings_model()
        if type(chosen) is not spec.settings_model:
            raise NotSupportedError(f"{type(chosen).__name__} are not {kind.value}'s "
                                    f"settings ({spec.settings_model.__name__})",
                                    broker=kind.value)
        connection_id = _new_id()
        try:
            base_url = spec.connection_url(chosen, connection_id)
        except ValueError as exc:
            raise ConnectionTestError(f"{kind.value} refused the settings ({exc}); nothing "
                                      "was saved", broker=kind.value,
                                      connection_id=connection_id) from exc
        account = await self._test(kind, connection_id, base_url, api_key=None,
                                   api_secret=None, source=None)

        async def open_state() -> None:
            # Connecting with the database opens the state and stores it (the
            # connection row exists by now: stored state never outlives its connection).
            async with connector_for(kind)(
                    connection_id=connection_id, base_url=base_url, api_key=None,
                    api_secret=None, source=None, audit=None,
                    states=self._broker_states):
                pass

        return await self._save(kind, connection_id, account, base_url, label, secrets={},
                                tokens=None, method=CredentialKind.NONE.value,
                                then=open_state if spec.stores_state else None)

    async def _test(self, broker: BrokerType, connection_id: str, base_url: str | None, *,
                    api_key: SecretStr | None, api_secret: SecretStr | None,
                    source: CredentialSource | None) -> BrokerAccount:
        # No state stores: testing a connection stores nothing (a broker's own state, if it
        # keeps any, lives in memory for the test).
        build = connector_for(broker)
        adapter = build(connection_id=connection_id, base_url=base_url, api_key=api_key,
                        api_secret=api_secret, source=source, audit=self.audit_sink)
        try:
            async with adapter:
                return await adapter.get_account()
        except BrokerError as exc:
            await self.audit.append("connection.test", actor=self.actor, outcome="refused",
                                    connection_id=connection_id, broker=broker.value,
                                    detail={"error": type(exc).__name__})
            raise ConnectionTestError(
                f"{broker.value} refused the connection ({type(exc).__name__}: {exc.message});"
                " nothing was saved", broker=broker.value, connection_id=connection_id) from exc

    async def _save(self, broker: BrokerType, connection_id: str, account: BrokerAccount,
                    base_url: str | None, label: str | None, *,
                    secrets: dict[str, SecretStr], tokens: TokenSet | None,
                    method: str,
                    then: Callable[[], Awaitable[None]] | None = None) -> ConnectionRecord:
        now = utc_now()
        record = ConnectionRecord(
            id=connection_id, broker=broker.value,
            label=label or f"{broker.value} {account.account_id}",
            status=ConnectionStatus.CONNECTED, created_at=now, updated_at=now,
            account_ids=(account.account_id,), base_url=base_url,
            access_token_expires_at=tokens.expires_at if tokens else None)
        try:
            await self._connections.add(record)
            await self.vault.put_secrets(connection_id, secrets)
            if tokens is not None:
                await self._tokens.save(connection_id, tokens)
            if then is not None:
                await then()
        except BaseException:
            # A connection is whole or absent: undo whatever part was written.
            await self._forget(connection_id)
            raise
        stored = await self._connections.get(connection_id) or record
        await self.audit.append("connection.connect", actor=self.actor, outcome="ok",
                                connection_id=connection_id, broker=broker.value,
                                detail={"method": method, "account_id": account.account_id,
                                        "base_url": base_url})
        return stored

    # --- reading and opening ------------------------------------------------------------

    async def list(self) -> list[ConnectionRecord]:
        """Every stored connection, oldest first."""
        return await self._connections.list()

    async def get(self, connection_id: str) -> ConnectionRecord:
        """Raises ``ConnectionNotFoundError`` for an unknown id."""
        record = await self._connections.get(connection_id)
        if record is None:
            raise ConnectionNotFoundError(f"no connection {connection_id!r}; list them with "
                                          "`brokerlink connections`",
                                          connection_id=connection_id)
        return record

    async def open_broker(self, connection_id: str) -> OpenedConnection:
        """Build (not yet connected) the broker of a stored connection, with a refreshing
        token manager for OAuth connections. Raises ``ConnectionNotFoundError``.

        A broker that keeps state of its own (``stores_state``) keeps it in this
        database: connecting restores it as the last process left it, and every change
        is saved before it is reported, so any number of processes (or brokers) can use
        the one account. Raises ``NotSupportedError`` when the connection's broker is no
        longer installed.
        """
        record = await self.get(connection_id)
        spec = resolve(record.broker)
        broker = spec.broker_type
        api_key = await self.vault.get_secret(connection_id, API_KEY)
        manager: AuditedTokens | None = None
        client_id = (await self.vault.get_secret(connection_id, CLIENT_ID)
                     if api_key is None and spec.credential(CredentialKind.OAUTH) else None)
        if api_key is None and client_id is None and \
                spec.credential(CredentialKind.NONE) is None:
            raise ConnectionNotFoundError(
                f"connection {connection_id} has no stored credentials; remove it and "
                "connect again", connection_id=connection_id)
        if client_id is not None:
            client = OAuthClientCredentials(
                client_id.get_secret_value(),
                await self.vault.get_secret(connection_id, CLIENT_SECRET))
            refresher = _AuditedRefresher(self._oauth_client(broker, client, record.base_url))
            manager = AuditedTokens(
                TokenManager(connection_id, self._tokens, refresher, broker=broker.value,
                             clock=self._clock),
                refresher, self.audit, self.actor, broker)
        adapter = connector_for(broker)(
            connection_id=connection_id, base_url=record.base_url, api_key=api_key,
            api_secret=await self.vault.get_secret(connection_id, API_SECRET),
            source=manager, audit=self.audit_sink, states=self._broker_states)
        return OpenedConnection(record, adapter, manager)

    # --- removing -----------------------------------------------------------------------

    async def remove(self, connection_id: str) -> ConnectionRecord:
        """Delete a connection, every secret it had and any state its broker stored.
        Raises ``ConnectionNotFoundError``.

        No broker served here offers a token revocation endpoint (a token ends when the
        user revokes the app at the broker), so removal deletes the secrets and says so
        in the audit log.
        """
        record = await self.get(connection_id)
        removed = await self._forget(connection_id)
        await self.audit.append("connection.remove", actor=self.actor, outcome="ok",
                                connection_id=connection_id, broker=record.broker,
                                detail={"secrets_deleted": removed,
                                        "revoked_at_broker": False,
                                        "why_not_revoked": "broker offers no revocation "
                                                           "endpoint"})
        return record

    async def _forget(self, connection_id: str) -> int:
        removed = await self.vault.delete_connection_secrets(connection_id)
        await self._connections.delete(connection_id)
        return removed

    def _oauth_client(self, broker: BrokerType, client: OAuthClientCredentials,
                      base_url: str | None) -> OAuthClient:
        config = oauth_config_for(broker, base_url=base_url)
        return OAuthClient(config, client, self._pending_states, clock=self._clock)


class _AuditedRefresher:
    """The OAuth client's refresh, noting each outcome for the audit log.

    A refresh runs inside the token store's cross-process lock, which on SQLite is the
    database write lock; writing the audit event there would wait on itself. Outcomes
    are queued here and written by ``AuditedTokens`` once the lock is released.
    """

    def __init__(self, inner: OAuthClient) -> None:
        self._inner = inner
        self.outcomes: list[tuple[str, str, str | None]] = []

    async def refresh(self, current: TokenSet) -> TokenSet:
        try:
            tokens = await self._inner.refresh(current)
        except RefreshTokenRejectedError as exc:
            # The refresh token is dead: the user has to sign in again.
            self.outcomes.append(("connection.reauth", "reauth_required", type(exc).__name__))
            raise
        except BrokerError as exc:
            self.outcomes.append(("connection.refresh", "failed", type(exc).__name__))
            raise
        self.outcomes.append(("connection.refresh", "ok", None))
        return tokens


class AuditedTokens:
    """A connection's ``TokenManager`` as the transport's credential source, writing the
    refreshes it made to the audit log after each call (outside the refresh lock)."""

    def __init__(self, manager: TokenManager, refresher: _AuditedRefresher, audit: AuditLog,
                 actor: str, broker: BrokerType) -> None:
        self.manager = manager
        self._refresher = refresher
        self._audit = audit
        self._actor = actor
        self._broker = broker

    @property
    def reauth_due_at(self) -> datetime | None:
        return self.manager.reauth_due_at

    @property
    def reauth_required(self) -> bool:
        return self.manager.reauth_required

    async def auth_headers(self) -> dict[str, str]:
        try:
            return await self.manager.auth_headers()
        finally:
            await self._flush()

    async def on_unauthorized(self) -> bool:
        try:
            return await self.manager.on_unauthorized()
        finally:
            await self._flush()

    async def current_tokens(self) -> TokenSet:
        try:
            return await self.manager.current_tokens()
        finally:
            await self._flush()

    async def refresh_now(self) -> TokenSet:
        try:
            return await self.manager.refresh_now()
        finally:
            await self._flush()

    async def _flush(self) -> None:
        outcomes, self._refresher.outcomes = self._refresher.outcomes, []
        for action, outcome, error in outcomes:
            await self._audit.append(action, actor=self._actor, outcome=outcome,
                                     connection_id=self.manager.connection_id,
                                     broker=self._broker.value,
                                     detail={"error": error} if error else None)


def _new_id() -> str:
    return f"conn-{uuid.uuid4().hex[:12]}"

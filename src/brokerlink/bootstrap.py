"""The composition root: the one place that picks and builds concrete classes.

``auth/``, ``audit/`` and ``manager/`` name only protocols for what they persist
(``auth.vault_store.VaultStore``, ``auth.tokens.TokenStore``, the OAuth flow's
``PendingStateStore``, ``audit.store.AuditEventStore``, the manager's
``ConnectionStore``, ``IntentStore``, ``OrderQueueStore`` and ``BrokerStateRows``);
``storage/`` implements them over SQLAlchemy. This module joins the two, then builds
the services the faces use: the connection service and the broker manager. The CLI
(and later the HTTP service) gets everything from here, so no face imports storage,
auth or audit internals, and a different database or vault store is a change to this
file alone.

Imported lazily by the faces (it pulls in SQLAlchemy, cryptography and the manager),
so ``brokerlink --help`` stays fast. ``BrokerManager.open`` and
``ConnectionService.open`` delegate here, importing it inside the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

from pydantic import SecretStr

from brokerlink.audit.anchor import Anchor, AnchorError, read_anchor_file
from brokerlink.audit.log import AuditLog
from brokerlink.audit.store import AuditEventRecord, DamagedRecord
from brokerlink.audit.verify import VerifyReport
from brokerlink.auth.keys import (
    MASTER_KEY_ENV,
    NEW_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    PREVIOUS_MASTER_KEY_ENV,
    PROVIDER_ENV,
    KekProvider,
    PassphraseKeyProvider,
    provider_by_name,
    select_provider,
)
from brokerlink.auth.oauth import PendingStateStore
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.auth.oauth_states import VaultPendingStateStore
from brokerlink.auth.tokens import Clock, TokenStore
from brokerlink.auth.vault import Vault, VaultStatus
from brokerlink.core.values import utc_now
from brokerlink.emulators.registry import SANDBOX_CLIENT
from brokerlink.manager.broker_state import BrokerStates
from brokerlink.manager.commissions import CommissionSchedule
from brokerlink.manager.connections import ConnectionService, ConnectionStore
from brokerlink.manager.connectors import BrokerStateStores
from brokerlink.manager.fx import NO_RATES, FxRates
from brokerlink.manager.journal import DEFAULT_FINGERPRINT_WINDOW, OrderJournal
from brokerlink.manager.manager import DEFAULT_READ_TIMEOUT, BrokerManager
from brokerlink.manager.market_hours import MarketHours
from brokerlink.manager.order_stores import IntentStore, OrderQueueStore, OrderStores
from brokerlink.storage.audit_events import AuditRepository
from brokerlink.storage.broker_state import BrokerStateRepository
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.engine import (
    DATABASE_SCHEMA_ENV,
    DATABASE_URL_ENV,
    Database,
    open_database,
)
from brokerlink.storage.journal import JournalRepository
from brokerlink.storage.order_queue import OrderQueueRepository
from brokerlink.storage.records import ConnectionRecord
from brokerlink.storage.token_store import SqlTokenStore
from brokerlink.storage.vault_store import SqlVaultStore

# Besides the builders, the names a face needs to talk about what they build (records,
# reports, the environment variables that configure them), so no face imports storage,
# auth or audit modules itself.
__all__ = [
    "DATABASE_SCHEMA_ENV",
    "DATABASE_URL_ENV",
    "MASTER_KEY_ENV",
    "NEW_PASSPHRASE_ENV",
    "PASSPHRASE_ENV",
    "PREVIOUS_MASTER_KEY_ENV",
    "PROVIDER_ENV",
    "SANDBOX_CLIENT",
    "Anchor",
    "AnchorError",
    "AuditEventRecord",
    "AuditLog",
    "BrokerManager",
    "Components",
    "ConnectionRecord",
    "ConnectionService",
    "ConnectionStores",
    "DamagedRecord",
    "Database",
    "OAuthClientCredentials",
    "PassphrasePrompt",
    "Vault",
    "VaultSession",
    "VaultStatus",
    "VerifyReport",
    "broker_state_stores",
    "connection_service",
    "connection_stores",
    "key_providers",
    "load_vault",
    "open_audit_log",
    "open_components",
    "open_connection_service",
    "open_manager",
    "open_storage",
    "order_journal",
    "order_stores",
    "pending_state_store",
    "read_anchor_file",
    "token_store",
    "vault_session",
]

PassphrasePrompt = Callable[[], SecretStr]
"""Asks a person for the vault passphrase (never echoed); used only when the passphrase
provider is selected and ``$BROKERLINK_PASSPHRASE`` is not set."""


# --- the parts ---------------------------------------------------------------------------


async def open_storage(database_url: str | None = None, *,
                       schema: str | None = None) -> Database:
    """Open and migrate the database: ``database_url``, else ``$BROKERLINK_DATABASE_URL``,
    else the embedded SQLite file in the brokerlink home. Raises ``StorageError``."""
    return await open_database(database_url, schema=schema)


def key_providers(prompt: PassphrasePrompt | None = None
                  ) -> tuple[KekProvider, Callable[[str], KekProvider]]:
    """The selected key-encryption-key provider (``$BROKERLINK_KEK_PROVIDER``) and a
    lookup of providers by name for existing keys; with ``prompt``, a passphrase provider
    asks through it. Raises ``VaultError`` for an unknown provider name."""

    def prompting(provider: KekProvider) -> KekProvider:
        if prompt is not None and isinstance(provider, PassphraseKeyProvider):
            return PassphraseKeyProvider(prompt=prompt)
        return provider

    return prompting(select_provider()), lambda name: prompting(provider_by_name(name))


async def load_vault(database: Database, provider: KekProvider | None = None, *,
                     providers: Callable[[str], KekProvider] | None = None) -> Vault:
    """The vault kept in ``database`` (see ``Vault.load`` for the provider rules and what
    it raises)."""
    return await Vault.load(SqlVaultStore(database), provider, providers=providers)


async def open_audit_log(database: Database, vault: Vault, *,
                         checkpoint_path: Path | None = None) -> AuditLog:
    """The audit log kept in ``database``, keyed by the audit key sealed in ``vault``
    (see ``AuditLog.open`` for what it raises)."""
    return await AuditLog.open(AuditRepository(database), vault,
                               checkpoint_path=checkpoint_path)


def token_store(database: Database, vault: Vault) -> TokenStore:
    """OAuth tokens in ``database``, sealed by ``vault``, refreshed one process at a time."""
    return SqlTokenStore(database, vault)


def pending_state_store(vault: Vault) -> PendingStateStore:
    """Pending OAuth authorizations, sealed by ``vault`` in its store."""
    return VaultPendingStateStore(vault)


@dataclass(frozen=True, slots=True)
class Components:
    """An open database with its vault and audit log; ``aclose`` closes the database."""

    database: Database
    vault: Vault
    audit: AuditLog

    async def aclose(self) -> None:
        await self.audit.aclose()
        await self.database.aclose()


async def open_components(*, database_url: str | None = None,
                          passphrase_prompt: PassphrasePrompt | None = None) -> Components:
    """Open the database, load its vault and open its audit log.

    The database is closed again if the vault or audit log cannot be opened. Raises
    ``StorageError``, ``VaultError`` subclasses or ``AuditIntegrityError``.
    """
    database = await open_storage(database_url)
    try:
        provider, providers = key_providers(passphrase_prompt)
        vault = await load_vault(database, provider, providers=providers)
        audit = await open_audit_log(database, vault)
    except BaseException:
        await database.aclose()
        raise
    return Components(database, vault, audit)


# --- the services the faces use ------------------------------------------------------------


def broker_state_stores(database: Database) -> BrokerStateStores:
    """Where brokers that keep state of their own (``stores_state``) keep it: one store
    per connection over ``database``'s broker-state table, their version checks batched
    together."""
    return BrokerStates(BrokerStateRepository(database))


def order_stores(database: Database) -> OrderStores:
    """The order journal's intents and the closed-market queue over ``database``:
    ``BrokerManager(service, orders=order_stores(database))``."""
    intents: IntentStore = JournalRepository(database)
    queue: OrderQueueStore = OrderQueueRepository(database)
    return OrderStores(intents=intents, queue=queue)


def order_journal(database: Database, *, clock: Clock = utc_now,
                  fingerprint_window: timedelta = DEFAULT_FINGERPRINT_WINDOW,
                  late_order_window: timedelta | Mapping[str, timedelta] | None = None,
                  ) -> OrderJournal:
    """An ``OrderJournal`` over ``database``'s intents (the options are the journal's)."""
    return OrderJournal(order_stores(database).intents, clock=clock,
                        fingerprint_window=fingerprint_window,
                        late_order_window=late_order_window)


class ConnectionStores(TypedDict):
    """The stores a ``ConnectionService`` is given, as its keyword arguments."""

    connections: ConnectionStore
    tokens: TokenStore
    pending_states: PendingStateStore
    broker_states: BrokerStateStores


def connection_stores(database: Database, vault: Vault) -> ConnectionStores:
    """Connection records, OAuth tokens, pending sign-ins and brokers' own state over
    ``database`` (secrets sealed by ``vault``):
    ``ConnectionService(..., **connection_stores(database, vault))``."""
    return ConnectionStores(connections=ConnectionRepository(database),
                            tokens=token_store(database, vault),
                            pending_states=pending_state_store(vault),
                            broker_states=broker_state_stores(database))


def connection_service(database: Database, vault: Vault, audit: AuditLog, *, actor: str,
                       clock: Clock = utc_now) -> ConnectionService:
    """Stored connections for ``actor`` over an open ``database``: records, OAuth tokens
    and pending sign-ins in its tables, secrets in ``vault``, events in ``audit``. Its
    ``aclose`` closes the audit log and the database. Raises ``InvalidNameError`` for an
    actor out of bounds."""
    return ConnectionService(database, vault, audit, actor=actor, clock=clock,
                             **connection_stores(database, vault))


async def open_connection_service(*, actor: str, database_url: str | None = None,
                                  passphrase_prompt: PassphrasePrompt | None = None,
                                  clock: Clock = utc_now) -> ConnectionService:
    """Stored connections for ``actor`` over the default (or given) database; the
    service's ``aclose`` closes the database. Raises as ``open_components``."""
    parts = await open_components(database_url=database_url,
                                  passphrase_prompt=passphrase_prompt)
    try:
        return connection_service(parts.database, parts.vault, parts.audit, actor=actor,
                                  clock=clock)
    except BaseException:
        await parts.aclose()
        raise


async def open_manager(*, actor: str, database_url: str | None = None,
                       passphrase_prompt: PassphrasePrompt | None = None,
                       commissions: CommissionSchedule | None = None,
                       fx: FxRates = NO_RATES, base_currency: str = "USD",
                       read_timeout: float = DEFAULT_READ_TIMEOUT,
                       market_hours: MarketHours | None = None) -> BrokerManager:
    """A ``BrokerManager`` over the default (or given) database, its orders in the
    database's journal and queue; its ``aclose`` closes the connection service and the
    database. Raises as ``open_components``."""
    service = await open_connection_service(actor=actor, database_url=database_url,
                                            passphrase_prompt=passphrase_prompt)
    try:
        return BrokerManager(service, orders=order_stores(service.database),
                             commissions=commissions, fx=fx,
                             base_currency=base_currency, read_timeout=read_timeout,
                             market_hours=market_hours, owns_service=True)
    except BaseException:
        await service.aclose()
        raise


@dataclass(frozen=True, slots=True)
class VaultSession:
    """The vault of an open database, for the vault and audit commands."""

    database: Database
    vault: Vault

    async def audit_log(self) -> AuditLog:
        """The audit log of the same database (its key is created on first use)."""
        return await open_audit_log(self.database, self.vault)


@asynccontextmanager
async def vault_session(*, database_url: str | None = None,
                        passphrase_prompt: PassphrasePrompt | None = None
                        ) -> AsyncIterator[VaultSession]:
    """The default (or given) database and its vault, closed on exit. Raises
    ``StorageError`` or ``VaultError`` subclasses."""
    database = await open_storage(database_url)
    try:
        provider, providers = key_providers(passphrase_prompt)
        yield VaultSession(database, await load_vault(database, provider,
                                                      providers=providers))
    finally:
        await database.aclose()

"""``BrokerManager``: many broker connections used as one.

The manager adds and removes connections (through ``ConnectionService``: tested before
saving, secrets sealed in the vault, every step audited), reads all of them at once
(positions, balances, orders, portfolio value), picks the best connection for an order
and places orders through the write-ahead ``OrderJournal``.

Reads fan out concurrently, each connection bounded by ``read_timeout`` seconds; a
connection that fails, is slow or needs re-authentication is reported by id in the
result's ``errors`` and never hides the others (see ``manager.aggregate``). Writes are
not cut short by that timeout: abandoning an order mid-flight would make its outcome
unknown, so the transport's own timeout and the journal's reconciliation govern them.

Opened brokers are kept for the manager's lifetime and connected lazily. A broker that
keeps state of its own (``BrokerSpec.stores_state``: a simulated account) keeps it in the
database (``manager.broker_state``): every process sees the same orders, positions and
cash. The manager names no broker: how a connection signs in, whether it keeps state
and whether its clock is real all come from its broker's spec in the adapter registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self, TypeVar

from pydantic import SecretStr

from brokerlink.adapters._shared.spec import BrokerSettings, CredentialKind, CredentialSpec
from brokerlink.adapters._shared.urls import is_loopback
from brokerlink.adapters.registry import resolve
from brokerlink.core.enums import BrokerType, OrderStatus
from brokerlink.core.errors import (
    AuthError,
    BrokerError,
    ManualInteractionRequiredError,
    NotSupportedError,
    ReauthRequiredError,
)
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import (
    AccountBalances,
    BrokerCredentials,
    Order,
    OrderRequest,
    OrderResult,
    Position,
    Quote,
)
from brokerlink.core.values import utc_now
from brokerlink.manager.aggregate import (
    Aggregated,
    ConsolidatedView,
    Target,
    consolidate,
    fan_out,
    guarded,
)
from brokerlink.manager.commissions import CommissionSchedule
from brokerlink.manager.connections import ConnectionService, OpenedConnection
from brokerlink.manager.fx import NO_RATES, FxRates
from brokerlink.manager.journal import OrderJournal, ReconcileReport, check_idempotency_key
from brokerlink.manager.journal_feed import JournalFeed, is_order_event
from brokerlink.manager.latency import LatencyTracker
from brokerlink.manager.market_hours import (
    ClosedMarketGate,
    ClosedMarketPolicy,
    MarketHours,
    OrderQueue,
    QueuedOrder,
)
from brokerlink.manager.order_stores import OrderStores
from brokerlink.manager.routing import ExecutionPlan, RouteInput, needs_holding, rank
from brokerlink.manager.sync import SyncEngine, SyncPolicy, SyncTarget
from brokerlink.manager.sync_events import SyncSubscription
from brokerlink.manager.valuation import PortfolioValue, value_portfolio
from brokerlink.storage.records import ConnectionRecord, ConnectionStatus

logger = logging.getLogger("brokerlink.manager")

T = TypeVar("T")
DEFAULT_READ_TIMEOUT = 10.0


class OrderSubmitter(Protocol):
    """The journal's write path (``OrderJournal.submit``): write ahead, send once."""

    async def submit(self, *, connection_id: str, account_id: str, broker: BrokerInterface,
                     order: OrderRequest, idempotency_key: str | None = None) -> OrderResult:
        ...


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """A connection as the manager sees it now.

    ``status`` is ``reauth_required`` when the stored connection or its tokens say so,
    ``degraded`` when this manager's last call to it failed with a transient error, else
    the stored status. ``last_sync`` is this manager's last successful read from it;
    ``last_error`` names the type and message of its last failure (no secrets).
    """

    connection_id: str
    broker: str
    label: str
    status: ConnectionStatus
    account_ids: tuple[str, ...]
    last_sync: datetime | None
    reauth_due_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an order went and what the broker said (``result``), or, when the market
    was closed under the ``QUEUE`` policy, the durable ``queued`` order waiting for the
    open (exactly one of the two is set). ``plan`` is set when it was routed
    automatically (the best-execution ranking and its reasons)."""

    connection_id: str
    broker: BrokerType
    account_id: str
    result: OrderResult | None
    plan: ExecutionPlan | None = None
    queued: QueuedOrder | None = None


@dataclass(frozen=True, slots=True)
class LiveSync:
    """The running live sync of a manager: the ``engine`` (subscribe to its events,
    read its per-connection state and latency), the ``feed`` that keeps the order
    journal following it (``None`` without an ``OrderJournal``), and the connections
    that could not be connected when it started, with their typed errors. ``events``
    (when asked for) holds every event from the first read on."""

    engine: SyncEngine
    feed: JournalFeed | None
    skipped: dict[str, BrokerError]
    events: SyncSubscription | None = None


@dataclass(slots=True)
class _Live:
    opened: OpenedConnection
    connected: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # (loop time, error) of the last failed connect: callers that queued behind it
    # share its error instead of each repeating a connect that just failed.
    failure: tuple[float, BrokerError] | None = None


@dataclass(slots=True)
class _Health:
    last_ok_at: datetime | None = None
    last_error: BrokerError | None = None
    last_error_at: datetime | None = None


def _target(record: ConnectionRecord) -> Target:
    return Target(record.id, BrokerType(record.broker), record.label,
                  record.account_ids[0] if record.account_ids else None)


def _real_clock(record: ConnectionRecord) -> bool:
    """Whether the connection's fill timestamps are wall time (a real broker), not a
    simulated clock: a broker with no host at all (every environment of its spec is
    hostless: a simulation), or an emulator on this machine."""
    if is_loopback(record.base_url):
        return False
    try:
        spec = resolve(record.broker)
    except NotSupportedError:
        return False
    return any(env.base_url is not None for env in spec.environments)


def _stored_keys(kinds: tuple[CredentialSpec, ...], credentials: BrokerCredentials,
                 broker: BrokerType) -> tuple[SecretStr, SecretStr | None]:
    """The (key, secret) to store for ``credentials``, by the broker's credential kinds:
    an API key and secret as given; a long-lived access token as the key alone. Raises
    ``NotSupportedError`` when the broker signs in no way the credentials offer."""
    signs_in = {spec.kind for spec in kinds}
    if credentials.api_key is not None and signs_in & {CredentialKind.API_KEY,
                                                       CredentialKind.ACCESS_TOKEN}:
        return credentials.api_key, credentials.api_secret
    if credentials.access_token is not None and CredentialKind.ACCESS_TOKEN in signs_in:
        return credentials.access_token, None
    offered = [kind.value for kind in (CredentialKind.API_KEY, CredentialKind.ACCESS_TOKEN)
               if kind in signs_in]
    oauth = " (for OAuth use `brokerlink connect`, browser sign-in)" \
        if CredentialKind.OAUTH in signs_in else ""
    raise NotSupportedError(
        f"{broker.value} signs in here with {' or '.join(offered) or 'no key or token'}"
        f"{oauth}", broker=broker.value)


class BrokerManager:
    """Every stored connection of one ``ConnectionService`` as one portfolio.

    ``orders`` keeps the order journal's intents and the closed-market queue
    (``bootstrap.open_manager`` passes ``bootstrap.order_stores(database)``; without
    it the manager asks ``bootstrap`` for the stores over the service's database).
    ``journal`` defaults to an ``OrderJournal`` over ``orders.intents``; ``fx``
    defaults to no rates (non-base amounts are reported unconverted); ``read_timeout``
    bounds each connection's part of a read, in seconds. ``market_hours`` is the
    calendar and clock the closed-market policies use (XNYS on the wall clock).
    """

    def __init__(self, connections: ConnectionService, *,
                 orders: OrderStores | None = None,
                 journal: OrderSubmitter | None = None,
                 commissions: CommissionSchedule | None = None,
                 fx: FxRates = NO_RATES, base_currency: str = "USD",
                 read_timeout: float = DEFAULT_READ_TIMEOUT,
                 market_hours: MarketHours | None = None,
                 owns_service: bool = False) -> None:
        if read_timeout <= 0:
            raise ValueError("read_timeout must be positive")
        self.connections = connections
        if orders is None:
            # Imported here: bootstrap imports this module (it is the composition root),
            # and picks the stores over the service's database.
            from brokerlink.bootstrap import order_stores

            orders = order_stores(connections.database)
        self.orders = orders
        self.journal: OrderSubmitter = journal or OrderJournal(orders.intents)
        self.commissions = commissions or CommissionSchedule()
        self.fx = fx
        self.base_currency = base_currency.upper()
        self.read_timeout = read_timeout
        # Built on first use: the exchange calendar is only needed by closed-market policies.
        self.market_hours = market_hours
        self._gate: ClosedMarketGate | None = None
        self._owns_service = owns_service
        self._live: dict[str, _Live] = {}
        self._health: dict[str, _Health] = {}
        self.live_sync: LiveSync | None = None

    @classmethod
    async def open(cls, *, actor: str, database_url: str | None = None,
                   commissions: CommissionSchedule | None = None, fx: FxRates = NO_RATES,
                   base_currency: str = "USD",
                   read_timeout: float = DEFAULT_READ_TIMEOUT,
                   market_hours: MarketHours | None = None) -> BrokerManager:
        """A manager over the default (or given) database; ``aclose`` closes it.

        A convenience over ``brokerlink.bootstrap.open_manager``, which does the wiring.
        Raises as ``bootstrap.open_components``.
        """
        # Imported here: bootstrap imports this module (it is the composition root).
        from brokerlink.bootstrap import open_manager

        return await open_manager(actor=actor, database_url=database_url,
                                  commissions=commissions, fx=fx,
                                  base_currency=base_currency, read_timeout=read_timeout,
                                  market_hours=market_hours)

    def __repr__(self) -> str:
        return (f"BrokerManager(actor={self.connections.actor!r}, open={len(self._live)}, "
                f"base_currency={self.base_currency!r})")

    async def aclose(self) -> None:
        """Disconnect every opened broker and, if this manager opened it, close the
        connection service."""
        await self.stop_sync()
        live, self._live = self._live, {}
        try:
            for entry in live.values():
                if entry.connected:
                    try:
                        await entry.opened.broker.disconnect()
                    except BrokerError as exc:
                        logger.warning("disconnecting %s failed: %s", entry.opened.record.id,
                                       type(exc).__name__)
        finally:
            if self._owns_service:
                await self.connections.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    # --- connections --------------------------------------------------------------------

    async def add_broker(self, broker_type: BrokerType | str,
                         credentials: BrokerCredentials | None = None, *,
                         label: str | None = None,
                         settings: BrokerSettings | None = None) -> str:
        """Connect and test a broker account, store it, and return its connection id.

        ``broker_type`` is a broker's name or alias (see ``brokerlink brokers``). Keys
        are sealed in the vault: ``api_key``/``api_secret`` for a broker that signs in
        with an API key, ``access_token`` for one that signs in with a long-lived token
        (kept as its key); ``credentials.base_url`` points at a host or a local
        emulator. A broker that signs in with no credentials (a simulated account) takes
        ``settings`` instead (an instance of its spec's ``settings_model``; default: its
        defaults) and is opened at once, its state stored and ready for the first order.
        Browser sign-in (OAuth) goes through ``ConnectionService.add_with_oauth``.

        Raises ``NotSupportedError`` for a broker not installed, credentials this broker
        cannot sign in with, or settings given to a broker that signs in with
        credentials; ``AuthError`` when credentials are needed and none given;
        ``ConnectionTestError`` when the broker refuses them (nothing is stored).
        """
        spec = resolve(broker_type)
        kind = spec.broker_type
        if credentials is None and spec.credential(CredentialKind.NONE) is not None:
            record = await self.connections.add_with_settings(kind, settings, label=label)
            # Open it now: its state is stored and ready for the first order.
            await self._broker(record)
            await self._sync_new(record)
            return record.id
        if settings is not None:
            raise NotSupportedError(f"{kind.value} signs in with credentials, not settings",
                                    broker=kind.value)
        if credentials is None:
            raise AuthError(f"{kind.value} needs credentials ("
                            f"{', '.join(c.kind.value for c in spec.credentials)})",
                            broker=kind.value)
        if credentials.broker != kind:
            raise NotSupportedError(
                f"credentials are for {credentials.broker.value}, not {kind.value}",
                broker=kind.value)
        key, secret = _stored_keys(spec.credentials, credentials, kind)
        record = await self.connections.add_with_keys(
            kind, api_key=key, api_secret=secret, base_url=credentials.base_url, label=label)
        await self._sync_new(record)
        return record.id

    async def remove_broker(self, connection_id: str) -> None:
        """Disconnect and delete a connection and its secrets (audited).

        Raises ``ConnectionNotFoundError`` for an unknown id.
        """
        if self.live_sync is not None:
            await self.live_sync.engine.remove(connection_id)
        entry = self._live.pop(connection_id, None)
        if entry is not None and entry.connected:
            try:
                await entry.opened.broker.disconnect()
            except BrokerError as exc:
                logger.warning("disconnecting %s failed: %s", connection_id, type(exc).__name__)
        self._health.pop(connection_id, None)
        await self.connections.remove(connection_id)

    async def get_connections(self) -> list[ConnectionView]:
        """Every stored connection with its current status, last sync and re-auth date.

        Reads only storage and this manager's memory: no broker is called.
        """
        views = []
        for record in await self.connections.list():
            health = self._health.get(record.id, _Health())
            entry = self._live.get(record.id)
            tokens = entry.opened.tokens if entry else None
            error = health.last_error
            views.append(ConnectionView(
                connection_id=record.id, broker=record.broker, label=record.label,
                status=self._status(record), account_ids=record.account_ids,
                last_sync=self._last_sync(record.id, health),
                reauth_due_at=(tokens.reauth_due_at if tokens and tokens.reauth_due_at
                               else record.reauth_due_at),
                last_error=f"{type(error).__name__}: {error.message}" if error else None,
                last_error_at=health.last_error_at))
        return views

    def _last_sync(self, connection_id: str, health: _Health) -> datetime | None:
        """The later of this manager's last successful read and the live sync's."""
        synced = None
        if self.live_sync is not None and connection_id in self.live_sync.engine.connection_ids:
            synced = self.live_sync.engine.state(connection_id).as_of
        moments = [m for m in (health.last_ok_at, synced) if m is not None]
        return max(moments) if moments else None

    def _needs_sign_in(self, record: ConnectionRecord) -> bool:
        """Stored (or token-manager) state says only a new sign-in helps."""
        entry = self._live.get(record.id)
        tokens = entry.opened.tokens if entry else None
        return record.status is ConnectionStatus.REAUTH_REQUIRED or bool(
            tokens and tokens.reauth_required)

    def _status(self, record: ConnectionRecord) -> ConnectionStatus:
        if self._needs_sign_in(record):
            return ConnectionStatus.REAUTH_REQUIRED
        health = self._health.get(record.id)
        if health and health.last_error is not None and (
                health.last_ok_at is None or health.last_error_at is None
                or health.last_error_at >= health.last_ok_at):
            if isinstance(health.last_error, AuthError) and not isinstance(
                    health.last_error, ManualInteractionRequiredError):
                return ConnectionStatus.REAUTH_REQUIRED
            return ConnectionStatus.DEGRADED
        return record.status

    # --- reading ------------------------------------------------------------------------

    async def get_all_positions(self) -> Aggregated[Position]:
        """Positions of every connection, each tagged with its source; failures by id."""
        return await self._fan_out(lambda broker: broker.get_positions())

    async def get_all_balances(self) -> Aggregated[AccountBalances]:
        """Balances of every connection, each tagged with its source; failures by id."""
        async def read(broker: BrokerInterface) -> list[AccountBalances]:
            return [await broker.get_balances()]
        return await self._fan_out(read)

    async def get_orders(self, status: OrderStatus | None = None) -> Aggregated[Order]:
        """Orders of every connection (all, or those with ``status``); failures by id."""
        return await self._fan_out(lambda broker: broker.get_orders(status))

    async def get_quotes(self, symbol: str) -> Aggregated[Quote]:
        """Every connection's current quote for ``symbol``; failures by id."""
        async def read(broker: BrokerInterface) -> list[Quote]:
            return [await broker.get_quote(symbol)]
        return await self._fan_out(read)

    async def consolidated_positions(self) -> ConsolidatedView:
        """One line per instrument and currency across every account, with the per-account
        breakdown; connections that failed are listed in ``errors``."""
        return consolidate(await self.get_all_positions())

    async def get_total_portfolio_value(self) -> PortfolioValue:
        """Every account's total value in ``base_currency``: converted at a stated rate,
        or listed as unconverted (and left out of ``total``); failures by id."""
        return await value_portfolio(await self.get_all_balances(), self.fx,
                                     self.base_currency)

    async def _fan_out(self, read: Callable[[BrokerInterface], Awaitable[list[T]]]
                       ) -> Aggregated[T]:
        records = {r.id: r for r in await self.connections.list()}

        async def call(target: Target) -> list[T]:
            broker = await self._ready_broker(records[target.connection_id])
            return await read(broker)

        result = await fan_out([_target(r) for r in records.values()], call,
                               seconds=self.read_timeout)
        answered = {cid for cid in records if cid not in result.errors}
        self._note(answered, dict(result.errors))
        return result

    def _note(self, answered: set[str], errors: dict[str, BrokerError]) -> None:
        """Remember each connection's last success and failure (for ``get_connections``
        and routing). Nothing is persisted here: a refused refresh is already stored as
        ``reauth_required`` by the token store, and one refused API-key call may be the
        broker's hiccup, so the next call tries again."""
        now = utc_now()
        for connection_id in answered:
            self._health.setdefault(connection_id, _Health()).last_ok_at = now
        for connection_id, error in errors.items():
            health = self._health.setdefault(connection_id, _Health())
            health.last_error, health.last_error_at = error, now

    async def _entry(self, record: ConnectionRecord) -> _Live:
        """The connection's opened (not necessarily connected) broker, built once."""
        entry = self._live.get(record.id)
        if entry is None:
            opened = await self.connections.open_broker(record.id)
            # Another task may have opened it meanwhile: keep the first.
            entry = self._live.setdefault(record.id, _Live(opened))
        return entry

    async def _broker(self, record: ConnectionRecord) -> BrokerInterface:
        """The connection's broker, opened once and connected on first use."""
        entry = await self._entry(record)
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        async with entry.lock:
            if not entry.connected:
                if entry.failure is not None and entry.failure[0] >= asked_at:
                    raise entry.failure[1]
                try:
                    await entry.opened.broker.connect()
                except BrokerError as exc:
                    entry.failure = (loop.time(), exc)
                    raise
                entry.connected, entry.failure = True, None
        return entry.opened.broker

    async def _ready_broker(self, record: ConnectionRecord) -> BrokerInterface:
        """``_broker``, but refuse at once (no I/O) a connection that needs re-auth."""
        if self._needs_sign_in(record):
            raise ReauthRequiredError(
                f"{record.label} needs you to sign in again: run brokerlink connect "
                f"{record.broker}", broker=record.broker, connection_id=record.id)
        return await self._broker(record)

    async def broker(self, connection_id: str) -> BrokerInterface:
        """The connection's broker, opened once per manager and connected on first use
        (for a broker that keeps state of its own, that state as stored).

        Raises ``ConnectionNotFoundError``, ``ReauthRequiredError`` and the broker's own
        connect errors.
        """
        return await self._ready_broker(await self.connections.get(connection_id))

    # --- routing and orders -------------------------------------------------------------

    async def find_best_execution(self, order: OrderRequest) -> ExecutionPlan:
        """Rank every connection for ``order`` and write the choice and its reasons to the
        audit log (``manager.best_execution``).

        Reads each connection's balances, quote and (for closing orders) holdings
        concurrently, bounded by ``read_timeout``; see ``manager.routing`` for the rules.
        ``plan.chosen`` is ``None`` when no connection is eligible (``plan.require()``
        raises then). Raises ``AuditIntegrityError``/``StorageError`` only.
        """
        records = await self.connections.list()
        inputs = await asyncio.gather(*(self._route_input(r, order) for r in records))
        errors = {i.connection_id: e for i in inputs
                  for e in (i.balances_error, i.quote_error, i.positions_error) if e}
        answered = {i.connection_id for i in inputs if i.balances or i.quote}
        self._note(answered - set(errors), errors)
        plan = rank(order, inputs, self.commissions)
        chosen = plan.chosen
        await self.connections.audit.append(
            "manager.best_execution", actor=self.connections.actor,
            outcome="chosen" if chosen else "no_route",
            connection_id=chosen.connection_id if chosen else None,
            broker=chosen.broker.value if chosen else None, detail=plan.as_dict())
        return plan

    async def _route_input(self, record: ConnectionRecord, order: OrderRequest) -> RouteInput:
        target = _target(record)
        status = self._status(record)
        try:
            entry = await self._entry(record)
        except BrokerError:
            return RouteInput(record.id, target.broker, record.label, target.account_id,
                              None, status)
        if status is ConnectionStatus.REAUTH_REQUIRED:
            return RouteInput(record.id, target.broker, record.label, target.account_id,
                              entry.opened.broker.capabilities, status)
        symbol = order.instrument_symbol
        closing = needs_holding(order.side)

        async def balances(_: Target) -> AccountBalances:
            return await (await self._broker(record)).get_balances()

        async def quote(_: Target) -> Quote:
            return await (await self._broker(record)).get_quote(symbol)

        async def held(_: Target) -> Decimal:
            positions = await (await self._broker(record)).get_positions()
            return sum((p.quantity for p in positions if p.symbol.upper() == symbol.upper()),
                       Decimal(0))

        if closing:
            found_balances, found_quote, found_held = await asyncio.gather(
                guarded(target, balances, self.read_timeout),
                guarded(target, quote, self.read_timeout),
                guarded(target, held, self.read_timeout))
        else:
            found_balances, found_quote = await asyncio.gather(
                guarded(target, balances, self.read_timeout),
                guarded(target, quote, self.read_timeout))
            found_held = Decimal(0)
        return RouteInput(
            connection_id=record.id, broker=target.broker, label=record.label,
            # Read after connecting: some brokers narrow capabilities to the account.
            account_id=target.account_id, capabilities=entry.opened.broker.capabilities,
            status=status,
            balances=found_balances if isinstance(found_balances, AccountBalances) else None,
            balances_error=found_balances if isinstance(found_balances, BrokerError) else None,
            quote=found_quote if isinstance(found_quote, Quote) else None,
            quote_error=found_quote if isinstance(found_quote, BrokerError) else None,
            held_quantity=found_held if isinstance(found_held, Decimal) else None,
            positions_error=found_held if isinstance(found_held, BrokerError) else None)

    async def place_order(self, order: OrderRequest, *, connection_id: str | None = None,
                          idempotency_key: str | None = None,
                          when_closed: ClosedMarketPolicy | None = None) -> Placement:
        """Place ``order`` through the journal (written before it is sent; sent once).

        ``connection_id=None`` routes it with ``find_best_execution`` (audited); a repeat
        with the same ``idempotency_key`` goes to the connection that took the first one,
        whatever the ranking says now, so it is never sent twice. ``when_closed`` applies
        a closed-market policy on ``market_hours`` (``REJECT``, ``EXTENDED``, ``QUEUE``:
        stored durably for the open); ``None`` sends it and lets the broker decide.

        Raises ``NoEligibleBrokerError`` (auto, nothing eligible), ``ConnectionNotFoundError``,
        ``ReauthRequiredError``, ``MarketClosedError`` (``REJECT``), and whatever
        ``OrderJournal.submit`` raises: the broker's refusal, ``DuplicateOrderError``, or
        ``RequestTimeoutError`` when the outcome is unknown (reconcile; never resend).
        """
        check_idempotency_key(idempotency_key)   # before it is looked up or stored
        plan: ExecutionPlan | None = None
        if connection_id is None and idempotency_key is not None:
            connection_id = await self._key_owner(idempotency_key)
        if connection_id is None:
            plan = await self.find_best_execution(order)
            connection_id = plan.require().connection_id
        record = await self.connections.get(connection_id)
        broker = await self._ready_broker(record)
        target = _target(record)
        account_id = target.account_id or record.id
        if when_closed is not None:
            outcome = await self._closed_market_gate().place(
                connection_id=record.id, account_id=account_id, broker=broker, order=order,
                policy=when_closed, idempotency_key=idempotency_key)
            if isinstance(outcome, QueuedOrder):
                return Placement(record.id, target.broker, account_id, None, plan, outcome)
            return Placement(record.id, target.broker, account_id, outcome, plan)
        result = await self.journal.submit(connection_id=record.id, account_id=account_id,
                                           broker=broker, order=order,
                                           idempotency_key=idempotency_key)
        return Placement(record.id, target.broker, account_id, result, plan)

    def _closed_market_gate(self) -> ClosedMarketGate:
        if self._gate is None:
            if not isinstance(self.journal, OrderJournal):
                raise NotSupportedError("closed-market policies need the OrderJournal "
                                        "(the queue releases through it)")
            hours = self.market_hours = self.market_hours or MarketHours()
            queue = OrderQueue(self.orders.queue, self.journal, hours)
            self._gate = ClosedMarketGate(hours, self.journal, queue)
        return self._gate

    async def _key_owner(self, idempotency_key: str) -> str | None:
        """The connection that already took an order under ``idempotency_key``, if any."""
        if not isinstance(self.journal, OrderJournal):
            return None  # another submitter keeps its keys where the manager cannot look
        intents = self.journal.repository
        for record in await self.connections.list():
            if await intents.by_key(record.id, idempotency_key) is not None:
                return record.id
        return None

    async def reconcile_orders(self) -> ReconcileReport:
        """Resolve every journal intent still pending or unknown against its broker (for
        example after a crash). Connections that cannot be opened or need re-auth are left
        out, so their intents come back in ``skipped``; nothing is ever re-sent.

        Raises ``NotSupportedError`` when the journal is not an ``OrderJournal``.
        """
        if not isinstance(self.journal, OrderJournal):
            raise NotSupportedError("reconciliation needs the OrderJournal")
        brokers: dict[str, BrokerInterface] = {}
        for record in await self.connections.list():
            try:
                async with asyncio.timeout(self.read_timeout):
                    brokers[record.id] = await self._ready_broker(record)
            except (BrokerError, TimeoutError) as exc:
                logger.warning("reconcile: %s unavailable (%s)", record.id, type(exc).__name__)
        return await self.journal.reconcile(brokers)

    async def cancel_order(self, connection_id: str, order_id: str) -> bool:
        """Ask the connection's broker to cancel ``order_id``; True once it accepted.

        Raises ``ConnectionNotFoundError``, ``ReauthRequiredError``,
        ``OrderNotFoundError`` and the broker's other errors.
        """
        record = await self.connections.get(connection_id)
        broker = await self._ready_broker(record)
        return await broker.cancel_order(order_id)

    # --- live sync ----------------------------------------------------------------------

    def sync_targets(self) -> list[SyncTarget]:
        """Every connection this manager has connected and that needs no sign-in, for
        ``SyncEngine.from_source`` (``SyncTargetSource``)."""
        return [SyncTarget(cid, entry.opened.broker) for cid, entry in self._live.items()
                if entry.connected and not self._needs_sign_in(entry.opened.record)]

    async def start_sync(self, *, policy: SyncPolicy | None = None,
                         latency: LatencyTracker | None = None,
                         subscribe: bool = False) -> LiveSync:
        """Keep every connection's positions, balances and open orders current (streams
        first, polling within each broker's rate limit as fallback, a periodic
        reconcile) and the order journal following what the sync sees.

        Connects every stored connection concurrently, each bounded by
        ``read_timeout``; one that fails (down, slow, needs re-auth) is left out, listed
        in ``LiveSync.skipped`` and shown as such by ``get_connections``. Connections
        added later with ``add_broker`` join the running sync; ``remove_broker`` takes
        them out; ``stop_sync`` (or ``aclose``) ends it. Latency uses broker fill
        timestamps only for connections that are not local emulators (whose clocks are
        virtual). ``subscribe`` also subscribes to its events before the first read
        (``LiveSync.events``). Raises ``RuntimeError`` if the sync is already running.
        """
        if self.live_sync is not None:
            raise RuntimeError("the live sync is already running; stop_sync first")
        records = {r.id: r for r in await self.connections.list()}

        async def connect(target: Target) -> list[None]:
            await self._ready_broker(records[target.connection_id])
            return []

        connected = await fan_out([_target(r) for r in records.values()], connect,
                                  seconds=self.read_timeout)
        skipped = dict(connected.errors)
        self._note(set(records) - set(skipped), skipped)
        tracker = latency or LatencyTracker(trust_broker_clock=frozenset(
            r.id for r in records.values() if _real_clock(r)))
        engine = SyncEngine.from_source(self, policy=policy, latency=tracker)
        feed = None
        if isinstance(self.journal, OrderJournal):
            feed = JournalFeed(engine.subscribe(is_order_event), self.journal)
            feed.start()
        events = engine.subscribe() if subscribe else None
        self.live_sync = LiveSync(engine, feed, skipped, events)
        try:
            await engine.start()
        except BaseException:
            await self.stop_sync()
            raise
        return self.live_sync

    async def stop_sync(self) -> None:
        """Stop the live sync (streams closed, loops ended) and write the journal
        updates it already delivered; idempotent. Connections stay open."""
        live, self.live_sync = self.live_sync, None
        if live is None:
            return
        try:
            await live.engine.stop()
        finally:
            if live.feed is not None:
                await live.feed.stop()

    async def _sync_new(self, record: ConnectionRecord) -> None:
        """Add a connection just stored to the running live sync, if there is one. A
        connection that cannot be connected now is listed in ``skipped``."""
        live = self.live_sync
        if live is None:
            return
        async def connect(_: Target) -> BrokerInterface:
            return await self._ready_broker(record)

        broker = await guarded(_target(record), connect, self.read_timeout)
        if isinstance(broker, BrokerError):
            live.skipped[record.id] = broker
            self._note(set(), {record.id: broker})
            return
        if isinstance(live.engine.latency.trust_broker_clock, frozenset) and \
                _real_clock(record):
            live.engine.latency.trust_broker_clock |= {record.id}
        await live.engine.add(SyncTarget(record.id, broker))

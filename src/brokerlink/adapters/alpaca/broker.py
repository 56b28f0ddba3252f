"""``AlpacaBroker``: the ``BrokerInterface`` for one Alpaca account.

Orders always carry a client order id (the request's own), so an order whose answer was
lost (``RequestTimeoutError``) can be found with ``get_order_by_client_id`` instead of
being sent again. Changes are cancel-replace (``PATCH`` gives a new order id). Reads are
retried by the transport; writes never are.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import SecretStr

from brokerlink.adapters._shared.audit import AuditSink
from brokerlink.adapters._shared.ratelimit import RateLimiter, RateLimits
from brokerlink.adapters._shared.retry import RetryPolicy
from brokerlink.adapters._shared.transport import Transport
from brokerlink.core.capabilities import Capabilities
from brokerlink.core.dates import utc_range
from brokerlink.core.enums import (
    AssetType,
    BrokerType,
    OrderStatus,
    TimeInForce,
)
from brokerlink.core.errors import (
    BrokerConnectionError,
    NotSupportedError,
    SymbolNotFoundError,
)
from brokerlink.core.interface import BrokerBase
from brokerlink.core.models import (
    AccountBalances,
    BrokerAccount,
    BrokerCredentials,
    Order,
    OrderModify,
    OrderRequest,
    OrderResult,
    Position,
    Quote,
    Transaction,
)
from brokerlink.core.symbols import is_occ
from brokerlink.core.values import utc_now

from . import mapping
from .auth import AlpacaAuth
from .client import AlpacaClient
from .config import MAX_ACTIVITIES_PAGE, MAX_ORDERS_PAGE, AlpacaConfig
from .errors import map_error
from .spec import BASE_CAPABILITIES
from .stream import AlpacaTradeStream
from .wire import AlpacaAccount, AlpacaActivitiesQuery, AlpacaOrder, AlpacaOrdersQuery

BROKER = "alpaca"
TICK = timedelta(microseconds=1)

def capabilities_for(account: AlpacaAccount | None) -> Capabilities:
    """Alpaca's capabilities as this account has them (shorting, options level)."""
    if account is None:
        return BASE_CAPABILITIES
    level = account.options_trading_level if account.options_trading_level is not None \
        else account.options_approved_level or 0
    return BASE_CAPABILITIES.model_copy(update={
        "short_selling": bool(account.shorting_enabled), "options": level >= 1,
        "options_level": level})


class AlpacaBroker(BrokerBase):
    """One Alpaca account (live, paper or an emulator, per ``config``)."""

    def __init__(self, auth: AlpacaAuth, *, config: AlpacaConfig | None = None,
                 connection_id: str | None = None, audit: AuditSink | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config or AlpacaConfig()
        self.connection_id = connection_id
        self._auth = auth
        limits = RateLimits({"default": RateLimiter(self.config.rate_limit,
                                                    self.config.rate_period)})
        self._transport = Transport(
            broker=BROKER, base_url=self.config.base_url,
            credentials=auth, error_mapper=map_error,
            rate_limits=limits, audit=audit, retry=retry or RetryPolicy(),
            connection_id=connection_id)
        self._client = AlpacaClient(self._transport, data_url=self.config.data_url)
        self._account: AlpacaAccount | None = None
        self._capabilities = BASE_CAPABILITIES

    def __repr__(self) -> str:
        return f"AlpacaBroker(base_url={self.config.base_url!r}, " \
               f"connection_id={self.connection_id!r})"

    @property
    def broker_type(self) -> BrokerType:
        return BrokerType.ALPACA

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def account_id(self) -> str:
        """The connected account's number. Raises ``BrokerConnectionError`` before
        ``connect``."""
        if self._account is None:
            raise BrokerConnectionError("Alpaca broker is not connected: call connect() or "
                                        "use 'async with'", broker=BROKER,
                                        connection_id=self.connection_id)
        return mapping.account_id_of(self._account)

    def _as_of(self) -> datetime:
        return self._client.server_time or utc_now()

    # --- lifecycle ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection pool and load the account. Raises ``AuthError`` for
        refused credentials, ``UnexpectedResponseError`` for an account answer that
        cannot be read, or a transient error if Alpaca cannot be reached. Every failure
        is a ``BrokerError``."""
        await self._transport.open()
        await self._load_account()

    async def disconnect(self) -> None:
        """Close the pool; ``is_connected()`` is False afterwards. Idempotent."""
        self._account = None
        await self._transport.aclose()

    async def refresh_token(self) -> None:
        """Alpaca's keys and OAuth tokens do not expire: nothing to refresh."""

    def is_connected(self) -> bool:
        return self._account is not None

    # --- account ------------------------------------------------------------------------

    async def _load_account(self) -> AlpacaAccount:
        account = await self._client.get_account()
        self._account = account
        self._capabilities = capabilities_for(account)
        return account

    async def get_account(self) -> BrokerAccount:
        self._require()
        account = await self._load_account()
        with self._client.reading("get_account", write=False):
            return mapping.account_from_wire(account, as_of=self._as_of())

    async def get_balances(self) -> AccountBalances:
        self._require()
        account = await self._load_account()
        with self._client.reading("get_account", write=False):
            return mapping.balances_from_wire(account, as_of=self._as_of())

    async def get_positions(self) -> list[Position]:
        account_id = self.account_id
        positions = await self._client.list_positions()
        as_of = self._as_of()
        with self._client.reading("list_positions", write=False):
            return [mapping.position_from_wire(p, account_id, as_of=as_of) for p in positions]

    # --- orders -------------------------------------------------------------------------

    def _order(self, wire: AlpacaOrder, operation: str, *, write: bool = False,
               client_order_id: str | None = None) -> Order:
        """The core order for ``wire``. A wire order the mapping refuses (an unknown
        side, values a core ``Order`` cannot hold) is an unreadable answer:
        ``UnexpectedResponseError`` for a read, ``UnreadableAcknowledgementError`` for a
        write (the broker may have acted)."""
        with self._client.reading(operation, write=write, client_order_id=client_order_id):
            return mapping.order_from_wire(wire, self.account_id, as_of=self._as_of())

    async def place_order(self, order: OrderRequest) -> OrderResult:
        """Send ``order`` once, with its client order id. Raises ``NotSupportedError``
        before any I/O for what Alpaca cannot take, a rejection error, or
        ``RequestTimeoutError`` (carrying the client order id) when the answer was lost:
        then call ``get_order_by_client_id``, do not resend."""
        self._require()
        self._capabilities.check_order(order, broker=BROKER)
        if order.asset_type is AssetType.OPTION and order.time_in_force is not TimeInForce.DAY:
            raise NotSupportedError("Alpaca takes option orders with time_in_force day only",
                                    broker=BROKER, connection_id=self.connection_id)
        placed = await self._client.place_order(mapping.order_to_wire(order))
        return self._order(placed, "place_order", write=True,
                           client_order_id=order.client_order_id).to_result()

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        """Cancel-replace: the result is the *new* order (its ``replaces`` is
        ``order_id``). Raises ``OrderNotFoundError``, ``InvalidOrderError`` (the order can
        no longer change) or ``RequestTimeoutError``."""
        self._require()
        self._capabilities.check_modify(changes, broker=BROKER)
        replaced = await self._client.replace_order(order_id, mapping.modify_to_wire(changes))
        return self._order(replaced, "replace_order", write=True,
                           client_order_id=changes.client_order_id).to_result()

    async def cancel_order(self, order_id: str) -> bool:
        """True once Alpaca accepted the cancel (204). Raises ``OrderNotFoundError`` or
        ``InvalidOrderError`` (not cancelable any more)."""
        self._require()
        await self._client.cancel_order(order_id)
        return True

    async def get_order(self, order_id: str) -> Order:
        self._require()
        return self._order(await self._client.get_order(order_id), "get_order")

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The order sent with ``client_order_id``. Raises ``OrderNotFoundError``."""
        self._require()
        wire = await self._client.get_order_by_client_order_id(client_order_id)
        return self._order(wire, "get_order_by_client_id")

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        """All orders (newest first), or those in ``status``."""
        self._require()
        orders = [self._order(w, "list_orders")
                  for w in await self._all_orders(status=_query_for(status))]
        return [o for o in orders if status is None or o.status is status]

    async def get_order_history(self, start: date | datetime, end: date | datetime) -> list[Order]:
        """Orders submitted from ``start`` to ``end`` inclusive, oldest first."""
        start, end = utc_range(start, end)
        self._require()
        wires = await self._all_orders(status="all", after=start - TICK, until=end + TICK,
                                       direction="asc")
        return [self._order(w, "list_orders") for w in wires]

    async def _all_orders(self, *, status: Literal["open", "closed", "all"],
                          after: datetime | None = None, until: datetime | None = None,
                          direction: Literal["asc", "desc"] = "desc") -> list[AlpacaOrder]:
        """Every matching order, page by page. Alpaca pages by time, so the next page
        restarts at the last time seen (inclusive) and repeats are dropped by id."""
        seen: dict[str, AlpacaOrder] = {}
        while True:
            page = await self._client.list_orders(AlpacaOrdersQuery(
                status=status, limit=MAX_ORDERS_PAGE, after=after, until=until,
                direction=direction))
            fresh = [w for w in page if w.id not in seen]
            seen.update((w.id, w) for w in fresh)
            if len(page) < MAX_ORDERS_PAGE or not fresh:
                return list(seen.values())
            edge = page[-1].submitted_at or page[-1].created_at
            if edge is None:
                return list(seen.values())
            if direction == "asc":
                after = edge - TICK
            else:
                until = edge + TICK

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        """Fills and cash activities from ``start`` to ``end`` inclusive, oldest first."""
        start, end = utc_range(start, end)
        account_id = self.account_id
        token: str | None = None
        result: list[Transaction] = []
        while True:
            page = await self._client.list_activities(AlpacaActivitiesQuery(
                after=start - TICK, until=end + TICK, direction="asc",
                page_size=MAX_ACTIVITIES_PAGE, page_token=token))
            as_of = self._as_of()
            with self._client.reading("list_activities", write=False):
                result.extend(mapping.transaction_from_wire(a, account_id, as_of=as_of)
                              for a in page)
            if len(page) < MAX_ACTIVITIES_PAGE:
                return result
            token = page[-1].id

    # --- quotes -------------------------------------------------------------------------

    async def get_quote(self, symbol: str) -> Quote:
        """Raises ``SymbolNotFoundError`` for a symbol Alpaca has no quote for."""
        return (await self.get_quotes([symbol]))[symbol]

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Latest quotes (bid/ask) with the latest trade as ``last``. Raises
        ``SymbolNotFoundError`` naming every symbol without a quote."""
        self._require()
        options = [s for s in symbols if is_occ(s)]
        stocks = [s for s in symbols if s not in options]
        quotes: dict[str, Any] = {}
        trades: dict[str, Any] = {}
        if stocks:
            quotes.update(await self._client.latest_stock_quotes(stocks))
            trades.update(await self._client.latest_stock_trades(stocks))
        if options:
            quotes.update(await self._client.latest_option_quotes(options))
            trades.update(await self._client.latest_option_trades(options))
        missing = [s for s in symbols if s not in quotes]
        if missing:
            raise SymbolNotFoundError(
                f"Alpaca has no quote for: {', '.join(missing)}. Check the symbols",
                symbol=missing[0], broker=BROKER, connection_id=self.connection_id)
        as_of = self._as_of()
        with self._client.reading("get_stock_quotes", write=False):
            return {s: mapping.quote_from_wire(s, quotes[s],
                                               trades[s].p if s in trades else None,
                                               as_of=as_of)
                    for s in symbols}

    # --- streaming ----------------------------------------------------------------------

    def order_updates(self) -> AlpacaTradeStream:
        """This account's ``trade_updates`` stream, the kit's one streaming method
        (``async with`` it, then iterate; it reconnects by itself, see
        ``AlpacaTradeStream``). Raises ``BrokerConnectionError`` before ``connect``."""
        return AlpacaTradeStream(self.config.stream_url, self._auth, self.account_id,
                                 connection_id=self.connection_id)

    def _require(self) -> None:
        self.account_id  # noqa: B018  (raises BrokerConnectionError when not connected)


def _query_for(status: OrderStatus | None) -> Literal["open", "closed", "all"]:
    """Alpaca's ``status`` filter (open|closed|all) that contains ``status``."""
    if status is None or status is OrderStatus.UNKNOWN:
        return "all"
    return "open" if status.is_open else "closed"


def create(credentials: BrokerCredentials | None = None, *,
           api_key: SecretStr | str | None = None,
           api_secret: SecretStr | str | None = None,
           access_token: SecretStr | str | None = None,
           base_url: str | None = None, paper: bool = True, emulator_url: str | None = None,
           connection_id: str | None = None,
           audit: AuditSink | None = None) -> AlpacaBroker:
    """The registry factory: ``create_broker("alpaca", api_key=..., api_secret=...)``.

    ``credentials`` (stored ``BrokerCredentials``) or keys/token as keywords;
    ``emulator_url`` points everything at a local emulator, else ``base_url`` or
    paper/live. Raises ``AuthError`` when no credentials are given."""
    if credentials is not None:
        auth = AlpacaAuth.from_credentials(credentials)
        base_url = base_url or credentials.base_url
    else:
        auth = AlpacaAuth(key_id=api_key, secret_key=api_secret, oauth_token=access_token)
    if emulator_url is not None:
        config = AlpacaConfig.emulator(emulator_url)
    elif base_url is not None:
        config = AlpacaConfig.for_url(base_url)
    else:
        config = AlpacaConfig.paper_trading() if paper else AlpacaConfig.live()
    return AlpacaBroker(auth, config=config, connection_id=connection_id, audit=audit)

"""``TradierBroker``: ``BrokerInterface`` over Tradier's Brokerage API.

Tradier specifics a caller may notice (each documented where it is handled):

* Orders keep their id when changed (native modify, ``PUT``), but only price, stop and
  duration can change: a new quantity is refused with ``NotSupportedError``.
* There is no client-order-id field. The ``client_order_id`` travels in Tradier's
  ``tag``; ``get_order_by_client_id`` finds an order by it (so
  ``capabilities.client_order_ids`` is true), which is how an ambiguous ``place_order``
  (``RequestTimeoutError``) is reconciled.
* Placing answers only ``{"id", "status": "ok"}``; the order is read back once so the
  result has its real status (a fill of a market order shows at once).
* Positions carry no prices: value and P&L come from one quotes call.
* History is clearing data without order ids, so fills in ``get_transactions`` come from
  the orders (one per order, at its average price) and cash movements from history.
* Payloads carry no read time, so ``as_of`` is the broker's clock from the last
  response's ``Date`` header (whole seconds), as the Alpaca adapter does.

Every method takes and returns core models; Tradier's extras (``place_multileg_order``,
``preview_order``, ``get_gain_loss``) use the broker-neutral ones in
``brokerlink.core.extras``. A broker answer that cannot be read or mapped raises
``UnexpectedResponseError`` (reads) or ``UnreadableAcknowledgementError`` (writes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from brokerlink.adapters._shared import (
    AuditSink,
    CredentialSource,
    RetryPolicy,
    Transport,
)
from brokerlink.core.capabilities import Capabilities
from brokerlink.core.dates import utc_range
from brokerlink.core.enums import BrokerType, OrderStatus
from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerError,
    NotSupportedError,
    OrderNotFoundError,
    SymbolNotFoundError,
)
from brokerlink.core.extras import ClosedPosition, MultiLegOrderRequest, OrderPreview
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

from . import mapping
from .auth import TradierAuth
from .client import TradierClient
from .config import TradierConfig
from .errors import map_error
from .spec import TRADIER_CAPABILITIES
from .stream import TradierAccountStream
from .wire import WireAccount, WireOrder

BROKER = "tradier"
NEW_YORK = ZoneInfo("America/New_York")
PRE_MARKET_ENDS = dtime(9, 30)
POST_MARKET_ENDS = dtime(20, 0)

def capabilities_for(account: WireAccount | None) -> Capabilities:
    """Tradier's capabilities as this account has them: short selling on margin (and
    pdt) accounts only, options at the account's ``option_level`` (1-6)."""
    if account is None:
        return TRADIER_CAPABILITIES
    return TRADIER_CAPABILITIES.model_copy(update={
        "short_selling": account.type in ("margin", "pdt"),
        "options": account.option_level >= 1, "options_level": account.option_level,
        "multi_leg": account.option_level >= 1})


class TradierBroker(BrokerBase):
    """One Tradier account (``account_id``, or the first account of the profile), at
    ``config``, else ``base_url``, else the sandbox unless ``sandbox=False`` (live is
    never the default)."""

    def __init__(
        self,
        *,
        access_token: SecretStr | str | None = None,
        credentials: BrokerCredentials | None = None,
        token_source: CredentialSource | None = None,
        account_id: str | None = None,
        base_url: str | None = None,
        sandbox: bool = True,
        config: TradierConfig | None = None,
        connection_id: str | None = None,
        audit: AuditSink | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config or TradierConfig.for_base_url(
            base_url or (credentials.base_url if credentials else None), sandbox=sandbox)
        self.connection_id = connection_id
        self._account_id = account_id or (credentials.account_id if credentials else None)
        self.auth = TradierAuth.resolve(access_token=access_token, credentials=credentials,
                                        source=token_source)
        self._transport = Transport(
            broker=BROKER, base_url=self.config.base_url,
            credentials=self.auth.credential_source(),
            error_mapper=map_error, rate_limits=self.config.rate_limits(), audit=audit,
            retry=retry or RetryPolicy(), connection_id=connection_id)
        self.client = TradierClient(self._transport)
        self._account: WireAccount | None = None

    def __repr__(self) -> str:
        return (f"TradierBroker(account_id={self._account_id!r}, "
                f"base_url={self.config.base_url!r})")

    @property
    def broker_type(self) -> BrokerType:
        return BrokerType.TRADIER

    @property
    def capabilities(self) -> Capabilities:
        return capabilities_for(self._account)

    @property
    def account_id(self) -> str:
        """The account traded. Raises ``BrokerConnectionError`` before ``connect``."""
        if self._account is None:
            raise BrokerConnectionError("Tradier broker is not connected: call connect() "
                                        "or use 'async with'", broker=BROKER,
                                        connection_id=self.connection_id)
        return self._account.account_number

    # --- lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        """Read the profile, pick the account and the broker's clock. Raises
        ``AuthError`` for a refused token, ``BrokerError`` if ``account_id`` is not in
        the profile, or a transient error."""
        await self._transport.open()
        profile = await self.client.get_profile()
        wanted = self._account_id
        chosen = next((a for a in profile.account
                       if wanted is None or a.account_number == wanted), None)
        if chosen is None:
            listed = ", ".join(a.account_number for a in profile.account) or "none"
            raise BrokerError(f"Tradier account {wanted} is not in this token's profile "
                              f"(accounts: {listed})", broker=BROKER,
                              connection_id=self.connection_id)
        self._account = chosen

    async def disconnect(self) -> None:
        self._account = None
        await self._transport.aclose()

    async def refresh_token(self) -> None:
        """A static token cannot be refreshed; an OAuth credential source refreshes
        itself before each request."""

    def is_connected(self) -> bool:
        return self._account is not None

    def _now(self) -> datetime:
        """The broker's time as of its last answer (see the module docstring)."""
        return self.client.now()

    def _before_open(self) -> bool:
        """Whether the next extended session is the pre-market (Tradier's ``pre``)
        rather than the post-market (``post``), by New York time."""
        local = self._now().astimezone(NEW_YORK).time()
        return local < PRE_MARKET_ENDS or local >= POST_MARKET_ENDS

    @contextmanager
    def _mapping(self, operation: str) -> Iterator[None]:
        """Map what Tradier answered to a read: a value the mapping cannot take (an
        absurd number, a field that breaks a core rule) raises
        ``UnexpectedResponseError``, never an untyped error."""
        with self.client.reading(operation, write=False):
            yield

    # --- account ---------------------------------------------------------------------

    async def get_account(self) -> BrokerAccount:
        profile = await self.client.get_profile()
        account = next((a for a in profile.account
                        if a.account_number == self.account_id), None)
        if account is None:
            raise BrokerError(f"Tradier account {self.account_id} left the profile",
                              broker=BROKER, connection_id=self.connection_id)
        self._account = account
        with self._mapping("get_account"):
            return mapping.account_from_wire(account, as_of=self._now())

    async def get_balances(self) -> AccountBalances:
        wire = await self.client.get_balances(self.account_id)
        with self._mapping("get_balances"):
            return mapping.balances_from_wire(wire, as_of=self._now())

    async def get_positions(self) -> list[Position]:
        wires = await self.client.get_positions(self.account_id)
        if not wires:
            return []
        quotes = await self.client.get_quotes(sorted({w.symbol for w in wires}))
        by_symbol = {q.symbol: q for q in quotes.quote}
        now = self._now()
        with self._mapping("get_positions"):
            return [mapping.position_from_wire(w, by_symbol.get(w.symbol),
                                               account_id=self.account_id, as_of=now)
                    for w in wires]

    # --- orders ----------------------------------------------------------------------

    async def place_order(self, order: OrderRequest) -> OrderResult:
        """Place once; ``client_order_id`` travels as the tag. Raises the typed
        rejection, ``NotSupportedError``/``InvalidOrderError`` before any I/O, or
        ``RequestTimeoutError`` (an ``UnreadableAcknowledgementError`` when the answer
        could not be read): reconcile with ``get_order_by_client_id``, never resend."""
        self.capabilities.check_order(order, broker=BROKER)
        form = mapping.order_to_wire(order, before_open=self._before_open())
        ack = await self.client.place_order(self.account_id, form,
                                            client_order_id=order.client_order_id)
        return await self._result_for(ack.id, order.client_order_id)

    async def place_multileg_order(self, order: MultiLegOrderRequest) -> OrderResult:
        """Tradier's multileg (every leg an option) or combo (one equity leg) order; the
        legs are listed as orders sharing ``order.client_order_id``. Raises
        ``NotSupportedError`` when the account takes no multileg orders, and otherwise
        like ``place_order``."""
        if not self.capabilities.multi_leg:
            raise NotSupportedError("this Tradier account takes no multileg orders (its "
                                    "option level is too low)", broker=BROKER)
        wire = mapping.multileg_order_to_wire(order)
        ack = await self.client.place_order(self.account_id, wire,
                                            client_order_id=order.client_order_id)
        return OrderResult(success=True,
                           order_id=str(ack.id) if ack.id is not None else None,
                           status=OrderStatus.PENDING_NEW,
                           client_order_id=order.client_order_id, raw_status=ack.status)

    async def preview_order(self, order: OrderRequest) -> OrderPreview:
        """Ask Tradier what ``order`` would cost without placing it (``preview=true``).
        Raises the same typed rejections ``place_order`` would."""
        self.capabilities.check_order(order, broker=BROKER)
        form = mapping.order_to_wire(order, before_open=self._before_open())
        wire = await self.client.preview_order(self.account_id, form)
        with self._mapping("preview_order"):
            return mapping.preview_from_wire(wire)

    async def _result_for(self, order_id: int | None, client_order_id: str | None,
                          ) -> OrderResult:
        if order_id is None:
            return OrderResult(success=True, order_id=None, status=OrderStatus.PENDING_NEW,
                               client_order_id=client_order_id)
        try:
            wire = await self.client.get_order(self.account_id, str(order_id))
            with self._mapping("get_order"):
                return self._order(wire).to_result()
        except BrokerError:
            # The order was accepted; failing to read it back must not look like a refusal.
            return OrderResult(success=True, order_id=str(order_id),
                               status=OrderStatus.PENDING_NEW, client_order_id=client_order_id,
                               message="accepted; its status could not be read back yet")

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        """Change price, stop or duration in place (the id stays). Raises
        ``NotSupportedError`` for a quantity or trailing change, before any I/O, and
        ``UnreadableAcknowledgementError`` when the answer cannot be read."""
        self.capabilities.check_modify(changes, broker=BROKER)
        if changes.quantity is not None:
            raise NotSupportedError("Tradier cannot change an order's quantity; cancel it "
                                    "and place a new one", broker=BROKER)
        if changes.trail_amount is not None or changes.trail_percent is not None:
            raise NotSupportedError("Tradier has no trailing stops", broker=BROKER)
        checked = self._order_id(order_id)
        await self.client.change_order(self.account_id, checked,
                                       mapping.modify_to_wire(changes),
                                       client_order_id=changes.client_order_id)
        return await self._result_for(int(checked), changes.client_order_id)

    async def cancel_order(self, order_id: str) -> bool:
        """Raises ``OrderNotFoundError``, ``InvalidOrderError`` (already final), or
        ``UnreadableAcknowledgementError`` when the answer cannot be read."""
        await self.client.cancel_order(self.account_id, self._order_id(order_id))
        return True

    async def get_order(self, order_id: str) -> Order:
        wire = await self.client.get_order(self.account_id, self._order_id(order_id))
        with self._mapping("get_order"):
            return self._order(wire)

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The order whose tag is ``client_order_id`` (the newest if several; a multileg
        order's first leg). Tradier has no client-order-id field: the id rides in the tag
        and every order is listed to find it. Raises ``OrderNotFoundError``, or
        ``InvalidOrderError`` for an id no tag can hold."""
        self.capabilities.require("client_order_ids", broker=BROKER)
        tag = mapping.client_order_id_to_wire(client_order_id)
        matches = [w for w in mapping.flatten(await self.client.get_orders(self.account_id))
                   if w.tag == tag]
        if not matches:
            raise OrderNotFoundError(f"no Tradier order is tagged {client_order_id!r}",
                                     order_id=client_order_id, broker=BROKER,
                                     connection_id=self.connection_id)
        with self._mapping("get_order_by_client_id"):
            return self._order(max(matches, key=lambda w: w.id))

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        wires = mapping.flatten(await self.client.get_orders(self.account_id))
        with self._mapping("get_orders"):
            orders = [self._order(w) for w in wires]
        orders.sort(key=lambda o: int(o.order_id), reverse=True)
        return [o for o in orders if status is None or o.status is status]

    async def get_order_history(self, start: date | datetime, end: date | datetime) -> list[Order]:
        start, end = utc_range(start, end)
        return [o for o in await self.get_orders()
                if o.submitted_at is not None and start <= o.submitted_at <= end]

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        start, end = utc_range(start, end)
        orders = mapping.flatten(await self.client.get_orders(self.account_id))
        events = await self.client.get_history(self.account_id, start=start.date(),
                                               end=end.date())
        now = self._now()
        with self._mapping("get_transactions"):
            fills = [mapping.fill_from_wire(w, account_id=self.account_id, as_of=now)
                     for w in orders]
            cash = [mapping.transaction_from_wire(e, account_id=self.account_id, as_of=now)
                    for e in events if e.type != "trade"]
        found = [t for t in (*fills, *cash) if t is not None and start <= t.timestamp <= end]
        return sorted(found, key=lambda t: t.timestamp)

    def _order(self, wire: WireOrder) -> Order:
        return mapping.order_from_wire(wire, account_id=self.account_id, as_of=self._now())

    def _order_id(self, order_id: str) -> str:
        """Tradier order ids are integers: any other id cannot exist there."""
        if not order_id.strip().isdigit() or len(order_id.strip()) > 19:
            raise OrderNotFoundError(f"{order_id!r} is not a Tradier order id (they are "
                                     "integers)", order_id=order_id, broker=BROKER,
                                     connection_id=self.connection_id)
        return order_id.strip()

    async def get_gain_loss(self, start: date | datetime | None = None,
                            end: date | datetime | None = None) -> list[ClosedPosition]:
        """Closed positions with their realised gain (Tradier's ``/gainloss``, clearing
        data updated nightly), newest close first. A datetime counts by its UTC date."""
        wires = await self.client.get_gainloss(self.account_id, start=_day(start),
                                               end=_day(end))
        with self._mapping("get_gain_loss"):
            return [mapping.closed_position_from_wire(w) for w in wires]

    # --- market data -----------------------------------------------------------------

    async def get_quote(self, symbol: str) -> Quote:
        return (await self.get_quotes([symbol]))[symbol]

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Raises ``SymbolNotFoundError`` naming every symbol Tradier did not match."""
        wire = await self.client.get_quotes([s.strip().upper() for s in symbols])
        now = self._now()
        if wire.unmatched:
            raise SymbolNotFoundError(f"Tradier does not know: {', '.join(wire.unmatched)}",
                                      symbol=wire.unmatched[0], broker=BROKER,
                                      connection_id=self.connection_id)
        with self._mapping("get_quotes"):
            by_symbol = {q.symbol.upper(): mapping.quote_from_wire(q, as_of=now)
                         for q in wire.quote}
        result: dict[str, Quote] = {}
        for symbol in symbols:
            quote = by_symbol.get(symbol.strip().upper())
            if quote is None:
                raise SymbolNotFoundError(f"Tradier sent no quote for {symbol}",
                                          symbol=symbol, broker=BROKER,
                                          connection_id=self.connection_id)
            result[symbol] = quote
        return result

    # --- streaming -------------------------------------------------------------------

    def order_updates(self) -> TradierAccountStream:
        """The account's order updates (``async with`` it, then iterate). Reopens itself
        with capped, jittered backoff after a drop; see ``TradierAccountStream``. Raises
        ``BrokerConnectionError`` before ``connect``."""
        self.capabilities.require("streaming", broker=BROKER)
        return TradierAccountStream(self.client, self.account_id,
                                    connection_id=self.connection_id)


def _day(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return utc_range(value, value)[0].date()
    return value


def create(credentials: BrokerCredentials | None = None, *,
           access_token: SecretStr | str | None = None, account_id: str | None = None,
           base_url: str | None = None, sandbox: bool = True,
           emulator_url: str | None = None, token_source: CredentialSource | None = None,
           connection_id: str | None = None, audit: AuditSink | None = None) -> TradierBroker:
    """The registry factory: ``create_broker("tradier", access_token=..., account_id=...)``.

    ``credentials`` (stored ``BrokerCredentials``) or a token as a keyword (or a
    ``token_source``, e.g. an OAuth token manager); ``emulator_url`` points at a local
    emulator, else ``base_url`` or sandbox/live. Without ``account_id`` the profile's
    first account is used. Raises ``AuthError`` when there is no token."""
    config = TradierConfig.emulator(emulator_url) if emulator_url is not None else None
    return TradierBroker(access_token=access_token, credentials=credentials,
                         token_source=token_source, account_id=account_id,
                         base_url=base_url, sandbox=sandbox, config=config,
                         connection_id=connection_id, audit=audit)

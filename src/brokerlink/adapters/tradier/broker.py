"""``TradierBroker``: ``BrokerInterface`` over Tradier's Brokerage API.

Tradier specifics a caller may notice (each documented where it is handled):

* Orders keep their id when changed (native modify, ``PUT``), but only price, stop and
  duration can change: a new quantity is refused with ``NotSupportedError``.
* There is no client-order-id field. The ``client_order_id`` travels in Tradier's
  ``tag``; ``get_order_by_client_id`` finds an order by it, which is how an ambiguous
  ``place_order`` (``RequestTimeoutError``) is reconciled.
* Placing answers only ``{"id", "status": "ok"}``; the order is read back once so the
  result has its real status (a fill of a market order shows at once).
* Positions carry no prices: value and P&L come from one quotes call.
* History is clearing data without order ids, so fills in ``get_transactions`` come from
  the orders (one per order, at its average price) and cash movements from history.
* Payloads carry no read time, so ``as_of`` is the broker's clock from the last
  response's ``Date`` header (whole seconds), as the Alpaca adapter does.
"""

from __future__ import annotations

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
from .auth import credential_source
from .client import TradierClient
from .config import TradierConfig
from .errors import map_error
from .spec import TRADIER_CAPABILITIES
from .stream import TradierAccountStream
from .wire import MultilegOrder, WireAccount, WireOrder

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
    """One Tradier account (``account_id``, or the first account of the profile)."""

    def __init__(
        self,
        *,
        access_token: SecretStr | str | None = None,
        credentials: BrokerCredentials | None = None,
        token_source: CredentialSource | None = None,
        account_id: str | None = None,
        base_url: str | None = None,
        sandbox: bool = False,
        config: TradierConfig | None = None,
        connection_id: str | None = None,
        audit: AuditSink | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config or TradierConfig.for_base_url(
            base_url or (credentials.base_url if credentials else None), sandbox=sandbox)
        self.connection_id = connection_id
        self._account_id = account_id or (credentials.account_id if credentials else None)
        self._transport = Transport(
            broker=BROKER, base_url=self.config.base_url,
            credentials=credential_source(access_token=access_token, credentials=credentials,
                                          source=token_source),
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

    # --- account ---------------------------------------------------------------------

    async def get_account(self) -> BrokerAccount:
        profile = await self.client.get_profile()
        account = next((a for a in profile.account
                        if a.account_number == self.account_id), None)
        if account is None:
            raise BrokerError(f"Tradier account {self.account_id} left the profile",
                              broker=BROKER, connection_id=self.connection_id)
        self._account = account
        return mapping.to_account(account, as_of=self._now())

    async def get_balances(self) -> AccountBalances:
        wire = await self.client.get_balances(self.account_id)
        return mapping.to_balances(wire, as_of=self._now())

    async def get_positions(self) -> list[Position]:
        wires = await self.client.get_positions(self.account_id)
        if not wires:
            return []
        quotes = await self.client.get_quotes(sorted({w.symbol for w in wires}))
        by_symbol = {q.symbol: q for q in quotes.quote}
        now = self._now()
        return [mapping.to_position(w, by_symbol.get(w.symbol), account_id=self.account_id,
                                    as_of=now) for w in wires]

    # --- orders ----------------------------------------------------------------------

    async def place_order(self, order: OrderRequest) -> OrderResult:
        """Place once; ``client_order_id`` travels as the tag. Raises the typed
        rejection, ``NotSupportedError`` before any I/O, or ``RequestTimeoutError``
        (reconcile with ``get_order_by_client_id``)."""
        self.capabilities.check_order(order, broker=BROKER)
        form = mapping.order_form(order, before_open=self._before_open())
        ack = await self.client.place_order(self.account_id, form,
                                            client_order_id=order.client_order_id)
        return await self._result_for(ack.id, order.client_order_id)

    async def place_multileg_order(self, order: MultilegOrder, *,
                                   client_order_id: str | None = None) -> OrderResult:
        """Tradier's multileg (all option legs) or combo (one equity leg) order. Raises
        like ``place_order``."""
        form: dict[str, str] = {"class": order.order_class, "symbol": order.symbol,
                                "type": order.type, "duration": order.duration}
        if order.price is not None:
            form["price"] = format(order.price, "f")
        for index, leg in enumerate(order.legs):
            form[f"side[{index}]"] = leg.side
            form[f"quantity[{index}]"] = format(leg.quantity, "f")
            if leg.option_symbol:
                form[f"option_symbol[{index}]"] = leg.option_symbol
        if client_order_id is not None:
            form["tag"] = mapping.tag_for(client_order_id)
        ack = await self.client.place_order(self.account_id, form,
                                            client_order_id=client_order_id)
        return OrderResult(success=True, order_id=str(ack.id), status=OrderStatus.PENDING_NEW,
                           client_order_id=client_order_id, raw_status=ack.status)

    async def preview_order(self, order: OrderRequest) -> mapping.OrderPreview:
        """Ask Tradier what ``order`` would cost without placing it (``preview=true``).
        Raises the same typed rejections ``place_order`` would."""
        self.capabilities.check_order(order, broker=BROKER)
        form = mapping.order_form(order, before_open=self._before_open())
        return mapping.to_preview(await self.client.preview_order(self.account_id, form))

    async def _result_for(self, order_id: int | None, client_order_id: str | None,
                          ) -> OrderResult:
        if order_id is None:
            return OrderResult(success=True, order_id=None, status=OrderStatus.PENDING_NEW,
                               client_order_id=client_order_id)
        try:
            wire = await self.client.get_order(self.account_id, str(order_id))
        except BrokerError:
            # The order was accepted; failing to read it back must not look like a refusal.
            return OrderResult(success=True, order_id=str(order_id),
                               status=OrderStatus.PENDING_NEW, client_order_id=client_order_id,
                               message="accepted; its status could not be read back yet")
        return self._order(wire).to_result()

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        """Change price, stop or duration in place (the id stays). Raises
        ``NotSupportedError`` for a quantity or trailing change, before any I/O."""
        self.capabilities.check_modify(changes, broker=BROKER)
        if changes.quantity is not None:
            raise NotSupportedError("Tradier cannot change an order's quantity; cancel it "
                                    "and place a new one", broker=BROKER)
        if changes.trail_amount is not None or changes.trail_percent is not None:
            raise NotSupportedError("Tradier has no trailing stops", broker=BROKER)
        checked = self._order_id(order_id)
        await self.client.change_order(self.account_id, checked, mapping.change_form(changes))
        return await self._result_for(int(checked), changes.client_order_id)

    async def cancel_order(self, order_id: str) -> bool:
        await self.client.cancel_order(self.account_id, self._order_id(order_id))
        return True

    async def get_order(self, order_id: str) -> Order:
        return self._order(await self.client.get_order(self.account_id,
                                                       self._order_id(order_id)))

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The order whose tag is ``client_order_id`` (the newest if several). Raises
        ``OrderNotFoundError``."""
        tag = mapping.tag_for(client_order_id)
        matches = [w for w in mapping.flatten(await self.client.get_orders(self.account_id))
                   if w.tag == tag]
        if not matches:
            raise OrderNotFoundError(f"no Tradier order is tagged {client_order_id!r}",
                                     order_id=client_order_id, broker=BROKER,
                                     connection_id=self.connection_id)
        return self._order(max(matches, key=lambda w: w.id))

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        orders = [self._order(w) for w in
                  mapping.flatten(await self.client.get_orders(self.account_id))]
        orders.sort(key=lambda o: int(o.order_id), reverse=True)
        return [o for o in orders if status is None or o.status is status]

    async def get_order_history(self, start: date | datetime, end: date | datetime) -> list[Order]:
        start, end = utc_range(start, end)
        return [o for o in await self.get_orders()
                if o.submitted_at is not None and start <= o.submitted_at <= end]

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        start, end = utc_range(start, end)
        now = self._now()
        fills = [mapping.fill_from_order(w, account_id=self.account_id, as_of=now)
                 for w in mapping.flatten(await self.client.get_orders(self.account_id))]
        events = await self.client.get_history(self.account_id, start=start.date(),
                                               end=end.date())
        cash = [mapping.from_history(e, account_id=self.account_id, as_of=now)
                for e in events if e.type != "trade"]
        found = [t for t in (*fills, *cash) if t is not None and start <= t.timestamp <= end]
        return sorted(found, key=lambda t: t.timestamp)

    def _order(self, wire: WireOrder) -> Order:
        return mapping.to_order(wire, account_id=self.account_id, as_of=self._now())

    def _order_id(self, order_id: str) -> str:
        """Tradier order ids are integers: any other id cannot exist there."""
        if not order_id.strip().isdigit():
            raise OrderNotFoundError(f"{order_id!r} is not a Tradier order id (they are "
                                     "integers)", order_id=order_id, broker=BROKER,
                                     connection_id=self.connection_id)
        return order_id.strip()

    async def get_gain_loss(self, start: datetime | None = None,
                            end: datetime | None = None) -> list[mapping.ClosedPosition]:
        """Closed positions with their realised gain (Tradier's ``/gainloss``, clearing
        data updated nightly), newest close first."""
        wires = await self.client.get_gainloss(
            self.account_id, start=start.date() if start else None,
            end=end.date() if end else None)
        return [mapping.to_closed_position(w) for w in wires]

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
        by_symbol = {q.symbol.upper(): mapping.to_quote(q, as_of=now) for q in wire.quote}
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

    def order_stream(self) -> TradierAccountStream:
        """The account's order updates (``async with`` it, then iterate). Reconnects by
        itself; see ``TradierAccountStream``."""
        return TradierAccountStream(self.client, self.account_id,
                                    connection_id=self.connection_id)

    def order_updates(self) -> TradierAccountStream:
        """The uniform streaming method (``brokerlink.core.events.StreamingBroker``): the
        account's order stream. Raises ``BrokerConnectionError`` before ``connect``."""
        return self.order_stream()


def create(credentials: BrokerCredentials | None = None, *,
           access_token: SecretStr | str | None = None, account_id: str | None = None,
           base_url: str | None = None, sandbox: bool = False,
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

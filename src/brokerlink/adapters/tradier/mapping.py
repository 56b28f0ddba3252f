"""Pure translation between Tradier's wire models and brokerlink's core models.

Explicit tables, both ways. Names follow the kit's rule: ``<core_thing>_from_wire`` for
wire -> core, ``<thing>_to_wire`` for core -> wire (a typed request model from
``wire.py``). Two Tradier facts shape this module:

* **Positions carry no prices.** Tradier returns ``cost_basis`` (total, x100 for
  options), ``quantity`` and ``date_acquired`` only; average cost, price, market value
  and unrealised P&L are derived here from a quote (REFERENCE.md section 3.3).
* **No client order id field.** Tradier's free-text ``tag`` (letters, digits and ``-``,
  up to 255) carries our ``client_order_id``, and orders are found by tag to reconcile
  an ambiguous write (list with ``includeTags=true``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    BrokerType,
    DataSource,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import InvalidOrderError, SymbolNotFoundError
from brokerlink.core.extras import (
    ClosedPosition,
    MultiLegOrderRequest,
    NetPriceType,
    OrderPreview,
)
from brokerlink.core.models import (
    AccountBalances,
    BrokerAccount,
    Order,
    OrderModify,
    OrderRequest,
    Position,
    Quote,
    Transaction,
)
from brokerlink.core.symbols import parse_occ

from .wire import (
    ChangeForm,
    MultilegLeg,
    MultilegOrder,
    OrderForm,
    Side,
    WireAccount,
    WireBalances,
    WireClosedPosition,
    WireHistoryEvent,
    WireOrder,
    WireOrderEvent,
    WireOrderPreview,
    WirePosition,
    WireQuote,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")

# --- enumerations --------------------------------------------------------------------

STATUS_FROM_WIRE: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING_NEW,
    "open": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "expired": OrderStatus.EXPIRED,
    "canceled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    # "error": the order failed at Tradier and will never work; terminal like a rejection.
    "error": OrderStatus.REJECTED,
    # Account-stream only (REFERENCE.md section 4).
    "calculated": OrderStatus.PENDING_NEW,
    "accepted_for_bidding": OrderStatus.NEW,
    "held": OrderStatus.PENDING_NEW,
}

STATUS_TO_WIRE: dict[OrderStatus, tuple[str, ...]] = {}
for _raw, _status in STATUS_FROM_WIRE.items():
    STATUS_TO_WIRE.setdefault(_status, ())
    STATUS_TO_WIRE[_status] += (_raw,)

SIDE_TO_WIRE: dict[OrderSide, Side] = {
    OrderSide.BUY: "buy", OrderSide.SELL: "sell", OrderSide.SELL_SHORT: "sell_short",
    OrderSide.BUY_TO_COVER: "buy_to_cover", OrderSide.BUY_TO_OPEN: "buy_to_open",
    OrderSide.BUY_TO_CLOSE: "buy_to_close", OrderSide.SELL_TO_OPEN: "sell_to_open",
    OrderSide.SELL_TO_CLOSE: "sell_to_close"}
"""Tradier spells every side as brokerlink does (``buy_to_open``, ``sell_short``...)."""
SIDE_FROM_WIRE: dict[str, OrderSide] = {v: k for k, v in SIDE_TO_WIRE.items()}

TYPE_TO_WIRE: dict[OrderType, Literal["market", "limit", "stop", "stop_limit"]] = {
    OrderType.MARKET: "market",
    OrderType.LIMIT: "limit",
    OrderType.STOP: "stop",
    OrderType.STOP_LIMIT: "stop_limit",
}
TYPE_FROM_WIRE: dict[str, OrderType] = {v: k for k, v in TYPE_TO_WIRE.items()}
# Multileg legs carry the parent's net type; a net-priced leg works like a limit order.
TYPE_FROM_WIRE.update({"debit": OrderType.LIMIT, "credit": OrderType.LIMIT,
                       "even": OrderType.LIMIT})

DURATION_FROM_WIRE: dict[str, tuple[TimeInForce, bool]] = {
    "day": (TimeInForce.DAY, False),
    "gtc": (TimeInForce.GTC, False),
    "pre": (TimeInForce.DAY, True),
    "post": (TimeInForce.DAY, True),
}

ACCOUNT_TYPE_FROM_WIRE: dict[str, AccountType] = {"cash": AccountType.CASH,
                                                 "margin": AccountType.MARGIN,
                                                 "pdt": AccountType.MARGIN}
ACCOUNT_STATUS_FROM_WIRE: dict[str, AccountStatus] = {"active": AccountStatus.ACTIVE,
                                                     "closed": AccountStatus.CLOSED}

HISTORY_TYPE_FROM_WIRE: dict[str, TransactionType] = {
    "trade": TransactionType.FILL,
    "dividend": TransactionType.DIVIDEND,
    "interest": TransactionType.INTEREST,
    "fee": TransactionType.FEE,
    "tax": TransactionType.FEE,
    "journal": TransactionType.TRANSFER,
    "transfer": TransactionType.TRANSFER,
    "option": TransactionType.OTHER,
    "adjustment": TransactionType.OTHER,
}
CASH_MOVEMENTS = frozenset({"ach", "wire", "check"})
"""Deposits or withdrawals, by the sign of ``amount``."""

NET_TYPE_TO_WIRE: dict[NetPriceType, Literal["market", "debit", "credit", "even"]] = {
    NetPriceType.MARKET: "market", NetPriceType.DEBIT: "debit",
    NetPriceType.CREDIT: "credit", NetPriceType.EVEN: "even"}

TAG = re.compile(r"^[A-Za-z0-9-]{1,255}$")


def order_status_from_wire(raw: str) -> OrderStatus:
    """Every documented status has a row; anything else is ``UNKNOWN`` (never a guess)."""
    return STATUS_FROM_WIRE.get(raw.strip().lower(), OrderStatus.UNKNOWN)


def duration_to_wire(time_in_force: TimeInForce, extended_hours: bool, *,
                     before_open: bool) -> Literal["day", "gtc", "pre", "post"]:
    """``pre``/``post`` for an extended-hours order (whichever session comes next),
    else ``day``/``gtc``. Raises ``InvalidOrderError`` for other values."""
    if extended_hours:
        if time_in_force is not TimeInForce.DAY:
            raise InvalidOrderError("Tradier extended-hours orders (pre/post) are day orders",
                                    field="time_in_force")
        return "pre" if before_open else "post"
    if time_in_force is TimeInForce.DAY:
        return "day"
    if time_in_force is TimeInForce.GTC:
        return "gtc"
    raise InvalidOrderError(f"Tradier has no time_in_force {time_in_force.value}",
                            field="time_in_force")


def client_order_id_to_wire(client_order_id: str) -> str:
    """The Tradier ``tag`` carrying ``client_order_id``. Raises ``InvalidOrderError`` when
    the id has characters a tag cannot hold (Tradier allows letters, digits and ``-``)."""
    if not TAG.match(client_order_id):
        raise InvalidOrderError(
            f"client_order_id {client_order_id!r} cannot travel as a Tradier tag: use "
            "letters, digits and '-' only", field="client_order_id")
    return client_order_id


# --- requests --------------------------------------------------------------------------


def order_to_wire(order: OrderRequest, *, before_open: bool) -> OrderForm:
    """The form of an equity or option order (REFERENCE.md section 3.5); its
    ``client_order_id`` travels as the tag. Raises ``InvalidOrderError`` when the id cannot
    be a tag or the time in force has no Tradier duration."""
    is_option = order.asset_type is AssetType.OPTION
    return OrderForm(
        order_class="option" if is_option else "equity", symbol=order.symbol,
        side=SIDE_TO_WIRE[order.side], quantity=order.quantity,
        type=TYPE_TO_WIRE[order.order_type],
        duration=duration_to_wire(order.time_in_force, order.extended_hours,
                                  before_open=before_open),
        price=order.limit_price, stop=order.stop_price,
        option_symbol=order.instrument_symbol if is_option else None,
        tag=client_order_id_to_wire(order.client_order_id))


def modify_to_wire(changes: OrderModify) -> ChangeForm:
    """The fields of a change (PUT): only what changes. Raises ``InvalidOrderError`` for a
    time in force other than day or GTC."""
    duration = None if changes.time_in_force is None else \
        _plain_duration(changes.time_in_force)
    return ChangeForm(price=changes.limit_price, stop=changes.stop_price,
                      duration=duration)


def _plain_duration(time_in_force: TimeInForce) -> Literal["day", "gtc"]:
    if time_in_force is TimeInForce.DAY:
        return "day"
    if time_in_force is TimeInForce.GTC:
        return "gtc"
    raise InvalidOrderError(f"Tradier has no time_in_force {time_in_force.value}",
                            field="time_in_force")


def multileg_order_to_wire(order: MultiLegOrderRequest) -> MultilegOrder:
    """Tradier's multileg (every leg an option) or combo (one equity leg) order. Raises
    ``InvalidOrderError`` for a time in force other than day or GTC, or a client order
    id that cannot be a tag."""
    duration = _plain_duration(order.time_in_force)
    legs = tuple(MultilegLeg(side=SIDE_TO_WIRE[leg.side], quantity=leg.quantity,
                             option_symbol=leg.symbol if leg.is_option else None)
                 for leg in order.legs)
    return MultilegOrder(symbol=order.underlying, type=NET_TYPE_TO_WIRE[order.price_type],
                         duration=duration, price=order.price, legs=legs,
                         tag=client_order_id_to_wire(order.client_order_id))


# --- accounts --------------------------------------------------------------------------


def account_from_wire(wire: WireAccount, *, as_of: datetime) -> BrokerAccount:
    account_type = ACCOUNT_TYPE_FROM_WIRE.get(wire.type, AccountType.UNKNOWN)
    if "ira" in (wire.classification or "").lower():
        account_type = AccountType.IRA
    margin = wire.type in ("margin", "pdt")
    return BrokerAccount(
        as_of=as_of, source=DataSource.LIVE, account_id=wire.account_number,
        broker=BrokerType.TRADIER, account_type=account_type,
        account_name=wire.classification,
        status=ACCOUNT_STATUS_FROM_WIRE.get(wire.status, AccountStatus.UNKNOWN),
        can_trade_options=wire.option_level >= 1, can_trade_margin=margin, can_short=margin,
        opened_date=wire.date_created.date() if wire.date_created else None,
        last_sync=as_of, raw_status=wire.status)


def balances_from_wire(wire: WireBalances, *, as_of: datetime) -> AccountBalances:
    """Cash accounts spend ``cash.cash_available``; margin and pdt accounts spend
    ``stock_buying_power``."""
    cash = wire.total_cash
    margin = wire.margin or wire.pdt
    if wire.cash is not None or margin is None:
        available = wire.cash.cash_available if wire.cash and \
            wire.cash.cash_available is not None else cash
        return AccountBalances(
            as_of=as_of, account_id=wire.account_number, cash=cash,
            cash_available=available, cash_withdrawable=available, buying_power=available,
            total_value=wire.total_equity, market_value=wire.market_value)
    buying_power = margin.stock_buying_power if margin.stock_buying_power is not None \
        else cash
    available = max(ZERO, min(cash, buying_power))
    return AccountBalances(
        as_of=as_of, account_id=wire.account_number, cash=cash, cash_available=available,
        cash_withdrawable=available, buying_power=buying_power,
        day_trading_buying_power=margin.day_trade_buying_power,
        margin_balance=max(ZERO, -cash), margin_buying_power=buying_power,
        margin_maintenance=wire.current_requirement, total_value=wire.total_equity,
        market_value=wire.market_value)


def position_from_wire(wire: WirePosition, quote: WireQuote | None, *, account_id: str,
                as_of: datetime) -> Position:
    """Average cost from ``cost_basis``; price, value and P&L from ``quote`` (None
    leaves them unknown rather than zero)."""
    contract = None
    try:
        contract = parse_occ(wire.symbol) if len(wire.symbol) > 15 else None
    except (SymbolNotFoundError, InvalidOrderError):
        contract = None
    multiplier = HUNDRED if contract else Decimal(1)
    average = wire.cost_basis / wire.quantity / multiplier if wire.quantity else ZERO
    price = quote.last if quote is not None else None
    value = pnl = pct = None
    if price is not None:
        value = wire.quantity * price * multiplier
        pnl = value - wire.cost_basis
        pct = (pnl / abs(wire.cost_basis) * HUNDRED).quantize(CENT, ROUND_HALF_UP) \
            if wire.cost_basis else ZERO
    return Position(
        as_of=as_of, account_id=account_id, symbol=wire.symbol,
        asset_type=AssetType.OPTION if contract else AssetType.EQUITY,
        quantity=wire.quantity,
        # Tradier does not say how much is committed to open orders.
        quantity_available=wire.quantity,
        average_cost=average, current_price=price, market_value=value, unrealized_pnl=pnl,
        unrealized_pnl_pct=pct,
        option_type=contract.option_type if contract else None,
        strike=contract.strike if contract else None,
        expiration=contract.expiration if contract else None,
        underlying=contract.root if contract else None)


# --- orders ----------------------------------------------------------------------------


def order_from_wire(wire: WireOrder, *, account_id: str, as_of: datetime,
             source: DataSource = DataSource.LIVE) -> Order:
    """A single-leg order (or one leg of a multileg order) as a core ``Order``. A
    multileg parent maps to its net order: the underlying, its net type as a limit."""
    status = order_status_from_wire(wire.status)
    tif, extended = DURATION_FROM_WIRE.get(wire.duration or "day", (TimeInForce.DAY, False))
    order_type = TYPE_FROM_WIRE.get(wire.type, OrderType.MARKET)
    contract = parse_occ(wire.option_symbol) if wire.option_symbol else None
    filled = wire.exec_quantity
    average = wire.avg_fill_price if filled and wire.avg_fill_price else None
    changed = wire.transaction_date or wire.create_date
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    return Order(
        as_of=as_of, source=source, order_id=str(wire.id), client_order_id=wire.tag,
        account_id=account_id, symbol=wire.option_symbol or wire.symbol,
        asset_type=AssetType.OPTION if contract else AssetType.EQUITY,
        side=SIDE_FROM_WIRE.get(wire.side, OrderSide.BUY if "buy" in wire.side
                                else OrderSide.SELL),
        quantity=wire.quantity, order_type=order_type,
        limit_price=wire.price if needs_limit else None,
        stop_price=wire.stop_price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        else None,
        time_in_force=tif, extended_hours=extended, status=status, raw_status=wire.status,
        filled_quantity=filled, average_fill_price=average, submitted_at=wire.create_date,
        updated_at=changed,
        filled_at=changed if status is OrderStatus.FILLED else None,
        canceled_at=changed if status is OrderStatus.CANCELED else None,
        expired_at=changed if status is OrderStatus.EXPIRED else None,
        option_type=contract.option_type if contract else None,
        strike=contract.strike if contract else None,
        expiration=contract.expiration if contract else None,
        reject_reason=wire.reason_description)


def flatten(orders: Iterable[WireOrder]) -> list[WireOrder]:
    """Single-leg orders as they are and multileg orders as their legs (the legs carry
    the parent's tag when they have none)."""
    result: list[WireOrder] = []
    for wire in orders:
        if wire.leg:
            result.extend(leg if leg.tag else leg.model_copy(update={"tag": wire.tag})
                          for leg in wire.leg)
        else:
            result.append(wire)
    return result


# --- quotes and transactions -----------------------------------------------------------


def quote_from_wire(wire: WireQuote, *, as_of: datetime) -> Quote:
    return Quote(
        as_of=as_of, symbol=wire.symbol, bid=wire.bid, ask=wire.ask, last=wire.last,
        bid_size=wire.bidsize, ask_size=wire.asksize, last_size=wire.last_volume,
        volume=wire.volume, previous_close=wire.prevclose,
        timestamp=wire.trade_date or wire.bid_date or as_of)


def fill_from_wire(wire: WireOrder, *, account_id: str, as_of: datetime) -> Transaction | None:
    """An order's executions as one ``FILL`` (Tradier reports executed quantity and
    average price per order; its history has no order ids). None if nothing filled."""
    if not wire.exec_quantity or wire.avg_fill_price is None:
        return None
    side = SIDE_FROM_WIRE.get(wire.side)
    multiplier = HUNDRED if wire.option_symbol else Decimal(1)
    signed = wire.exec_quantity if side is None or side.is_buy else -wire.exec_quantity
    return Transaction(
        as_of=as_of, transaction_id=f"fill-{wire.id}", account_id=account_id,
        type=TransactionType.FILL, timestamp=wire.transaction_date or wire.create_date
        or as_of, amount=-signed * wire.avg_fill_price * multiplier,
        symbol=wire.option_symbol or wire.symbol, side=side, quantity=wire.exec_quantity,
        price=wire.avg_fill_price, order_id=str(wire.id))


def transaction_from_wire(wire: WireHistoryEvent, *, account_id: str,
                          as_of: datetime) -> Transaction:
    """A history event. History has no ids, so the id is a digest of the event."""
    kind = HISTORY_TYPE_FROM_WIRE.get(wire.type)
    if kind is None:
        if wire.type in CASH_MOVEMENTS:
            kind = TransactionType.DEPOSIT if wire.amount >= 0 else TransactionType.WITHDRAWAL
        else:
            kind = TransactionType.OTHER
    digest = hashlib.sha256(wire.model_dump_json().encode()).hexdigest()[:16]
    trade = wire.trade
    detail = wire.detail
    side = None
    if trade is not None and trade.quantity is not None:
        side = OrderSide.BUY if trade.quantity > 0 else OrderSide.SELL
    return Transaction(
        as_of=as_of, transaction_id=f"{wire.type}-{digest}", account_id=account_id,
        type=kind, timestamp=wire.date, amount=wire.amount,
        symbol=trade.symbol if trade else None, side=side,
        quantity=abs(trade.quantity) if trade and trade.quantity is not None else None,
        price=trade.price if trade else None,
        fees=trade.commission if trade and trade.commission is not None else ZERO,
        description=(trade.description if trade else detail.description if detail
                     else None))


# --- preview ---------------------------------------------------------------------------


def preview_from_wire(wire: WireOrderPreview) -> OrderPreview:
    return OrderPreview(accepted=wire.result and wire.status == "ok", cost=wire.cost,
                        order_cost=wire.order_cost, commission=wire.commission,
                        fees=wire.fees, margin_change=wire.margin_change,
                        extended_hours=wire.extended_hours, day_trades=wire.day_trades)


# --- gain/loss -------------------------------------------------------------------------


def closed_position_from_wire(wire: WireClosedPosition) -> ClosedPosition:
    return ClosedPosition(symbol=wire.symbol, quantity=wire.quantity, cost=wire.cost,
                          proceeds=wire.proceeds, gain_loss=wire.gain_loss,
                          gain_loss_percent=wire.gain_loss_percent,
                          opened_at=wire.open_date, closed_at=wire.close_date,
                          term_days=wire.term)


# --- stream ----------------------------------------------------------------------------


def streamed_order_from_wire(order: Order, wire: WireOrderEvent) -> Order:
    """``order`` (as read over REST) with an account-stream message's facts laid over it
    (the message carries no symbol, side or quantity)."""
    status = order_status_from_wire(wire.status)
    update: dict[str, Any] = {"status": status, "raw_status": wire.status,
                              "source": DataSource.STREAM}
    if wire.transaction_date is not None:
        update["as_of"] = update["updated_at"] = wire.transaction_date
        if status is OrderStatus.FILLED:
            update["filled_at"] = wire.transaction_date
        elif status is OrderStatus.CANCELED:
            update["canceled_at"] = wire.transaction_date
        elif status is OrderStatus.EXPIRED:
            update["expired_at"] = wire.transaction_date
    if wire.exec_quantity is not None:
        update["filled_quantity"] = wire.exec_quantity
    if wire.avg_fill_price:
        update["average_fill_price"] = wire.avg_fill_price
    # Zero means "not set" in these messages (a market order shows price 0.0).
    if wire.price and order.limit_price is not None:
        update["limit_price"] = wire.price
    if wire.stop_price and order.stop_price is not None:
        update["stop_price"] = wire.stop_price
    if wire.tag:
        update["client_order_id"] = wire.tag
    return order.model_copy(update=update)

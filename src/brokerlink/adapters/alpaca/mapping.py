"""Alpaca wire models <-> core models: pure functions and explicit two-way tables.

Naming (the kit's rule, see ``_shared/wire_client.py``): ``<core_thing>_from_wire`` turns
a wire model into a core model; ``<thing>_to_wire`` turns a core value into a wire
request model. Lookups of one wire value (``order_status``, ``order_side``) are plain.

Every Alpaca order status (``trading-api.json`` ``OrderStatus`` plus alpaca-py's
``pending_review``) has a row; anything else becomes ``OrderStatus.UNKNOWN`` with the raw
value kept in ``raw_status``. Alpaca has only ``buy``/``sell``: the core side comes from
``position_intent`` where it says more (a short sale is ``sell`` + ``sell_to_open``).
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

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
from brokerlink.core.symbols import OptionContract, parse_occ

from .wire import (
    AlpacaAccount,
    AlpacaActivity,
    AlpacaOrder,
    AlpacaOrderRequest,
    AlpacaPosition,
    AlpacaQuote,
    AlpacaReplaceRequest,
)

NEW_YORK = ZoneInfo("America/New_York")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
BROKER = BrokerType.ALPACA

ORDER_STATUS: dict[str, OrderStatus] = {
    "new": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    # Done for today, works again next session: still open.
    "done_for_day": OrderStatus.NEW,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "replaced": OrderStatus.REPLACED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    "pending_replace": OrderStatus.PENDING_REPLACE,
    # Received, not yet routed (e.g. queued while the market is closed).
    "accepted": OrderStatus.PENDING_NEW,
    "pending_new": OrderStatus.PENDING_NEW,
    "accepted_for_bidding": OrderStatus.PENDING_NEW,
    # Stopped: a price is guaranteed but the execution has not happened yet.
    "stopped": OrderStatus.NEW,
    "rejected": OrderStatus.REJECTED,
    # Suspended or held: open but not eligible to trade right now.
    "suspended": OrderStatus.PENDING_NEW,
    "held": OrderStatus.PENDING_NEW,
    "pending_review": OrderStatus.PENDING_NEW,
    # Done for the day, settlement figures pending; refined by the filled quantity.
    "calculated": OrderStatus.FILLED,
}

ORDER_STATUS_TO_WIRE: dict[OrderStatus, str] = {
    OrderStatus.PENDING_NEW: "pending_new",
    OrderStatus.NEW: "new",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.PENDING_CANCEL: "pending_cancel",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.PENDING_REPLACE: "pending_replace",
    OrderStatus.REPLACED: "replaced",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.EXPIRED: "expired",
}

ORDER_TYPE: dict[str, OrderType] = {t.value: t for t in OrderType}
ORDER_TYPE_TO_WIRE: dict[OrderType, str] = {t: t.value for t in OrderType}
TIME_IN_FORCE: dict[str, TimeInForce] = {t.value: t for t in TimeInForce}
TIME_IN_FORCE_TO_WIRE: dict[TimeInForce, str] = {t: t.value for t in TimeInForce}

SIDE_TO_WIRE: dict[OrderSide, tuple[Literal["buy", "sell"], str | None]] = {
    OrderSide.BUY: ("buy", None),
    OrderSide.SELL: ("sell", None),
    # Alpaca opens a short when selling what is not held, and covers when buying back.
    OrderSide.SELL_SHORT: ("sell", None),
    OrderSide.BUY_TO_COVER: ("buy", None),
    OrderSide.BUY_TO_OPEN: ("buy", "buy_to_open"),
    OrderSide.BUY_TO_CLOSE: ("buy", "buy_to_close"),
    OrderSide.SELL_TO_OPEN: ("sell", "sell_to_open"),
    OrderSide.SELL_TO_CLOSE: ("sell", "sell_to_close"),
}

_OPTION_SIDE: dict[tuple[str, str | None], OrderSide] = {
    ("buy", "buy_to_open"): OrderSide.BUY_TO_OPEN,
    ("buy", "buy_to_close"): OrderSide.BUY_TO_CLOSE,
    ("sell", "sell_to_open"): OrderSide.SELL_TO_OPEN,
    ("sell", "sell_to_close"): OrderSide.SELL_TO_CLOSE,
    ("buy", None): OrderSide.BUY_TO_OPEN,
    ("sell", None): OrderSide.SELL_TO_CLOSE,
}
_EQUITY_SIDE: dict[tuple[str, str | None], OrderSide] = {
    ("buy", None): OrderSide.BUY,
    ("buy", "buy_to_open"): OrderSide.BUY,
    ("buy", "buy_to_close"): OrderSide.BUY_TO_COVER,
    ("sell", None): OrderSide.SELL,
    ("sell", "sell_to_close"): OrderSide.SELL,
    ("sell", "sell_to_open"): OrderSide.SELL_SHORT,
}

ACCOUNT_STATUS: dict[str, AccountStatus] = {
    "ACTIVE": AccountStatus.ACTIVE,
    "PAPER_ONLY": AccountStatus.ACTIVE,
    "ONBOARDING": AccountStatus.PENDING,
    "SUBMITTED": AccountStatus.PENDING,
    "APPROVAL_PENDING": AccountStatus.PENDING,
    "APPROVED": AccountStatus.PENDING,
    "ACCOUNT_UPDATED": AccountStatus.RESTRICTED,
    "ACTION_REQUIRED": AccountStatus.RESTRICTED,
    "LIMITED": AccountStatus.RESTRICTED,
    "INACTIVE": AccountStatus.RESTRICTED,
    "SUBMISSION_FAILED": AccountStatus.CLOSED,
    "REJECTED": AccountStatus.CLOSED,
    "ACCOUNT_CLOSED": AccountStatus.CLOSED,
    "ACCOUNT_CLOSED_PENDING": AccountStatus.CLOSED,
}

ACCOUNT_TYPE_BY_MULTIPLIER: dict[str, AccountType] = {
    # 1x buying power: a cash (or "limited margin") account; 2x Reg T; 4x day-trading.
    "1": AccountType.CASH,
    "2": AccountType.MARGIN,
    "4": AccountType.MARGIN,
}

NON_TRADE_ACTIVITY: dict[str, TransactionType] = {
    "CSD": TransactionType.DEPOSIT,
    "CSW": TransactionType.WITHDRAWAL,
    "DIV": TransactionType.DIVIDEND,
    "DIVCGL": TransactionType.DIVIDEND,
    "DIVCGS": TransactionType.DIVIDEND,
    "DIVNRA": TransactionType.DIVIDEND,
    "DIVROC": TransactionType.DIVIDEND,
    "DIVTW": TransactionType.DIVIDEND,
    "DIVTXEX": TransactionType.DIVIDEND,
    "DIVFT": TransactionType.DIVIDEND,
    "DIVFEE": TransactionType.FEE,
    "CGD": TransactionType.DIVIDEND,
    "INT": TransactionType.INTEREST,
    "INTNRA": TransactionType.INTEREST,
    "INTTW": TransactionType.INTEREST,
    "FEE": TransactionType.FEE,
    "CFEE": TransactionType.FEE,
    "PTC": TransactionType.FEE,
    "PTR": TransactionType.OTHER,
    "JNL": TransactionType.TRANSFER,
    "JNLC": TransactionType.TRANSFER,
    "JNLS": TransactionType.TRANSFER,
    "ACATC": TransactionType.TRANSFER,
    "ACATS": TransactionType.TRANSFER,
}


# --- orders ---------------------------------------------------------------------------


def order_status(raw: str, *, quantity: Decimal | None = None,
                 filled: Decimal | None = None) -> OrderStatus:
    """The core status for an Alpaca status; UNKNOWN for a value not in the table.
    Statuses that mean "open" or "done" are refined by how much has filled."""
    status = ORDER_STATUS.get(raw, OrderStatus.UNKNOWN)
    has_fills = filled is not None and filled > 0
    if raw in ("done_for_day", "stopped") and has_fills:
        return OrderStatus.PARTIALLY_FILLED
    if raw == "calculated" and quantity is not None and filled is not None \
            and filled < quantity:
        return OrderStatus.PARTIALLY_FILLED
    return status


def order_side(side: str | None, intent: str | None, *, option: bool) -> OrderSide:
    """The core side for Alpaca's ``side`` + ``position_intent``. Raises
    ``InvalidOrderError`` for a combination Alpaca does not produce."""
    table = _OPTION_SIDE if option else _EQUITY_SIDE
    found = table.get(((side or "").lower(), intent or None))
    if found is None:
        raise InvalidOrderError(f"Alpaca order side {side!r} with intent {intent!r} is not "
                                "recognised", broker=BROKER.value)
    return found


def _contract(symbol: str | None, asset_class: str | None) -> OptionContract | None:
    if not symbol or asset_class not in (None, "us_option"):
        return None
    try:
        return parse_occ(symbol)
    except (InvalidOrderError, SymbolNotFoundError):
        return None


def order_from_wire(wire: AlpacaOrder, account_id: str, *,
                    source: DataSource = DataSource.LIVE, as_of: datetime | None = None) -> Order:
    """A core ``Order``. Raises ``InvalidOrderError`` for a side Alpaca does not produce."""
    contract = _contract(wire.symbol, wire.asset_class)
    kind = wire.type or wire.order_type or "market"
    quantity = wire.qty if wire.qty is not None else ZERO
    filled = wire.filled_qty or ZERO
    fields: dict[str, object] = {
        "order_id": wire.id,
        "client_order_id": wire.client_order_id,
        "account_id": account_id,
        "symbol": wire.symbol or "",
        "asset_type": AssetType.OPTION if contract else AssetType.EQUITY,
        "side": order_side(wire.side, wire.position_intent, option=contract is not None),
        "quantity": quantity,
        "order_type": ORDER_TYPE.get(kind, OrderType.MARKET),
        "limit_price": wire.limit_price,
        "stop_price": wire.stop_price,
        "trail_amount": wire.trail_price,
        "trail_percent": wire.trail_percent,
        "time_in_force": TIME_IN_FORCE.get(wire.time_in_force, TimeInForce.DAY),
        "extended_hours": wire.extended_hours,
        "status": order_status(wire.status, quantity=quantity, filled=filled),
        "raw_status": wire.status,
        "filled_quantity": filled,
        "average_fill_price": wire.filled_avg_price,
        "submitted_at": wire.submitted_at or wire.created_at,
        "updated_at": wire.updated_at,
        "filled_at": wire.filled_at,
        "canceled_at": wire.canceled_at,
        "expired_at": wire.expired_at,
        "replaces": wire.replaces,
        "replaced_by": wire.replaced_by,
        "source": source,
    }
    if as_of is not None:
        fields["as_of"] = as_of
    if contract is not None:
        fields.update(option_type=contract.option_type, strike=contract.strike,
                      expiration=contract.expiration)
    return Order.model_validate(fields)


def order_to_wire(order: OrderRequest) -> AlpacaOrderRequest:
    """The ``POST /v2/orders`` request for ``order``. The client order id is always
    included."""
    side, intent = SIDE_TO_WIRE[order.side]
    return AlpacaOrderRequest(
        symbol=order.instrument_symbol, qty=order.quantity, side=side,
        type=ORDER_TYPE_TO_WIRE[order.order_type],
        time_in_force=TIME_IN_FORCE_TO_WIRE[order.time_in_force],
        client_order_id=order.client_order_id, position_intent=intent,
        limit_price=order.limit_price, stop_price=order.stop_price,
        trail_price=order.trail_amount, trail_percent=order.trail_percent,
        extended_hours=True if order.extended_hours else None)


def modify_to_wire(changes: OrderModify) -> AlpacaReplaceRequest:
    """The ``PATCH /v2/orders/{id}`` request: Alpaca takes qty, time_in_force,
    limit_price, stop_price, trail (amount or percent, whichever the order uses) and
    client_order_id."""
    trail = changes.trail_amount if changes.trail_amount is not None else changes.trail_percent
    return AlpacaReplaceRequest(
        qty=changes.quantity,
        time_in_force=TIME_IN_FORCE_TO_WIRE[changes.time_in_force]
        if changes.time_in_force is not None else None,
        limit_price=changes.limit_price, stop_price=changes.stop_price, trail=trail,
        client_order_id=changes.client_order_id)


# --- account ----------------------------------------------------------------------------


def account_type(multiplier: str | None) -> AccountType:
    """Alpaca states no account type; its buying-power ``multiplier`` implies it."""
    return ACCOUNT_TYPE_BY_MULTIPLIER.get((multiplier or "").strip(), AccountType.UNKNOWN)


def account_status(wire: AlpacaAccount) -> AccountStatus:
    status = ACCOUNT_STATUS.get(wire.status.upper(), AccountStatus.UNKNOWN)
    if status is AccountStatus.ACTIVE and (wire.trading_blocked or wire.account_blocked):
        return AccountStatus.RESTRICTED
    return status


def account_id_of(wire: AlpacaAccount) -> str:
    return wire.account_number or wire.id


def account_from_wire(wire: AlpacaAccount, *, as_of: datetime) -> BrokerAccount:
    kind = account_type(wire.multiplier)
    margin = kind is AccountType.MARGIN
    level = wire.options_trading_level if wire.options_trading_level is not None \
        else wire.options_approved_level or 0
    return BrokerAccount(
        as_of=as_of, account_id=account_id_of(wire), broker=BROKER, account_type=kind,
        status=account_status(wire), can_trade_stocks=not wire.trading_blocked,
        can_trade_options=level >= 1, can_trade_margin=margin,
        can_short=bool(wire.shorting_enabled), last_sync=as_of,
        opened_date=wire.created_at.date() if wire.created_at else None,
        currency=wire.currency, raw_status=wire.status)


def balances_from_wire(wire: AlpacaAccount, *, as_of: datetime) -> AccountBalances:
    """Balances; day P&L is ``equity - last_equity`` (last_equity is the previous close's
    equity). Withdrawable cash is estimated as cash above the initial margin in use."""
    cash = wire.cash or ZERO
    equity = wire.equity if wire.equity is not None else wire.portfolio_value or ZERO
    buying_power = wire.buying_power or ZERO
    market_value = (wire.long_market_value or ZERO) + (wire.short_market_value or ZERO)
    margin = account_type(wire.multiplier) is AccountType.MARGIN
    initial = wire.initial_margin or ZERO
    return AccountBalances(
        as_of=as_of, account_id=account_id_of(wire), currency=wire.currency, cash=cash,
        cash_available=max(ZERO, min(cash, buying_power)),
        cash_withdrawable=max(ZERO, min(cash, equity - initial)),
        buying_power=buying_power,
        day_trading_buying_power=wire.daytrading_buying_power if margin else None,
        margin_balance=max(ZERO, -cash) if margin else None,
        margin_buying_power=wire.regt_buying_power if margin else None,
        margin_maintenance=wire.maintenance_margin if margin else None,
        total_value=equity, market_value=market_value,
        day_pnl=equity - wire.last_equity if wire.last_equity is not None else None)


def position_from_wire(wire: AlpacaPosition, account_id: str, *, as_of: datetime) -> Position:
    """A core ``Position``; Alpaca's fractional percentages become percents."""
    contract = _contract(wire.symbol, wire.asset_class)
    quantity = -abs(wire.qty) if wire.side == "short" else wire.qty
    available = wire.qty_available if wire.qty_available is not None else wire.qty
    if wire.side == "short":
        available = -abs(available)
    pct = wire.unrealized_plpc * HUNDRED if wire.unrealized_plpc is not None else None
    return Position(
        as_of=as_of, account_id=account_id, symbol=wire.symbol,
        asset_type=AssetType.OPTION if contract else AssetType.EQUITY,
        quantity=quantity, quantity_available=available, average_cost=wire.avg_entry_price,
        current_price=wire.current_price, market_value=wire.market_value,
        unrealized_pnl=wire.unrealized_pl, unrealized_pnl_pct=pct,
        day_pnl=wire.unrealized_intraday_pl,
        option_type=contract.option_type if contract else None,
        strike=contract.strike if contract else None,
        expiration=contract.expiration if contract else None,
        underlying=contract.root if contract else None)


# --- activities -------------------------------------------------------------------------


def transaction_from_wire(wire: AlpacaActivity, account_id: str, *,
                          as_of: datetime) -> Transaction:
    """A core ``Transaction``: fills carry signed cash (a buy is negative), non-trade
    activities their ``net_amount``."""
    if wire.activity_type == "FILL":
        quantity = wire.qty or ZERO
        price = wire.price or ZERO
        buy = (wire.side or "").lower() == "buy"
        multiplier = HUNDRED if _contract(wire.symbol, None) else Decimal(1)
        amount = quantity * price * multiplier * (-1 if buy else 1)
        return Transaction(
            as_of=as_of, transaction_id=wire.id, account_id=account_id,
            type=TransactionType.FILL, timestamp=wire.transaction_time or as_of,
            amount=amount, symbol=wire.symbol,
            side=OrderSide.BUY if buy else OrderSide.SELL, quantity=quantity, price=price,
            order_id=wire.order_id, description=wire.type)
    kind = NON_TRADE_ACTIVITY.get(wire.activity_type, TransactionType.OTHER)
    return Transaction(
        as_of=as_of, transaction_id=wire.id, account_id=account_id, type=kind,
        timestamp=activity_time(wire) or as_of, amount=wire.net_amount or ZERO,
        symbol=wire.symbol, quantity=wire.qty, price=wire.per_share_amount,
        description=wire.description or wire.activity_type)


def activity_time(wire: AlpacaActivity) -> datetime | None:
    """When an activity happened: its transaction time, creation time, or (a bare date)
    midnight New York on that date."""
    if wire.transaction_time is not None:
        return wire.transaction_time
    if wire.created_at is not None:
        return wire.created_at
    if wire.date:
        day = datetime.fromisoformat(wire.date[:10]).date()
        return datetime.combine(day, time(0), tzinfo=NEW_YORK)
    return None


# --- quotes -----------------------------------------------------------------------------


def quote_from_wire(symbol: str, quote: AlpacaQuote, last: Decimal | None, *,
                    as_of: datetime) -> Quote:
    """A core ``Quote``. Alpaca reports 0 for a side with no active quote: that is no
    quote, not a price of zero."""
    return Quote(
        as_of=as_of, symbol=symbol, bid=quote.bp or None, ask=quote.ap or None, last=last,
        bid_size=quote.bs, ask_size=quote.as_, timestamp=quote.t)

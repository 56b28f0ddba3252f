"""Engine state -> Alpaca JSON, field for field as ``trading-api.json`` and
``market-data-api.json`` name them (own code: this module never imports the adapter).

Money and quantities are decimal strings on the trading API; the market-data API sends
prices as JSON numbers. Ids that Alpaca gives as UUIDs (accounts, assets) are derived
deterministically with ``uuid5`` from the engine's ids, so they are stable per run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    OrderSide,
    OrderStatus,
    TransactionType,
)
from brokerlink.core.models import AccountBalances, Order, Position, Transaction
from brokerlink.emulators._shared.jsonio import rfc3339
from brokerlink.sim.accounts import SimAccount
from brokerlink.sim.calendar import NEW_YORK, MarketCalendar, SessionTimes
from brokerlink.sim.events import EventKind, SimEvent
from brokerlink.sim.prices import SimQuote
from brokerlink.sim.universe import Instrument

_NAMESPACE = uuid.UUID("5f0c1a52-7a4e-4b8e-9b53-6d1d5f3f0a11")
ZERO = Decimal(0)

STATUS: dict[OrderStatus, str] = {
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
    OrderStatus.UNKNOWN: "held",
}
"""Engine status -> Alpaca ``OrderStatus`` (every value is in the spec's enum)."""

POSITION_INTENT: dict[OrderSide, str] = {
    OrderSide.BUY: "buy_to_open",
    OrderSide.SELL: "sell_to_close",
    OrderSide.SELL_SHORT: "sell_to_open",
    OrderSide.BUY_TO_COVER: "buy_to_close",
    OrderSide.BUY_TO_OPEN: "buy_to_open",
    OrderSide.BUY_TO_CLOSE: "buy_to_close",
    OrderSide.SELL_TO_OPEN: "sell_to_open",
    OrderSide.SELL_TO_CLOSE: "sell_to_close",
}

EVENTS: dict[EventKind, str] = {
    EventKind.NEW: "new",
    EventKind.PARTIAL_FILL: "partial_fill",
    EventKind.FILL: "fill",
    EventKind.PENDING_CANCEL: "pending_cancel",
    EventKind.CANCELED: "canceled",
    EventKind.REPLACED: "replaced",
    EventKind.EXPIRED: "expired",
    EventKind.REJECTED: "rejected",
}
"""Engine event -> ``trade_updates`` event name; cash events have no trade update."""

_EXCHANGES = {"NASDAQ", "NYSE", "ARCA", "AMEX", "BATS", "NYSEARCA", "OTC"}
_QUOTE_VENUE = {"NASDAQ": "Q", "NYSE": "N", "ARCA": "P", "NYSEARCA": "P", "AMEX": "A",
                "BATS": "Z"}
_TAPE = {"NASDAQ": "C", "NYSE": "A"}


def stable_uuid(kind: str, key: str) -> str:
    """A UUID that is the same for the same ``kind``/``key`` in every run."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{key}"))


def decimal_text(value: Decimal) -> str:
    """A decimal as Alpaca writes it: plain notation, no exponent."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def asset_class(asset_type: AssetType) -> str:
    return "us_option" if asset_type is AssetType.OPTION else "us_equity"


def exchange_of(instrument: Instrument) -> str:
    if instrument.asset_type is AssetType.OPTION:
        return ""
    return instrument.exchange if instrument.exchange in _EXCHANGES else "NYSE"


# --- orders ---------------------------------------------------------------------------


def order_json(order: Order, *, accepted: bool = False) -> dict[str, Any]:
    """One ``Order``. ``accepted`` shows a queued order (taken while the market is
    closed, not yet working) as ``accepted``, as Alpaca does."""
    status = STATUS[order.status]
    if accepted and order.status is OrderStatus.NEW:
        status = "accepted"
    is_option = order.asset_type is AssetType.OPTION
    symbol = order.symbol
    return {
        "id": order.order_id,
        "client_order_id": order.client_order_id or order.order_id,
        "created_at": _time(order.submitted_at),
        "updated_at": _time(order.updated_at),
        "submitted_at": _time(order.submitted_at),
        "filled_at": _time(order.filled_at),
        "expired_at": _time(order.expired_at),
        "canceled_at": _time(order.canceled_at),
        "failed_at": None,
        "replaced_at": _time(order.updated_at) if order.status is OrderStatus.REPLACED
        else None,
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": stable_uuid("asset", symbol),
        "symbol": symbol,
        "asset_class": asset_class(order.asset_type),
        "notional": None,
        "qty": decimal_text(order.quantity),
        "filled_qty": decimal_text(order.filled_quantity),
        "filled_avg_price": _opt(order.average_fill_price),
        "order_class": "",
        "order_type": order.order_type.value,
        "type": order.order_type.value,
        "side": "buy" if order.side.is_buy else "sell",
        "position_intent": POSITION_INTENT[order.side],
        "time_in_force": order.time_in_force.value,
        "limit_price": _opt(order.limit_price),
        "stop_price": _opt(order.stop_price),
        "status": status,
        "extended_hours": order.extended_hours,
        "legs": None,
        "trail_percent": _opt(order.trail_percent),
        "trail_price": _opt(order.trail_amount),
        "hwm": None,
        "subtag": None,
        "source": None,
        **({"ratio_qty": None} if is_option else {}),
    }


# --- account and positions ------------------------------------------------------------


def account_json(account: SimAccount, balances: AccountBalances, positions: Sequence[Position],
                 *, initial_margin: Decimal, maintenance_margin: Decimal,
                 now: datetime) -> dict[str, Any]:
    """The ``Account`` object. ``multiplier`` is "1" for a cash account and "2" (Reg T)
    for margin; ``last_equity`` is the equity the engine measures today's P&L from, so
    ``equity - last_equity`` is exactly the engine's day P&L."""
    long_value = sum((p.market_value or ZERO for p in positions if p.quantity > 0), ZERO)
    short_value = sum((p.market_value or ZERO for p in positions if p.quantity < 0), ZERO)
    margin = account.account_type is AccountType.MARGIN
    buying_power = balances.buying_power
    non_marginable = buying_power / 2 if margin else buying_power
    active = account.status is AccountStatus.ACTIVE
    return {
        "id": stable_uuid("account", account.account_id),
        "account_number": account.account_id,
        "status": "ACTIVE" if active else "ACCOUNT_CLOSED"
        if account.status is AccountStatus.CLOSED else "INACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": decimal_text(buying_power),
        "regt_buying_power": decimal_text(buying_power),
        "daytrading_buying_power": decimal_text(balances.day_trading_buying_power or ZERO),
        "non_marginable_buying_power": decimal_text(non_marginable),
        "options_buying_power": decimal_text(non_marginable),
        "cash": decimal_text(balances.cash),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "portfolio_value": decimal_text(balances.total_value),
        "equity": decimal_text(balances.total_value),
        "last_equity": decimal_text(account.day_start_equity),
        "long_market_value": decimal_text(long_value),
        "short_market_value": decimal_text(short_value),
        "initial_margin": decimal_text(initial_margin),
        "maintenance_margin": decimal_text(maintenance_margin),
        "last_maintenance_margin": decimal_text(maintenance_margin),
        "sma": "0",
        "multiplier": "2" if margin else "1",
        "daytrade_count": 0,
        "pattern_day_trader": False,
        "shorting_enabled": margin,
        "options_approved_level": min(account.options_level, 3),
        "options_trading_level": min(account.options_level, 3),
        "trading_blocked": not active,
        "transfers_blocked": not active,
        "account_blocked": not active,
        "trade_suspended_by_user": False,
        "created_at": rfc3339(account.opened_at),
        "balance_asof": (now - timedelta(days=1)).astimezone(NEW_YORK).date().isoformat(),
        "intraday_adjustments": "0",
        "pending_reg_taf_fees": "0",
    }


def position_json(position: Position, instrument: Instrument, lastday_price: Decimal,
                  intraday_pl: Decimal) -> dict[str, Any]:
    """One ``Position``; percentages are fractions ("0.2" is 20%), as Alpaca sends."""
    quantity = position.quantity
    multiplier = Decimal(instrument.multiplier)
    price = position.current_price or ZERO
    market_value = position.market_value or ZERO
    cost_basis = quantity * position.average_cost * multiplier
    unrealized = market_value - cost_basis
    day_start_value = market_value - intraday_pl
    return {
        "asset_id": stable_uuid("asset", instrument.symbol),
        "symbol": instrument.symbol,
        "exchange": exchange_of(instrument),
        "asset_class": asset_class(instrument.asset_type),
        "asset_marginable": instrument.marginable and not instrument.is_option,
        "avg_entry_price": decimal_text(position.average_cost),
        "qty": decimal_text(quantity),
        "qty_available": decimal_text(position.quantity_available),
        "side": "long" if quantity > 0 else "short",
        "market_value": decimal_text(market_value),
        "cost_basis": decimal_text(cost_basis),
        "unrealized_pl": decimal_text(unrealized),
        "unrealized_plpc": _ratio(unrealized, abs(cost_basis)),
        "unrealized_intraday_pl": decimal_text(intraday_pl),
        "unrealized_intraday_plpc": _ratio(intraday_pl, abs(day_start_value)),
        "current_price": decimal_text(price),
        "lastday_price": decimal_text(lastday_price),
        "change_today": _ratio(price - lastday_price, lastday_price),
    }


def _ratio(part: Decimal, whole: Decimal) -> str:
    if whole == 0:
        return "0"
    return decimal_text((part / whole).quantize(Decimal("0.0000000001")))


# --- activities -----------------------------------------------------------------------


def activity_id(transaction: Transaction) -> str:
    """Alpaca's ``<yyyymmddhhmmssmmm>::<uuid>`` id, sortable by time."""
    stamp = transaction.timestamp.strftime("%Y%m%d%H%M%S") + \
        f"{transaction.timestamp.microsecond // 1000:03d}"
    return f"{stamp}::{stable_uuid('activity', transaction.transaction_id)}"


NON_TRADE_TYPES: dict[TransactionType, tuple[str, str]] = {
    TransactionType.DEPOSIT: ("CSD", "cash deposit"),
    TransactionType.WITHDRAWAL: ("CSW", "cash withdrawal"),
    TransactionType.DIVIDEND: ("DIV", "dividend"),
    TransactionType.INTEREST: ("INT", "interest"),
    TransactionType.FEE: ("FEE", "fee"),
    TransactionType.TRANSFER: ("JNLC", "journal"),
    TransactionType.OTHER: ("MISC", "other"),
}


def activity_type_of(transaction: Transaction) -> str:
    if transaction.type is TransactionType.FILL:
        return "FILL"
    return NON_TRADE_TYPES[transaction.type][0]


def fill_activity_json(transaction: Transaction, order: Order | None,
                       cum_qty: Decimal) -> dict[str, Any]:
    """A ``TradingActivities`` entry (``activity_type: FILL``)."""
    quantity = transaction.quantity or ZERO
    total = order.quantity if order is not None else cum_qty
    leaves = max(total - cum_qty, ZERO)
    side = transaction.side
    return {
        "id": activity_id(transaction),
        "activity_type": "FILL",
        "transaction_time": rfc3339(transaction.timestamp),
        "type": "fill" if leaves == 0 else "partial_fill",
        "price": decimal_text(transaction.price or ZERO),
        "qty": decimal_text(quantity),
        "side": "buy" if side is not None and side.is_buy else "sell",
        "symbol": transaction.symbol or "",
        "leaves_qty": decimal_text(leaves),
        "order_id": transaction.order_id or "",
        "cum_qty": decimal_text(cum_qty),
        "order_status": "filled" if leaves == 0 else "partially_filled",
    }


def non_trade_activity_json(transaction: Transaction) -> dict[str, Any]:
    """A ``NonTradeActivities`` entry (deposits ``CSD``, withdrawals ``CSW``, ...)."""
    result: dict[str, Any] = {
        "id": activity_id(transaction),
        "activity_type": activity_type_of(transaction),
        "date": transaction.timestamp.astimezone(NEW_YORK).date().isoformat(),
        "created_at": rfc3339(transaction.timestamp),
        "net_amount": decimal_text(transaction.amount),
        "currency": "USD",
        "status": "executed",
    }
    if transaction.symbol:
        result["symbol"] = transaction.symbol
    if transaction.quantity is not None:
        result["qty"] = decimal_text(transaction.quantity)
    if transaction.price is not None:
        result["per_share_amount"] = decimal_text(transaction.price)
    return result


# --- assets, clock, calendar ----------------------------------------------------------


def asset_json(instrument: Instrument) -> dict[str, Any]:
    """An ``Assets`` entry (stocks and ETFs; options are not assets at Alpaca)."""
    attributes = [] if instrument.is_option else ["has_options"]
    return {
        "id": stable_uuid("asset", instrument.symbol),
        "class": asset_class(instrument.asset_type),
        "exchange": exchange_of(instrument),
        "symbol": instrument.symbol,
        "name": instrument.name,
        "status": "active",
        "tradable": True,
        "marginable": instrument.marginable and not instrument.is_option,
        "shortable": instrument.shortable,
        "easy_to_borrow": instrument.easy_to_borrow,
        "borrow_status": "easy_to_borrow" if instrument.easy_to_borrow else "hard_to_borrow",
        "fractionable": instrument.fractionable,
        "margin_requirement_long": "100" if not instrument.marginable else "50",
        "margin_requirement_short": "100" if not instrument.marginable else "50",
        "attributes": attributes,
        "price_increment": decimal_text(instrument.tick_size),
    }


def _new_york(at: datetime) -> str:
    local = at.astimezone(NEW_YORK)
    return local.isoformat(timespec="microseconds")


def clock_json(now: datetime, is_open: bool, next_open: datetime,
               next_close: datetime) -> dict[str, Any]:
    """The (legacy v2) ``Clock``: timestamps in New York time with their offset."""
    return {"timestamp": _new_york(now), "is_open": is_open,
            "next_open": _new_york(next_open), "next_close": _new_york(next_close)}


def calendar_json(sessions: Sequence[SessionTimes],
                  calendar: MarketCalendar) -> list[dict[str, Any]]:
    """``/v2/calendar`` days; ``settlement_date`` is T+1 (the next trading day)."""
    result: list[dict[str, Any]] = []
    for session in sessions:
        settle = calendar.next_open(session.close).astimezone(NEW_YORK).date()
        result.append({
            "date": session.date.isoformat(),
            "open": session.open.astimezone(NEW_YORK).strftime("%H:%M"),
            "close": session.close.astimezone(NEW_YORK).strftime("%H:%M"),
            "session_open": session.pre_open.astimezone(NEW_YORK).strftime("%H%M"),
            "session_close": session.post_close.astimezone(NEW_YORK).strftime("%H%M"),
            "settlement_date": settle.isoformat(),
        })
    return result


# --- market data ----------------------------------------------------------------------


def _number(value: Decimal) -> Decimal:
    # The data API sends JSON numbers: handlers answer with decimals_as_numbers, which
    # writes these digits exactly.
    return value


def stock_quote_json(quote: SimQuote, instrument: Instrument) -> dict[str, Any]:
    venue = _QUOTE_VENUE.get(instrument.exchange, "V")
    return {"ap": _number(quote.ask), "as": int(quote.ask_size), "ax": venue,
            "bp": _number(quote.bid), "bs": int(quote.bid_size), "bx": venue, "c": ["R"],
            "t": rfc3339(quote.timestamp), "z": _TAPE.get(instrument.exchange, "B")}


def option_quote_json(quote: SimQuote) -> dict[str, Any]:
    return {"ap": _number(quote.ask), "as": int(quote.ask_size), "ax": "X",
            "bp": _number(quote.bid), "bs": int(quote.bid_size), "bx": "X", "c": " ",
            "t": rfc3339(quote.timestamp)}


def stock_trade_json(quote: SimQuote, instrument: Instrument) -> dict[str, Any]:
    """The latest trade: the engine's last price (the simulation keeps no trade tape, so
    size and id are nominal)."""
    return {"c": ["@"], "i": int(quote.timestamp.timestamp() * 1000) % 10**9,
            "p": _number(quote.last), "s": 100, "t": rfc3339(quote.timestamp),
            "x": _QUOTE_VENUE.get(instrument.exchange, "V"),
            "z": _TAPE.get(instrument.exchange, "B")}


def option_trade_json(quote: SimQuote) -> dict[str, Any]:
    return {"c": "I", "p": _number(quote.last), "s": 1, "t": rfc3339(quote.timestamp),
            "x": "X"}


# --- trade_updates --------------------------------------------------------------------


def trade_update_json(event: SimEvent, *, accepted: bool = False) -> dict[str, Any] | None:
    """The ``trade_updates`` message for an engine event, or None (cash events)."""
    name = EVENTS.get(event.kind)
    if name is None or event.order is None:
        return None
    data: dict[str, Any] = {"event": name, "timestamp": rfc3339(event.at),
                            "order": order_json(event.order, accepted=accepted)}
    if event.kind in (EventKind.FILL, EventKind.PARTIAL_FILL):
        data["execution_id"] = stable_uuid("execution", f"{event.order.order_id}:{event.seq}")
        data["price"] = _opt(event.fill_price)
        data["qty"] = _opt(event.fill_quantity)
        data["position_qty"] = _opt(event.position_quantity)
    return {"stream": "trade_updates", "data": data}

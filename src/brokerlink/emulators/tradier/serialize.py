"""Engine state -> Tradier payloads, field for field as REFERENCE.md shows them.

Pure functions over core models and plain values. Numbers are ``Decimal`` (written as
JSON numbers by ``wire.dumps``), ids and sizes are ``int``, dates ISO with milliseconds
and ``Z``; quote dates are epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    OptionType,
    OrderStatus,
    OrderType,
    TransactionType,
)
from brokerlink.core.models import AccountBalances, BrokerAccount, Order, Position, Transaction
from brokerlink.core.symbols import parse_occ
from brokerlink.emulators.tradier.state import OrderMeta
from brokerlink.emulators.tradier.wire import collection, epoch_ms, iso_ms, one_or_many
from brokerlink.sim.calendar import MarketSession
from brokerlink.sim.prices import SimQuote
from brokerlink.sim.universe import Instrument

ZERO = Decimal(0)
CENT = Decimal("0.01")
NEW_YORK = ZoneInfo("America/New_York")

STATUS: dict[OrderStatus, str] = {
    OrderStatus.PENDING_NEW: "pending",
    OrderStatus.NEW: "open",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    # Tradier has no pending-cancel or replaced state: a cancel is acknowledged at once
    # and a change keeps the order (and its id) working.
    OrderStatus.PENDING_CANCEL: "open",
    OrderStatus.PENDING_REPLACE: "open",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REPLACED: "canceled",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.UNKNOWN: "error",
}

_EXCHANGE_CODES = {"NASDAQ": "Q", "NYSE": "N", "ARCA": "P", "NYSEARCA": "P", "AMEX": "A",
                   "BATS": "Z", "CBOE": "C", "OPRA": "O"}


@dataclass(frozen=True, slots=True)
class LastFill:
    quantity: Decimal
    price: Decimal


def last_fills(transactions: Iterable[Transaction]) -> dict[str, LastFill]:
    """The most recent fill of each engine order, from the account ledger."""
    result: dict[str, LastFill] = {}
    for entry in transactions:
        if entry.type is TransactionType.FILL and entry.order_id and entry.quantity \
                and entry.price is not None:
            result[entry.order_id] = LastFill(entry.quantity, entry.price)
    return result


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value


# --- profile ---------------------------------------------------------------------------


def account_entry(account: BrokerAccount, options_level: int, *, pdt: bool) -> dict[str, Any]:
    opened = iso_ms(account.as_of if account.opened_date is None else datetime(
        account.opened_date.year, account.opened_date.month, account.opened_date.day,
        tzinfo=account.as_of.tzinfo))
    return {
        "account_number": account.account_id,
        "classification": "individual",
        "date_created": opened,
        "day_trader": pdt,
        "option_level": options_level,
        "status": "closed" if account.status is AccountStatus.CLOSED else "active",
        "type": "cash" if account.account_type is AccountType.CASH else "margin",
        "last_update_date": opened,
    }


def profile(user_id: str, name: str, accounts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"profile": {"account": one_or_many(list(accounts)), "id": user_id, "name": name}}


# --- balances --------------------------------------------------------------------------


def balances(b: AccountBalances, positions: Sequence[Position], *, account_type: str,
             pending_orders: int, realized_today: Decimal) -> dict[str, Any]:
    """``account_type`` is ``cash``, ``margin`` or ``pdt``; exactly that sub-object is set."""
    stock_long = option_long = option_short = stock_short = ZERO
    open_pl = ZERO
    for p in positions:
        value = _money(p.market_value)
        open_pl += _money(p.unrealized_pnl)
        if p.asset_type is AssetType.OPTION:
            if value >= 0:
                option_long += value
            else:
                option_short += value
        elif value >= 0:
            stock_long += value
        else:
            stock_short += value
    body: dict[str, Any] = {
        "option_short_value": option_short,
        "total_equity": b.total_value,
        "account_number": b.account_id,
        "account_type": account_type,
        "close_pl": realized_today,
        "current_requirement": _money(b.margin_maintenance),
        # The documentation's example shows 0 here next to a non-zero total_equity; the
        # account value lives in total_equity.
        "equity": ZERO,
        "long_market_value": stock_long + option_long,
        "market_value": b.market_value,
        "open_pl": open_pl,
        "option_long_value": option_long,
        "option_requirement": ZERO,
        "pending_orders_count": pending_orders,
        "short_market_value": stock_short + option_short,
        "stock_long_value": stock_long,
        "total_cash": b.cash,
        "uncleared_funds": ZERO,
        "pending_cash": ZERO,
    }
    if account_type == "cash":
        body["cash"] = {"cash_available": b.cash_available, "sweep": ZERO,
                        "unsettled_funds": ZERO}
    else:
        stock_bp = b.buying_power
        # Options are paid in full, so a margin dollar buys half as much option premium.
        detail: dict[str, Any] = {
            "fed_call": ZERO,
            "maintenance_call": ZERO,
            "option_buying_power": (stock_bp / 2).quantize(CENT, ROUND_HALF_UP),
            "stock_buying_power": stock_bp,
            "stock_short_value": stock_short,
        }
        if account_type == "margin":
            detail["sweep"] = ZERO
        body[account_type] = detail
    return {"balances": body}


# --- positions -------------------------------------------------------------------------


def position(p: Position, position_id: int, acquired: datetime) -> dict[str, Any]:
    """Only the five documented fields; ``cost_basis`` is the total cost (x100 for options)."""
    multiplier = Decimal(100) if p.asset_type is AssetType.OPTION else Decimal(1)
    return {
        "cost_basis": p.quantity * p.average_cost * multiplier,
        "date_acquired": iso_ms(acquired),
        "id": position_id,
        "quantity": p.quantity,
        "symbol": p.symbol,
    }


def positions(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"positions": collection("position", items)}


# --- orders ----------------------------------------------------------------------------


def _underlying(symbol: str) -> str:
    return parse_occ(symbol).root


def order(o: Order, order_id: int, meta: OrderMeta, fill: LastFill | None, *,
          include_tag: bool) -> dict[str, Any]:
    """One single-leg order as Tradier lists it."""
    is_option = o.asset_type is AssetType.OPTION
    body: dict[str, Any] = {
        "id": order_id,
        "type": o.order_type.value,
        "symbol": _underlying(o.symbol) if is_option else o.symbol,
        "side": o.side.value,
        "quantity": o.quantity,
        "status": STATUS[o.status],
        "duration": meta.duration,
    }
    if o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and o.limit_price is not None:
        body["price"] = o.limit_price
    if o.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and o.stop_price is not None:
        body["stop_price"] = o.stop_price
    body.update({
        "avg_fill_price": _money(o.average_fill_price),
        "exec_quantity": o.filled_quantity,
        "last_fill_price": fill.price if fill else ZERO,
        "last_fill_quantity": fill.quantity if fill else ZERO,
        "remaining_quantity": o.remaining_quantity,
        "create_date": iso_ms(o.submitted_at or o.as_of),
        "transaction_date": iso_ms(o.updated_at or o.submitted_at or o.as_of),
        "class": meta.order_class,
    })
    if is_option:
        body["option_symbol"] = o.symbol
    if include_tag and meta.tag:
        body["tag"] = meta.tag
    if o.status is OrderStatus.REJECTED and o.reject_reason:
        body["reason_description"] = o.reject_reason
    return body


def multileg_status(legs: Sequence[Order]) -> str:
    statuses = {leg.status for leg in legs}
    if statuses == {OrderStatus.FILLED}:
        return "filled"
    if any(s.is_open for s in statuses):
        if any(leg.filled_quantity > 0 for leg in legs):
            return "partially_filled"
        return "open"
    if OrderStatus.REJECTED in statuses:
        return "rejected"
    if OrderStatus.EXPIRED in statuses:
        return "expired"
    return "canceled"


def multileg(order_id: int, meta: OrderMeta, legs: Sequence[dict[str, Any]],
             leg_orders: Sequence[Order], *, include_tag: bool) -> dict[str, Any]:
    """A multileg (or combo) parent with its legs under ``leg`` (object for one)."""
    first = leg_orders[0]
    filled = all(leg.status is OrderStatus.FILLED for leg in leg_orders)
    body: dict[str, Any] = {
        "id": order_id,
        "type": meta.net_type or "market",
        "symbol": meta.symbol or "",
        "side": "buy",
        "quantity": first.quantity,
        "status": multileg_status(leg_orders),
        "duration": meta.duration,
    }
    if meta.net_price is not None:
        body["price"] = meta.net_price
    body.update({
        "avg_fill_price": ZERO,
        "exec_quantity": first.quantity if filled else ZERO,
        "last_fill_price": ZERO,
        "last_fill_quantity": ZERO,
        "remaining_quantity": ZERO if filled else first.quantity,
        "create_date": iso_ms(meta.created_at or first.as_of),
        "transaction_date": iso_ms(max((leg.updated_at or leg.as_of) for leg in leg_orders)),
        "class": meta.order_class,
        "num_legs": len(leg_orders),
        "strategy": meta.strategy or "freeform",
        "leg": one_or_many(list(legs)),
    })
    if include_tag and meta.tag:
        body["tag"] = meta.tag
    return body


def orders(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"orders": collection("order", items)}


def order_ack(order_id: int, partner_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": order_id, "status": "ok"}
    if partner_id is not None:
        body["partner_id"] = partner_id
    return {"order": body}


def stream_order_event(o: Order, order_id: int, account_id: str, tag: str | None,
                       fill_quantity: Decimal | None) -> dict[str, Any]:
    """One account-stream order message (REFERENCE.md section 7)."""
    body: dict[str, Any] = {
        "id": order_id,
        "event": "order",
        "status": STATUS[o.status],
        "type": o.order_type.value,
        "price": _money(o.limit_price),
        "stop_price": _money(o.stop_price),
        "avg_fill_price": _money(o.average_fill_price),
        "exec_quantity": o.filled_quantity,
        "last_fill_quantity": fill_quantity or ZERO,
        "remaining_quantity": o.remaining_quantity,
        "transaction_date": iso_ms(o.updated_at or o.as_of),
        "create_date": iso_ms(o.submitted_at or o.as_of),
        "account": account_id,
    }
    if tag:
        body["tag"] = tag
    return body


# --- quotes ----------------------------------------------------------------------------


def quote(instrument: Instrument, q: SimQuote, *, greeks: bool) -> dict[str, Any]:
    change = q.last - q.previous_close
    pct = (change / q.previous_close * 100).quantize(CENT, ROUND_HALF_UP) \
        if q.previous_close else ZERO
    exch = _EXCHANGE_CODES.get(instrument.exchange.upper(), instrument.exchange[:1].upper())
    is_option = instrument.asset_type is AssetType.OPTION
    kind = {"option": "option", "etf": "etf", "mutual_fund": "mutual_fund"}.get(
        instrument.asset_type.value, "stock")
    stamp = epoch_ms(q.timestamp)
    body: dict[str, Any] = {
        "symbol": instrument.symbol,
        "description": instrument.name,
        "exch": exch,
        "type": kind,
        "last": q.last,
        "change": change,
        "volume": 0,
        # The simulation keeps no session OHLC or 52-week range; Tradier writes null for
        # values it does not have (``close`` in the documented example).
        "open": None,
        "high": None,
        "low": None,
        "close": None,
        "bid": q.bid,
        "ask": q.ask,
        "change_percentage": pct,
        "average_volume": 0,
        "last_volume": 0,
        "trade_date": stamp,
        "prevclose": q.previous_close,
        "week_52_high": None,
        "week_52_low": None,
        "bidsize": int(q.bid_size),
        "bidexch": exch,
        "bid_date": stamp,
        "asksize": int(q.ask_size),
        "askexch": exch,
        "ask_date": stamp,
    }
    if is_option:
        assert instrument.expiration is not None  # noqa: S101  (options always have one)
        root = _underlying(instrument.symbol)
        body.update({
            "underlying": instrument.underlying,
            "strike": instrument.strike,
            "open_interest": 0,
            "contract_size": instrument.multiplier,
            "expiration_date": instrument.expiration.isoformat(),
            "expiration_type": "standard",
            "option_type": "call" if instrument.option_type is OptionType.CALL else "put",
            "root_symbol": root,
        })
        if greeks:
            body["greeks"] = {"delta": None, "gamma": None, "theta": None, "vega": None,
                              "rho": None, "phi": None, "bid_iv": None, "mid_iv": None,
                              "ask_iv": None, "smv_vol": None,
                              "updated_at": iso_ms(q.timestamp)}
    else:
        body["root_symbols"] = instrument.symbol
    return body


def quotes(found: Sequence[dict[str, Any]], unmatched: Sequence[str]) -> dict[str, Any]:
    """``quotes.quote`` (object for one, list for many, absent if none matched) and
    ``quotes.unmatched_symbols.symbol`` for unknown symbols."""
    body: dict[str, Any] = {}
    if found:
        body["quote"] = one_or_many(list(found))
    if unmatched:
        body["unmatched_symbols"] = {"symbol": one_or_many(list(unmatched))}
    return {"quotes": body if body else "null"}


# --- history and gain/loss -------------------------------------------------------------


def _day(at: datetime) -> str:
    """History is clearing data: dates only, written as midnight UTC."""
    return f"{at.astimezone(NEW_YORK).date().isoformat()}T00:00:00Z"


def history_event(t: Transaction, description: str) -> dict[str, Any]:
    base: dict[str, Any] = {"amount": t.amount, "date": _day(t.timestamp)}
    if t.type is TransactionType.FILL:
        is_option = t.symbol is not None and len(t.symbol) > 15 and t.symbol[-9] in "CP"
        signed = _money(t.quantity) if t.side is None or t.side.is_buy \
            else -_money(t.quantity)
        base.update(type="trade", trade={
            "commission": t.fees, "description": description, "price": _money(t.price),
            "quantity": signed, "symbol": t.symbol or "",
            "trade_type": "Option" if is_option else "Equity"})
        return base
    if t.type is TransactionType.OTHER and t.symbol:
        base.update(type="option", option={"option_type": "OPTEXP",
                                           "description": t.description or "Expired",
                                           "quantity": _money(t.quantity)})
        return base
    kind = {TransactionType.DEPOSIT: "ach", TransactionType.WITHDRAWAL: "ach",
            TransactionType.DIVIDEND: "dividend", TransactionType.INTEREST: "interest",
            TransactionType.FEE: "fee", TransactionType.TRANSFER: "transfer"}.get(
        t.type, "adjustment")
    # The documentation's dividend example files its detail under "adjustment".
    detail_key = "adjustment" if kind == "dividend" else kind
    base.update({"type": kind, detail_key: {"description": t.description or kind.upper(),
                                            "quantity": ZERO}})
    return base


def history(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"history": collection("event", events)}


def gainloss(closed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"gainloss": collection("closed_position", closed)}


def closed_position(symbol: str, quantity: Decimal, cost: Decimal, proceeds: Decimal,
                    opened: datetime, closed: datetime) -> dict[str, Any]:
    gain = proceeds - cost
    pct = (gain / cost * 100).quantize(Decimal("0.0001"), ROUND_HALF_UP) if cost else ZERO
    return {"close_date": iso_ms(closed), "cost": cost, "gain_loss": gain,
            "gain_loss_percent": pct, "open_date": iso_ms(opened), "proceeds": proceeds,
            "quantity": quantity, "symbol": symbol, "term": (closed - opened).days}


# --- market clock ----------------------------------------------------------------------

_STATE = {MarketSession.PRE: "premarket", MarketSession.REGULAR: "open",
          MarketSession.POST: "postmarket", MarketSession.CLOSED: "closed"}
_NEXT = {"premarket": "open", "open": "postmarket", "postmarket": "closed",
         "closed": "premarket"}


def clock(now: datetime, session: MarketSession, next_change: datetime) -> dict[str, Any]:
    state = _STATE[session]
    local = now.astimezone(NEW_YORK)
    descriptions = {"premarket": "Market is in pre-market hours from 04:00 to 09:30",
                    "open": "Market is open from 09:30 to 16:00",
                    "postmarket": "Market is in post-market hours from 16:00 to 20:00",
                    "closed": "Market is closed"}
    return {"clock": {"date": local.date().isoformat(), "description": descriptions[state],
                      "state": state, "timestamp": int(now.timestamp()),
                      "next_change": next_change.astimezone(NEW_YORK).strftime("%H:%M"),
                      "next_state": _NEXT[state]}}

"""When a working order trades, and at what price: pure rules, no state.

Marketable buys take the ask and sells the bid, so a limit order gets price
improvement when the market is through its limit. Stops trigger on the last trade
price crossing the stop; a triggered stop becomes a market order, a triggered
stop-limit a limit order. Trailing stops ratchet their reference price with the
market and never loosen.
"""

from __future__ import annotations

from decimal import Decimal

from brokerlink.core.enums import OrderType
from brokerlink.sim.orders import WorkingOrder
from brokerlink.sim.prices import SimQuote

# Enum members bound once (class attribute access on an enum is slow in Python 3.11).
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT
_STOP_LIMIT, _TRAILING_STOP = OrderType.STOP_LIMIT, OrderType.TRAILING_STOP


def update_trigger(order: WorkingOrder, last: Decimal) -> None:
    """Ratchet a trailing stop's reference and trigger stops whose price was crossed."""
    if order.triggered:
        return
    if order.request.order_type is _TRAILING_STOP:
        if order.trail_reference is None:
            order.trail_reference = last
        elif order.side.is_buy:
            order.trail_reference = min(order.trail_reference, last)
        else:
            order.trail_reference = max(order.trail_reference, last)
        stop = order.effective_stop()
    else:
        stop = order.stop_price  # what ``effective_stop`` gives any other order
    if stop is None:
        return
    if (order.side.is_buy and last >= stop) or (not order.side.is_buy and last <= stop):
        order.triggered = True


def acts_as(order: WorkingOrder) -> OrderType | None:
    """What the order trades as right now: market, limit, or None (a stop not triggered)."""
    kind = order.request.order_type
    if kind is _MARKET:
        return _MARKET
    if kind is _LIMIT:
        return _LIMIT
    if not order.triggered:
        return None
    return _LIMIT if kind is _STOP_LIMIT else _MARKET


def execution_price(order: WorkingOrder, quote: SimQuote) -> Decimal | None:
    """The price the order trades at against ``quote`` now, or None if it does not trade."""
    behaviour = acts_as(order)
    if behaviour is None:
        return None
    is_buy = order.request.side.is_buy
    touch = quote.ask if is_buy else quote.bid
    if behaviour is _MARKET:
        return touch
    limit = order.limit_price
    assert limit is not None  # noqa: S101  (limit orders are validated to carry one)
    if is_buy:
        return touch if touch <= limit else None
    return touch if touch >= limit else None


def auction_price(order: WorkingOrder, print_price: Decimal) -> Decimal | None:
    """The price an opening or closing auction order trades at, or None if its limit
    is not met at the auction print."""
    if order.request.order_type is _MARKET:
        return print_price
    limit = order.limit_price
    assert limit is not None  # noqa: S101
    if order.side.is_buy:
        return print_price if print_price <= limit else None
    return print_price if print_price >= limit else None


def available_liquidity(order: WorkingOrder, quote: SimQuote) -> Decimal:
    """Size available at the touch for this order's side."""
    return quote.ask_size if order.request.side.is_buy else quote.bid_size

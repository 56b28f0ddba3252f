"""Admission rules: whether an account may place an order, checked before any state
changes, so a refused order leaves the engine exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from brokerlink.core.enums import AccountType, AssetType, OptionType, OrderSide, OrderType
from brokerlink.core.errors import (
    InsufficientFundsError,
    InvalidOrderError,
    PermissionDeniedError,
)
from brokerlink.core.models import OrderRequest
from brokerlink.sim.accounts import ZERO, SimAccount
from brokerlink.sim.prices import SimQuote
from brokerlink.sim.universe import DECIMAL_OF, Instrument

# Enum members bound once (class attribute access on an enum is slow in Python 3.11).
_OPTION = AssetType.OPTION
_BUY, _SELL, _SELL_SHORT = OrderSide.BUY, OrderSide.SELL, OrderSide.SELL_SHORT
_SELL_TO_OPEN = OrderSide.SELL_TO_OPEN
_LONG_CLOSING_SIDES = frozenset({OrderSide.SELL, OrderSide.SELL_TO_CLOSE})
_LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_STOP = OrderType.STOP


class ClosedMarketPolicy(StrEnum):
    """What a broker does with an order that cannot trade in the current session."""

    REJECT = "reject"
    """Refuse with ``MarketClosedError`` (the paper broker's default)."""
    QUEUE = "queue"
    """Accept it and let it work from its next session (most real brokers)."""


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Commissions: per share (with a per-order minimum) and per option contract."""

    per_share: Decimal = ZERO
    per_contract: Decimal = Decimal("0.65")
    minimum: Decimal = ZERO

    def fee(self, instrument: Instrument, quantity: Decimal) -> Decimal:
        if instrument.asset_type is _OPTION:
            return self.per_contract * quantity
        if self.per_share == ZERO:
            return ZERO
        return max(self.minimum, self.per_share * quantity)


@dataclass(frozen=True, slots=True)
class Admission:
    """What accepting an order commits: buying power held, or shares held to close."""

    reserve: Decimal
    closes_position: bool


CLOSING_SIDES = frozenset({OrderSide.SELL, OrderSide.BUY_TO_COVER, OrderSide.SELL_TO_CLOSE,
                           OrderSide.BUY_TO_CLOSE})
_CLOSING = Admission(reserve=ZERO, closes_position=True)
"""Every closing order's admission: nothing held, shares to close (immutable, so shared)."""


def admit(
    account: SimAccount,
    request: OrderRequest,
    instrument: Instrument,
    quote: SimQuote,
    buying_power: Decimal,
    fees: FeeSchedule,
    now: datetime,
) -> Admission:
    """Check that ``account`` may place ``request`` and say what it must reserve.

    Raises ``InvalidOrderError``, ``PermissionDeniedError`` or ``InsufficientFundsError``
    with the figures a user needs to fix the order.
    """
    side = request.side
    quantity = request.quantity
    is_option = instrument.asset_type is _OPTION
    if not instrument.fractionable and quantity != quantity.to_integral_value():
        raise InvalidOrderError(f"{instrument.symbol} cannot be traded in fractional "
                                "quantities; use a whole number", field="quantity")
    if is_option:
        _check_option(account, request, instrument, now)
    holding = account.holdings.get(instrument.symbol)
    held = holding.quantity if holding else ZERO  # ``account.held_quantity``
    reserved_to_close = holding.reserved_to_close if holding else ZERO
    if side in CLOSING_SIDES:
        want_long = side in _LONG_CLOSING_SIDES
        available = (held if want_long else -held) - reserved_to_close
        covering = account.shares_covering_calls(instrument.symbol) \
            if side is _SELL else ZERO
        available -= covering
        if available < quantity:
            kind = "long" if want_long else "short"
            hint = " (use sell_short to open a short position)" if side is _SELL else ""
            calls = f" or to the {covering} covering short calls" if covering else ""
            raise InvalidOrderError(
                f"{side.value} {quantity} {instrument.symbol}: only {max(available, ZERO)} "
                f"held {kind} and not already committed to open orders{calls}{hint}",
                field="quantity")
        return _CLOSING
    if side is _SELL_SHORT:
        _check_short(account, instrument, held)
    if side is _BUY and held < ZERO:
        raise InvalidOrderError(f"{instrument.symbol} is held short; use buy_to_cover to "
                                "close it", field="side")
    if side is _SELL_TO_OPEN:
        return _admit_short_option(account, request, instrument, buying_power, fees)
    price = _reference_price(request, quote)
    notional = quantity * price * DECIMAL_OF[instrument.multiplier]
    fee = fees.fee(instrument, quantity)
    required = account.cost_in_buying_power(instrument, notional) + fee
    if required > buying_power:
        raise InsufficientFundsError(
            f"insufficient buying power for {side.value} {quantity} {instrument.symbol}: "
            f"requires {required:.2f}, available {buying_power:.2f}",
            required=required, available=buying_power)
    return Admission(reserve=required, closes_position=False)


def _reference_price(request: OrderRequest, quote: SimQuote) -> Decimal:
    """The price buying power is held at: the limit where there is one, else the touch
    (or the stop, for a stop order that can only trade past it)."""
    touch = quote.ask if request.side.is_buy else quote.bid
    order_type = request.order_type
    if order_type in _LIMIT_PRICED:
        assert request.limit_price is not None  # noqa: S101
        return request.limit_price
    if order_type is _STOP and request.stop_price is not None:
        return max(touch, request.stop_price) if request.side.is_buy else touch
    return touch


def _check_option(account: SimAccount, request: OrderRequest, instrument: Instrument,
                  now: datetime) -> None:
    if request.extended_hours:
        raise InvalidOrderError("options trade in the regular session only",
                                field="extended_hours")
    if instrument.expiration is not None and instrument.expiration < now.date():
        raise InvalidOrderError(f"{instrument.symbol} expired on {instrument.expiration}",
                                field="expiration")
    if request.side is OrderSide.BUY_TO_OPEN and account.options_level < 2:
        raise PermissionDeniedError(
            f"buying options needs options level 2; account {account.account_id} has "
            f"level {account.options_level}")
    if account.options_level < 1:
        raise PermissionDeniedError(f"account {account.account_id} is not approved for "
                                    "options")


def _check_short(account: SimAccount, instrument: Instrument, held: Decimal) -> None:
    if account.account_type is not AccountType.MARGIN:
        raise PermissionDeniedError("short selling needs a margin account; "
                                    f"{account.account_id} is a {account.account_type.value} "
                                    "account")
    if not instrument.shortable:
        raise InvalidOrderError(f"{instrument.symbol} is not available to short",
                                field="symbol")
    if not instrument.easy_to_borrow:
        raise InvalidOrderError(f"{instrument.symbol} is hard to borrow: no shares can be "
                                "located to short", field="symbol")
    if held > 0:
        raise InvalidOrderError(f"{instrument.symbol} is held long; sell it before selling "
                                "short", field="side")


def _admit_short_option(
    account: SimAccount,
    request: OrderRequest,
    instrument: Instrument,
    buying_power: Decimal,
    fees: FeeSchedule,
) -> Admission:
    """Covered calls and cash-secured puts at level 1+; anything naked needs level 4."""
    underlying, strike = option_terms(instrument)
    contracts = request.quantity
    shares_needed = contracts * Decimal(instrument.multiplier)
    fee = fees.fee(instrument, contracts)
    if instrument.option_type is OptionType.CALL:
        stock = account.holdings.get(underlying)
        free_shares = account.held_quantity(underlying) - account.shares_covering_calls(
            underlying) - (stock.reserved_to_close if stock else ZERO)
        if free_shares >= shares_needed:
            return Admission(reserve=fee, closes_position=False)
        if account.options_level < 4:
            raise PermissionDeniedError(
                f"selling {contracts} {instrument.symbol} uncovered needs options level 4; "
                f"hold {shares_needed} {underlying} to sell it covered")
        required = shares_needed * strike * Decimal("0.2") * 2 + fee
    else:
        required = shares_needed * strike + fee
        if account.is_margin:
            required *= 2
    if required > buying_power:
        raise InsufficientFundsError(
            f"insufficient buying power to secure {contracts} {instrument.symbol}: requires "
            f"{required:.2f}, available {buying_power:.2f}", required=required,
            available=buying_power)
    return Admission(reserve=required, closes_position=False)


def option_terms(instrument: Instrument) -> tuple[str, Decimal]:
    """An option's underlying and strike. Raises ``ValueError`` for a non-option."""
    if instrument.underlying is None or instrument.strike is None:
        raise ValueError(f"{instrument.symbol} is not an option")
    return instrument.underlying, instrument.strike

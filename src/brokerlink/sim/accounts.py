"""A simulated brokerage account: cash, holdings, a ledger, and margin arithmetic.

Margin follows Regulation T in its usual retail form: 50% initial margin on
marginable longs and on shorts, 25% maintenance on longs and 30% on shorts, options
and non-marginable securities paid in full; short options hold collateral while
open (a put its strike, an uncovered call 20% of its strike, a covered call the
shares under it). Overnight buying power is twice the excess of equity over initial
margin; pattern-day-trader intraday buying power is four times the excess over
maintenance, once equity is at least $25,000.

Buying power is spent in one unit across account kinds: a cash account spends cash
one for one; a margin account spends ``notional`` for marginable buys and twice the
notional for anything paid in full (since each dollar of excess buys two).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    DataSource,
    OptionType,
    OrderSide,
    TransactionType,
)
from brokerlink.core.models import AccountBalances, Position, Transaction
from brokerlink.sim.universe import DECIMAL_OF, Instrument

ZERO = Decimal(0)
ONE = Decimal(1)
TWO = Decimal(2)
CENT = Decimal("0.01")
INITIAL_LONG = Decimal("0.5")
INITIAL_SHORT = Decimal("0.5")
MAINTENANCE_LONG = Decimal("0.25")
MAINTENANCE_SHORT = Decimal("0.30")
PDT_MINIMUM_EQUITY = Decimal(25000)
HUNDRED = Decimal(100)
NAKED_CALL = Decimal("0.2")
"""An uncovered call holds 20% of its strike (admission charges the same)."""
_OPTION = AssetType.OPTION
_CALL, _PUT = OptionType.CALL, OptionType.PUT
_MARGIN = AccountType.MARGIN


@dataclass(slots=True)
class Holding:
    """One instrument held: signed quantity (negative is short) and average cost per unit."""

    instrument: Instrument
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    day_start_value: Decimal = ZERO
    day_trade_cash: Decimal = ZERO
    reserved_to_close: Decimal = ZERO

    @property
    def multiplier(self) -> Decimal:
        return DECIMAL_OF[self.instrument.multiplier]

    def apply(self, signed_quantity: Decimal, price: Decimal) -> Decimal:
        """Add a fill; return the realised P&L it closed."""
        realized = ZERO
        held = self.quantity
        multiplier = DECIMAL_OF[self.instrument.multiplier]
        new_quantity = held + signed_quantity
        if held == ZERO or (held > ZERO) == (signed_quantity > ZERO):
            total_cost = self.average_cost * abs(held) + price * abs(signed_quantity)
            self.average_cost = total_cost / abs(new_quantity)
        else:
            closed = min(abs(held), abs(signed_quantity))
            direction = ONE if held > ZERO else -ONE
            realized = (price - self.average_cost) * closed * direction * multiplier
            if new_quantity == ZERO:
                self.average_cost = ZERO
            elif (new_quantity > ZERO) != (held > ZERO):
                self.average_cost = price
        self.quantity = new_quantity
        self.realized_pnl += realized
        self.day_trade_cash -= signed_quantity * price * multiplier
        return realized


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One cash-affecting event, kept light and turned into a core ``Transaction`` on read."""

    entry_id: str
    type: TransactionType
    at: datetime
    amount: Decimal
    symbol: str | None = None
    side: OrderSide | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fees: Decimal = ZERO
    order_id: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class MarginFigures:
    long_value: Decimal
    short_value: Decimal
    equity: Decimal
    initial_requirement: Decimal
    maintenance_requirement: Decimal
    option_collateral: Decimal = ZERO
    """What short options hold while open (part of both requirements in a margin
    account; set aside from cash in a cash account)."""


@dataclass(slots=True)
class SimAccount:
    account_id: str
    account_type: AccountType
    opened_at: datetime
    cash: Decimal = ZERO
    options_level: int = 2
    status: AccountStatus = AccountStatus.ACTIVE
    name: str | None = None
    holdings: dict[str, Holding] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    reserved: Decimal = ZERO
    net_deposits: Decimal = ZERO
    day_start_equity: Decimal = ZERO

    @property
    def is_margin(self) -> bool:
        return self.account_type is _MARGIN

    @property
    def opened_date(self) -> date:
        return self.opened_at.date()

    def holding(self, instrument: Instrument) -> Holding:
        found = self.holdings.get(instrument.symbol)
        if found is None:
            found = Holding(instrument)
            self.holdings[instrument.symbol] = found
        return found

    def held_quantity(self, symbol: str) -> Decimal:
        found = self.holdings.get(symbol)
        return found.quantity if found else ZERO

    def margin(self, price_of: dict[str, Decimal]) -> MarginFigures:
        """Market values and Reg T requirements at the given prices."""
        long_value, short_value, initial, maintenance, collateral = self._totals(price_of)
        equity = self.cash + long_value + short_value
        return MarginFigures(long_value, short_value, equity, initial + collateral,
                             maintenance + collateral, collateral)

    def buying_power_at(self, price_of: dict[str, Decimal]) -> Decimal:
        """``buying_power(margin(price_of))``, the same figure without building the
        ``MarginFigures`` (admission asks for it on every order)."""
        long_value, short_value, initial, _, collateral = self._totals(price_of)
        if self.account_type is not _MARGIN:
            return self.cash - self.reserved - collateral
        equity = self.cash + long_value + short_value
        return max(ZERO, TWO * (equity - (initial + collateral))) - self.reserved

    def _totals(
        self, price_of: dict[str, Decimal]
    ) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """Long value, short value, initial and maintenance requirements before option
        collateral, and the option collateral, at the given prices."""
        long_value = short_value = initial = maintenance = ZERO
        short_options = False
        for symbol, held in self.holdings.items():
            quantity = held.quantity
            if not quantity:  # flat: nothing to value
                continue
            instrument = held.instrument
            value = quantity * price_of[symbol] * DECIMAL_OF[instrument.multiplier]
            is_option = instrument.asset_type is _OPTION
            paid_in_full = is_option or not instrument.marginable
            if value > ZERO:
                long_value += value
                initial += value if paid_in_full else value * INITIAL_LONG
                maintenance += value if paid_in_full else value * MAINTENANCE_LONG
            else:
                short_value += value
                if not is_option:  # short options need collateral, not a share of value
                    initial += -value * INITIAL_SHORT
                    maintenance += -value * MAINTENANCE_SHORT
            if quantity < ZERO and instrument.option_type is not None:
                short_options = True
        # Only short options hold collateral: without one the scan finds nothing.
        collateral = self.option_collateral() if short_options else ZERO
        return long_value, short_value, initial, maintenance, collateral

    def option_collateral(self) -> Decimal:
        """What open short options hold, as admission charged it: a short put its
        strike (cash-secured); a short call covered by shares held nothing (the shares
        are held instead, see ``shares_covering_calls``); an uncovered call 20% of its
        strike."""
        total = ZERO
        for underlying, calls in self._short_calls().items():
            shares = max(ZERO, self.held_quantity(underlying))
            for held in calls:
                assert held.instrument.strike is not None  # noqa: S101  (an option)
                covered = min(-held.quantity, shares // held.multiplier)
                shares -= covered * held.multiplier
                uncovered = -held.quantity - covered
                total += uncovered * held.multiplier * held.instrument.strike * NAKED_CALL
        for held in self.holdings.values():
            if held.quantity < ZERO and held.instrument.option_type is _PUT:
                assert held.instrument.strike is not None  # noqa: S101  (an option)
                total += -held.quantity * held.multiplier * held.instrument.strike
        return total

    def shares_covering_calls(self, symbol: str) -> Decimal:
        """Shares of ``symbol`` held long that cover short calls on it: not for sale
        while the calls are open."""
        needed = ZERO  # the shares the short calls on ``symbol`` (see ``_short_calls``) need
        for held in self.holdings.values():
            instrument = held.instrument
            if (held.quantity < ZERO and instrument.option_type is _CALL
                    and instrument.underlying == symbol):
                needed += -held.quantity * held.multiplier
        return min(max(ZERO, self.held_quantity(symbol)), needed)

    def _short_calls(self) -> dict[str, list[Holding]]:
        found: dict[str, list[Holding]] = {}
        for held in self.holdings.values():
            instrument = held.instrument
            if (held.quantity < ZERO and instrument.option_type is _CALL
                    and instrument.underlying is not None):
                found.setdefault(instrument.underlying, []).append(held)
        return found

    def buying_power(self, figures: MarginFigures) -> Decimal:
        """Spendable buying power after what open orders have reserved."""
        if self.account_type is not _MARGIN:
            return self.cash - self.reserved - figures.option_collateral
        return max(ZERO, TWO * (figures.equity - figures.initial_requirement)) - self.reserved

    def withdrawable(self, figures: MarginFigures) -> Decimal:
        """Cash that can leave the account: never borrowed money, never what open orders
        hold, and in a margin account never so much that equity falls below the initial
        requirement (short-sale proceeds stay as collateral). Each dollar withdrawn from
        a margin account costs two of buying power, hence half of what orders hold."""
        if not self.is_margin:
            return max(ZERO, self.cash - self.reserved - figures.option_collateral)
        excess = figures.equity - figures.initial_requirement - self.reserved / 2
        return max(ZERO, min(self.cash, excess))

    def cost_in_buying_power(self, instrument: Instrument, notional: Decimal) -> Decimal:
        """How much buying power a purchase (or short) of ``notional`` uses."""
        if self.account_type is not _MARGIN:
            return notional
        paid_in_full = instrument.asset_type is _OPTION or not instrument.marginable
        return notional * 2 if paid_in_full else notional

    def balances(self, price_of: dict[str, Decimal], as_of: datetime) -> AccountBalances:
        figures = self.margin(price_of)
        buying_power = self.buying_power(figures)
        equity = figures.equity
        if self.is_margin:
            excess_maintenance = max(ZERO, equity - figures.maintenance_requirement)
            # Open orders hold intraday buying power as they hold the overnight kind.
            day_trading = max(ZERO, 4 * excess_maintenance - self.reserved) \
                if equity >= PDT_MINIMUM_EQUITY else ZERO
            cash_available = max(ZERO, min(self.cash, buying_power))
            withdrawable = self.withdrawable(figures)
            margin: tuple[Decimal | None, ...] = (
                day_trading, max(ZERO, -self.cash), buying_power,
                figures.maintenance_requirement)
        else:
            cash_available = buying_power
            withdrawable = cash_available
            margin = (None, None, None, None)
        return AccountBalances(
            as_of=as_of,
            source=DataSource.SIMULATION,
            account_id=self.account_id,
            currency="USD",
            cash=self.cash,
            cash_available=cash_available,
            cash_withdrawable=withdrawable,
            buying_power=buying_power,
            total_value=equity,
            market_value=figures.long_value + figures.short_value,
            day_pnl=equity - self.day_start_equity,
            total_pnl=equity - self.net_deposits,
            day_trading_buying_power=margin[0],
            margin_balance=margin[1],
            margin_buying_power=margin[2],
            margin_maintenance=margin[3],
        )

    def positions(
        self, price_of: dict[str, Decimal], previous_close: dict[str, Decimal], as_of: datetime
    ) -> list[Position]:
        result: list[Position] = []
        for symbol, held in sorted(self.holdings.items()):
            if held.quantity == 0:
                continue
            instrument = held.instrument
            price = price_of[symbol]
            market_value = held.quantity * price * held.multiplier
            cost = held.quantity * held.average_cost * held.multiplier
            unrealized = market_value - cost
            pct = (unrealized / abs(cost) * HUNDRED).quantize(CENT) if cost else ZERO
            is_option = instrument.asset_type is AssetType.OPTION
            available = held.quantity - held.reserved_to_close \
                - self.shares_covering_calls(symbol) if held.quantity > 0 \
                else held.quantity + held.reserved_to_close
            result.append(Position(
                as_of=as_of,
                source=DataSource.SIMULATION,
                account_id=self.account_id,
                symbol=symbol,
                asset_type=instrument.asset_type,
                quantity=held.quantity,
                quantity_available=available,
                average_cost=held.average_cost,
                current_price=price,
                market_value=market_value,
                unrealized_pnl=unrealized,
                unrealized_pnl_pct=pct,
                day_pnl=market_value + held.day_trade_cash - held.day_start_value,
                option_type=instrument.option_type if is_option else None,
                strike=instrument.strike if is_option else None,
                expiration=instrument.expiration if is_option else None,
                underlying=instrument.underlying,
                currency="USD",
            ))
        return result

    def transactions(self, start: datetime, end: datetime, as_of: datetime) -> list[Transaction]:
        return [
            Transaction(
                as_of=as_of,
                source=DataSource.SIMULATION,
                transaction_id=entry.entry_id,
                account_id=self.account_id,
                type=entry.type,
                timestamp=entry.at,
                amount=entry.amount,
                symbol=entry.symbol,
                side=entry.side,
                quantity=entry.quantity,
                price=entry.price,
                fees=entry.fees,
                order_id=entry.order_id,
                description=entry.description,
                currency="USD",
            )
            for entry in self.ledger
            if start <= entry.at <= end
        ]

    def roll_day(self, price_of: dict[str, Decimal]) -> None:
        """Start a new trading day: day P&L is measured from here."""
        self.day_start_equity = self.margin(price_of).equity
        for held in self.holdings.values():
            held.day_start_value = held.quantity * price_of[held.instrument.symbol] \
                * held.multiplier
            held.day_trade_cash = ZERO

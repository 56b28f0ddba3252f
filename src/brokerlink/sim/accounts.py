"""A simulated brokerage account: cash, holdings, a ledger, and margin arithmetic.

Margin follows Regulation T in its usual retail form: 50% initial margin on
marginable longs and on shorts, 25% maintenance on longs and 30% on shorts, options
and non-marginable securities paid in full. Overnight buying power is twice the
excess of equity over initial margin; pattern-day-trader intraday buying power is
four times the excess over maintenance, once equity is at least $25,000.

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
    OrderSide,
    TransactionType,
)
from brokerlink.core.models import AccountBalances, Position, Transaction
from brokerlink.sim.universe import Instrument

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
INITIAL_LONG = Decimal("0.5")
INITIAL_SHORT = Decimal("0.5")
MAINTENANCE_LONG = Decimal("0.25")
MAINTENANCE_SHORT = Decimal("0.30")
PDT_MINIMUM_EQUITY = Decimal(25000)
HUNDRED = Decimal(100)


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
        return Decimal(self.instrument.multiplier)

    def apply(self, signed_quantity: Decimal, price: Decimal) -> Decimal:
        """Add a fill; return the realised P&L it closed."""
        realized = ZERO
        held = self.quantity
        new_quantity = held + signed_quantity
        if held == 0 or (held > 0) == (signed_quantity > 0):
            total_cost = self.average_cost * abs(held) + price * abs(signed_quantity)
            self.average_cost = total_cost / abs(new_quantity)
        else:
            closed = min(abs(held), abs(signed_quantity))
            direction = ONE if held > 0 else -ONE
            realized = (price - self.average_cost) * closed * direction * self.multiplier
            if new_quantity == 0:
                self.average_cost = ZERO
            elif (new_quantity > 0) != (held > 0):
                self.average_cost = price
        self.quantity = new_quantity
        self.realized_pnl += realized
        self.day_trade_cash -= signed_quantity * price * self.multiplier
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
        return self.account_type is AccountType.MARGIN

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
        long_value = short_value = initial = maintenance = ZERO
        for symbol, held in self.holdings.items():
            if held.quantity == 0:
                continue
            value = held.quantity * price_of[symbol] * held.multiplier
            paid_in_full = (held.instrument.asset_type is AssetType.OPTION
                            or not held.instrument.marginable)
            if value > 0:
                long_value += value
                initial += value if paid_in_full else value * INITIAL_LONG
                maintenance += value if paid_in_full else value * MAINTENANCE_LONG
            else:
                short_value += value
                initial += -value * INITIAL_SHORT
                maintenance += -value * MAINTENANCE_SHORT
        equity = self.cash + long_value + short_value
        return MarginFigures(long_value, short_value, equity, initial, maintenance)

    def buying_power(self, figures: MarginFigures) -> Decimal:
        """Spendable buying power after what open orders have reserved."""
        if not self.is_margin:
            return self.cash - self.reserved
        return max(ZERO, 2 * (figures.equity - figures.initial_requirement)) - self.reserved

    def cost_in_buying_power(self, instrument: Instrument, notional: Decimal) -> Decimal:
        """How much buying power a purchase (or short) of ``notional`` uses."""
        if not self.is_margin:
            return notional
        paid_in_full = instrument.asset_type is AssetType.OPTION or not instrument.marginable
        return notional * 2 if paid_in_full else notional

    def balances(self, price_of: dict[str, Decimal], as_of: datetime) -> AccountBalances:
        figures = self.margin(price_of)
        buying_power = self.buying_power(figures)
        equity = figures.equity
        if self.is_margin:
            excess_maintenance = max(ZERO, equity - figures.maintenance_requirement)
            day_trading = 4 * excess_maintenance if equity >= PDT_MINIMUM_EQUITY else ZERO
            cash_available = max(ZERO, min(self.cash, buying_power))
            withdrawable = max(ZERO, min(self.cash, equity - figures.initial_requirement))
            margin: tuple[Decimal | None, ...] = (
                day_trading, max(ZERO, -self.cash), buying_power,
                figures.maintenance_requirement)
        else:
            cash_available = self.cash - self.reserved
            withdrawable = cash_available
            margin = (None, None, None, None)
        return AccountBalances.model_construct(
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
            available = held.quantity - held.reserved_to_close if held.quantity > 0 \
                else held.quantity + held.reserved_to_close
            result.append(Position.model_construct(
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
            Transaction.model_construct(
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

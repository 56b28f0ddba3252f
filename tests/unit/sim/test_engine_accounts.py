"""Accounts on the engine: cash and Reg T margin, PDT buying power, shorts, options,
average cost, realised / unrealised / day P&L and the transaction ledger.

Prices are pinned: AAPL and F quote bid == last, ask == last + 0.01; AMC (thin, not
marginable) quotes bid == last - 0.01, ask == last + 0.01. Options quote two ticks wide.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from brokerlink.core.enums import (
    AccountType,
    OrderSide,
    OrderStatus,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import (
    InsufficientFundsError,
    InvalidOrderError,
    PermissionDeniedError,
)
from brokerlink.sim.engine import SimEngine, utc
from brokerlink.sim.rules import ClosedMarketPolicy, FeeSchedule
from tests.unit.sim.engine_helpers import (
    CLOSE,
    START,
    funded,
    make_engine,
    option_symbol,
    order,
    pin,
    state_of,
)


@pytest.fixture
def engine() -> SimEngine:
    e = make_engine()
    pin(e, "AAPL", "100.00")
    return e


# --- buying power ------------------------------------------------------------------------


def test_cash_account_spends_cash_one_for_one(engine: SimEngine) -> None:
    acct = funded(engine, "10000", AccountType.CASH)
    with pytest.raises(InsufficientFundsError) as raised:
        engine.place_order(acct, order("AAPL", "buy", 100))
    # 100 x 100.01 against 10,000 of cash
    assert (raised.value.required, raised.value.available) == (Decimal("10001.00"),
                                                               Decimal(10000))
    engine.place_order(acct, order("AAPL", "buy", 99))
    balances = engine.balances(acct)
    assert balances.cash == Decimal("99.01")  # 10000 - 99 x 100.01
    assert balances.buying_power == Decimal("99.01")
    assert balances.day_trading_buying_power is None
    assert balances.total_value == Decimal("9999.01")  # 99.01 + 99 x 100.00


def test_reg_t_overnight_and_day_trading_buying_power(engine: SimEngine) -> None:
    acct = funded(engine)
    engine.place_order(acct, order("AAPL", "buy", 500))
    b = engine.balances(acct)
    # cash 100000 - 50005 = 49995; long 500 x 100 = 50000; equity 99995
    # initial 50% = 25000 -> buying power 2 x (99995 - 25000) = 149990
    # maintenance 25% = 12500 -> day trading 4 x (99995 - 12500) = 349980
    assert b.cash == Decimal("49995.00")
    assert b.total_value == Decimal("99995.00")
    assert b.buying_power == Decimal("149990")
    assert b.margin_maintenance == Decimal("12500")
    assert b.day_trading_buying_power == Decimal("349980")
    assert b.margin_balance == 0

    engine.place_order(acct, order("AAPL", "buy", 1000))
    b = engine.balances(acct)
    # cash 49995 - 100010 = -50015 (borrowed); long 150000; equity 99985
    # buying power 2 x (99985 - 75000) = 49970; day trading 4 x (99985 - 37500) = 249940
    assert b.cash == Decimal("-50015.00")
    assert b.margin_balance == Decimal("50015.00")
    assert b.buying_power == Decimal("49970")
    assert b.day_trading_buying_power == Decimal("249940")
    with pytest.raises(InsufficientFundsError) as raised:
        engine.place_order(acct, order("AAPL", "buy", 500))
    assert (raised.value.required, raised.value.available) == (Decimal("50005.00"),
                                                               Decimal("49970"))


def test_no_day_trading_buying_power_under_25000_equity(engine: SimEngine) -> None:
    acct = funded(engine, "20000")
    b = engine.balances(acct)
    assert (b.buying_power, b.day_trading_buying_power) == (Decimal(40000), Decimal(0))


def test_non_marginable_stock_is_paid_in_full(engine: SimEngine) -> None:
    pin(engine, "AMC", "4.00")
    acct = funded(engine)
    engine.place_order(acct, order("AMC", "buy", 1000))
    # cost 1000 x 4.01 = 4010; long 4000 counts 100% to initial margin
    # equity 95990 + 4000 = 99990; buying power 2 x (99990 - 4000) = 191980
    assert engine.buying_power(acct) == Decimal(191980)


def test_open_orders_hold_buying_power_until_they_end(engine: SimEngine) -> None:
    acct = funded(engine, "10000", AccountType.CASH)
    resting = engine.place_order(acct, order("AAPL", "buy", 50, limit_price="90"))
    assert engine.buying_power(acct) == Decimal(5500)  # 10000 - 50 x 90
    with pytest.raises(InsufficientFundsError):
        engine.place_order(acct, order("AAPL", "buy", 60, limit_price="99"))
    engine.cancel_order(acct, resting.order_id)
    assert engine.buying_power(acct) == Decimal(10000)


# --- short selling -----------------------------------------------------------------------


def test_short_sale_and_cover_with_exact_pnl(engine: SimEngine) -> None:
    pin(engine, "F", "10.00")
    acct = funded(engine)
    engine.place_order(acct, order("F", "sell_short", 1000))
    b = engine.balances(acct)
    # proceeds 10000 at the bid; short -10000; equity 100000; initial 50% = 5000
    assert b.cash == Decimal(110000)
    assert b.buying_power == Decimal(190000)  # 2 x (100000 - 5000)
    assert b.margin_maintenance == Decimal(3000)  # 30% of 10000
    [short] = engine.positions(acct)
    assert (short.quantity, short.average_cost) == (Decimal(-1000), Decimal("10.00"))
    engine.set_price("F", Decimal("9.00"))
    [short] = engine.positions(acct)
    assert short.unrealized_pnl == Decimal(1000)
    with pytest.raises(InvalidOrderError, match="buy_to_cover"):
        engine.place_order(acct, order("F", "buy", 1000))
    engine.place_order(acct, order("F", "buy_to_cover", 1000))
    # covered at the ask 9.01: realised (10.00 - 9.01) x 1000
    assert engine.account_settings(acct).holdings["F"].realized_pnl == Decimal(990)
    assert engine.balances(acct).cash == Decimal(100990)
    assert engine.positions(acct) == []


@pytest.mark.parametrize(("symbol", "message"), [("GME", "hard to borrow"),
                                                 ("BYND", "not available to short")])
def test_short_needs_an_easy_to_borrow_name(engine: SimEngine, symbol: str,
                                            message: str) -> None:
    acct = funded(engine)
    before = state_of(engine, acct)
    with pytest.raises(InvalidOrderError, match=message):
        engine.place_order(acct, order(symbol, "sell_short", 10))
    assert state_of(engine, acct) == before


def test_short_needs_a_margin_account(engine: SimEngine) -> None:
    acct = funded(engine, "10000", AccountType.CASH)
    with pytest.raises(PermissionDeniedError, match="margin account"):
        engine.place_order(acct, order("F", "sell_short", 10))


def test_cannot_short_what_is_held_long(engine: SimEngine) -> None:
    acct = funded(engine)
    engine.place_order(acct, order("AAPL", "buy", 10))
    with pytest.raises(InvalidOrderError, match="held long"):
        engine.place_order(acct, order("AAPL", "sell_short", 10))


# --- options -----------------------------------------------------------------------------


def test_option_premium_uses_the_100_multiplier_and_contract_fees() -> None:
    e = make_engine()
    pin(e, "AAPL", "200.00")
    call = option_symbol(e, "AAPL", "200")
    e.set_price(call, Decimal("2.50"))  # bid 2.49, ask 2.51
    acct = funded(e)
    e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 2))
    b = e.balances(acct)
    # 2 x 2.51 x 100 = 502.00 plus 2 x 0.65 fees = 503.30
    assert b.cash == Decimal("99496.70")
    assert b.market_value == Decimal("500.00")
    # options are paid in full: 2 x (99996.70 - 500)
    assert b.buying_power == Decimal("198993.40")
    [position] = e.positions(acct)
    assert (position.quantity, position.average_cost) == (Decimal(2), Decimal("2.51"))
    assert position.unrealized_pnl == Decimal("-2.00")
    assert position.strike == Decimal(200)
    assert position.underlying == "AAPL"
    e.set_price(call, Decimal("2.90"))  # bid 2.89
    e.place_order(acct, order(call, OrderSide.SELL_TO_CLOSE, 2))
    assert e.account_settings(acct).holdings[call].realized_pnl == Decimal("76.00")
    # 99496.70 + 578.00 - 1.30
    assert e.balances(acct).cash == Decimal("100073.40")


def test_buying_options_needs_level_two() -> None:
    e = make_engine()
    call = option_symbol(e, "AAPL", "200")
    acct = funded(e, options_level=1)
    with pytest.raises(PermissionDeniedError, match="level 2"):
        e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 1))


def test_expiring_option_settles_at_intrinsic_value_at_the_close() -> None:
    e = make_engine(start=utc(2026, 11, 27, 15, 0))  # Friday half day, weekly expiry
    pin(e, "AAPL", "200.00")
    call = option_symbol(e, "AAPL", "200", expiry=date(2026, 11, 27))
    e.set_price(call, Decimal("1.00"))
    acct = funded(e)
    e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 1))  # 101.00 + 0.65
    e.set_price("AAPL", Decimal("210.00"))
    e.advance_to(utc(2026, 11, 27, 18, 0))
    assert e.positions(acct) == []
    # intrinsic 10 x 100 = 1000 in cash
    assert e.balances(acct).cash == Decimal(100000) - Decimal("101.65") + Decimal(1000)


# --- positions and P&L ---------------------------------------------------------------


def test_average_cost_and_realised_pnl(engine: SimEngine) -> None:
    acct = funded(engine)
    engine.place_order(acct, order("AAPL", "buy", 10))  # 100.01
    engine.set_price("AAPL", Decimal("110.00"))
    engine.place_order(acct, order("AAPL", "buy", 10))  # 110.01
    [position] = engine.positions(acct)
    assert position.average_cost == Decimal("105.01")
    assert position.unrealized_pnl == Decimal("99.80")  # 20 x 110 - 2100.20
    engine.place_order(acct, order("AAPL", "sell", 5))  # 110.00
    [position] = engine.positions(acct)
    assert (position.quantity, position.average_cost) == (Decimal(15), Decimal("105.01"))
    assert engine.account_settings(acct).holdings["AAPL"].realized_pnl == Decimal("24.95")


def test_day_pnl_is_measured_from_the_previous_close(engine: SimEngine) -> None:
    acct = funded(engine)
    engine.place_order(acct, order("AAPL", "buy", 10))
    assert engine.balances(acct).day_pnl == Decimal("-0.10")  # the spread paid today
    [position] = engine.positions(acct)
    assert position.day_pnl == Decimal("-0.10")
    engine.advance_to(utc(2026, 11, 24, 15, 0))
    assert engine.quote("AAPL").previous_close == Decimal("100.00")
    engine.set_price("AAPL", Decimal("102.00"))
    assert engine.balances(acct).day_pnl == Decimal(20)
    [position] = engine.positions(acct)
    assert position.day_pnl == Decimal(20)
    assert engine.balances(acct).total_pnl == Decimal("19.90")


# --- ledger ----------------------------------------------------------------------------


def test_ledger_records_deposits_fills_fees_and_withdrawals() -> None:
    e = make_engine(fees=FeeSchedule(per_share=Decimal("0.005"), minimum=Decimal(1)))
    pin(e, "AAPL", "100.00")
    acct = funded(e)
    placed = e.place_order(acct, order("AAPL", "buy", 10))
    e.fund(acct, Decimal(-500), "to checking")
    ledger = e.transactions(acct, START, START + timedelta(days=1))
    assert [t.type for t in ledger] == [TransactionType.DEPOSIT, TransactionType.FILL,
                                        TransactionType.WITHDRAWAL]
    deposit, fill, withdrawal = ledger
    assert deposit.amount == Decimal(100000)
    # 10 x 100.01 plus the 1.00 minimum commission
    assert (fill.amount, fill.fees, fill.order_id) == (Decimal("-1001.10"), Decimal(1),
                                                       placed.order_id)
    assert (fill.quantity, fill.price, fill.side) == (Decimal(10), Decimal("100.01"),
                                                      OrderSide.BUY)
    assert withdrawal.amount == Decimal(-500)
    assert e.balances(acct).cash == Decimal("98498.90")
    assert sum(t.amount for t in ledger) == e.balances(acct).cash
    assert e.transactions(acct, CLOSE, CLOSE + timedelta(days=1)) == []


def test_withdrawal_beyond_cash_is_refused(engine: SimEngine) -> None:
    acct = funded(engine, "1000", AccountType.CASH)
    with pytest.raises(ValueError, match="cannot withdraw"):
        engine.fund(acct, Decimal(-1001))
    assert engine.balances(acct).cash == Decimal(1000)


def test_order_of_a_filled_order_shows_in_history(engine: SimEngine) -> None:
    acct = funded(engine)
    placed = engine.place_order(acct, order("AAPL", "buy", 1))
    history = engine.order_history(acct, START, START)
    assert [o.order_id for o in history] == [placed.order_id]
    assert engine.orders(acct, OrderStatus.FILLED)[0].order_id == placed.order_id


def test_short_sale_proceeds_cannot_be_withdrawn(engine: SimEngine) -> None:
    pin(engine, "F", "10.00")
    acct = funded(engine)
    engine.place_order(acct, order("F", "sell_short", 1000))
    # cash 110000, equity 100000, initial 5000: 95000 may leave, not the proceeds too
    assert engine.balances(acct).cash_withdrawable == Decimal(95000)
    with pytest.raises(ValueError, match="cannot withdraw"):
        engine.fund(acct, Decimal(-100000))
    engine.fund(acct, Decimal(-95000))
    assert engine.balances(acct).total_value == Decimal(5000)


def test_margin_withdrawal_leaves_what_open_orders_hold(engine: SimEngine) -> None:
    acct = funded(engine, "10000")
    engine.place_order(acct, order("AAPL", "buy", 100, limit_price="90"))
    # the order holds 9000 of the 20000 buying power: 4500 of the equity
    assert engine.balances(acct).cash_withdrawable == Decimal(5500)
    with pytest.raises(ValueError, match="cannot withdraw"):
        engine.fund(acct, Decimal(-5501))


def test_expiring_option_orders_expire_with_it() -> None:
    e = make_engine(start=utc(2026, 11, 27, 15, 0))
    pin(e, "AAPL", "200.00")
    call = option_symbol(e, "AAPL", "200", expiry=date(2026, 11, 27))
    e.set_price(call, Decimal("1.00"))
    acct = funded(e)
    e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 1))
    resting = e.place_order(acct, order(call, OrderSide.SELL_TO_CLOSE, 1, limit_price="50",
                                        time_in_force=TimeInForce.GTC))
    e.advance_to(utc(2026, 11, 30, 15, 0))
    assert e.get_order(acct, resting.order_id).status is OrderStatus.EXPIRED
    e.set_price(call, Decimal("60.00"))
    assert e.positions(acct) == []  # the dead contract never trades again
    with pytest.raises(InvalidOrderError, match="expired"):
        e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 1))


def test_option_is_refused_once_its_last_session_closed() -> None:
    e = make_engine(start=utc(2026, 11, 27, 19, 0), closed_market=ClosedMarketPolicy.QUEUE)
    call = option_symbol(e, "AAPL", "200", expiry=date(2026, 11, 27))
    acct = funded(e)
    before = state_of(e, acct)
    with pytest.raises(InvalidOrderError, match="expired"):
        e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 1))
    assert state_of(e, acct) == before


def test_option_listed_on_a_holiday_expires_at_the_session_before() -> None:
    e = make_engine(start=utc(2026, 12, 24, 15, 0))  # Christmas Eve; Friday 25th is closed
    pin(e, "AAPL", "200.00")
    put = option_symbol(e, "AAPL", "210", "P", expiry=date(2026, 12, 25))
    e.set_price(put, Decimal("10.50"))
    acct = funded(e)
    e.place_order(acct, order(put, OrderSide.BUY_TO_OPEN, 1))
    e.advance_to(e.next_close())
    assert e.positions(acct) == []
    settled = e.transactions(acct, e.now(), e.now())
    assert [(t.type, t.amount) for t in settled] == [(TransactionType.OTHER, Decimal(1000))]


def test_options_settle_in_always_open_mode_too() -> None:
    e = make_engine(start=utc(2026, 11, 27, 15, 0), market="always_open")
    pin(e, "AAPL", "200.00")
    call = option_symbol(e, "AAPL", "190", expiry=date(2026, 11, 27))
    e.set_price(call, Decimal("10.50"))
    acct = funded(e)
    e.place_order(acct, order(call, OrderSide.BUY_TO_OPEN, 1))
    e.advance_to(e.next_close())
    assert e.positions(acct) == []
    [settled] = e.transactions(acct, e.now(), e.now())
    assert settled.amount == Decimal(1000)


def test_per_order_minimum_commission_is_charged_once_across_partial_fills() -> None:
    e = make_engine(fees=FeeSchedule(per_share=Decimal("0.001"), minimum=Decimal(5)))
    pin(e, "AAPL", "10.00")
    acct = funded(e)
    placed = e.place_order(acct, order("AAPL", "buy", 4000))  # 3,000 now, 1,000 next minute
    e.advance(timedelta(minutes=1))
    fills = [t for t in e.transactions(acct, START, e.now()) if t.order_id == placed.order_id]
    # max(5, 4000 x 0.001) = 5 for the order: 5 on the first fill, nothing on the second
    assert [t.fees for t in fills] == [Decimal(5), Decimal(0)]
    assert e.balances(acct).cash == Decimal(100000) - Decimal("40040.00") - Decimal(5)


def test_cash_secured_put_keeps_its_cash_set_aside_while_open() -> None:
    e = make_engine()
    pin(e, "AAPL", "200.00")
    put = option_symbol(e, "AAPL", "190", "P")
    e.set_price(put, Decimal("2.00"))  # bid 1.99, ask 2.01
    acct = funded(e, "20000", AccountType.CASH)
    with pytest.raises(InsufficientFundsError):
        e.place_order(acct, order(put, OrderSide.SELL_TO_OPEN, 2))  # needs 38000
    e.place_order(acct, order(put, OrderSide.SELL_TO_OPEN, 1))
    b = e.balances(acct)
    # premium 199 less 0.65; 19000 (the strike x 100) stays set aside
    assert b.cash == Decimal("20198.35")
    assert (b.buying_power, b.cash_withdrawable) == (Decimal("1198.35"), Decimal("1198.35"))
    e.place_order(acct, order(put, OrderSide.BUY_TO_CLOSE, 1))
    assert e.buying_power(acct) == Decimal("19996.70")  # 20198.35 - 201 - 0.65


def test_shares_covering_a_call_cannot_be_sold_from_under_it() -> None:
    e = make_engine()
    pin(e, "AAPL", "200.00")
    call = option_symbol(e, "AAPL", "210")
    e.set_price(call, Decimal("2.00"))
    acct = funded(e)
    e.place_order(acct, order("AAPL", "buy", 150))
    e.place_order(acct, order(call, OrderSide.SELL_TO_OPEN, 1))  # covered: level 2 is enough
    positions = {p.symbol: p for p in e.positions(acct)}
    assert positions["AAPL"].quantity_available == Decimal(50)
    with pytest.raises(InvalidOrderError, match="covering short calls"):
        e.place_order(acct, order("AAPL", "sell", 100))
    with pytest.raises(PermissionDeniedError, match="uncovered"):
        e.place_order(acct, order(call, OrderSide.SELL_TO_OPEN, 1))  # only 50 shares free
    e.place_order(acct, order(call, OrderSide.BUY_TO_CLOSE, 1))
    e.place_order(acct, order("AAPL", "sell", 150))
    assert e.positions(acct) == []


def test_open_orders_hold_day_trading_buying_power_too(engine: SimEngine) -> None:
    acct = funded(engine)
    engine.place_order(acct, order("AAPL", "buy", 100, limit_price="90"))
    b = engine.balances(acct)
    # 4 x 100000 of maintenance excess, less the 9000 the order holds
    assert (b.buying_power, b.day_trading_buying_power) == (Decimal(191000), Decimal(391000))

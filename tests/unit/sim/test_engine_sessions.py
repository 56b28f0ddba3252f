"""The market clock on the XNYS calendar, time in force, auctions, extended hours, expiry.

Calendar facts used: 2026-11-26 (Thanksgiving) closed; 2026-11-27 closes early at 13:00
New York; weekends closed; New York is on EST (UTC-5) after 2026-11-01, so the regular
session is 14:30-21:00 UTC, pre-market from 09:00 UTC and post-market until 01:00 UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from brokerlink.core.enums import OrderStatus, TimeInForce
from brokerlink.core.errors import MarketClosedError
from brokerlink.sim.calendar import MarketSession
from brokerlink.sim.engine import SimEngine, utc
from brokerlink.sim.rules import ClosedMarketPolicy
from tests.unit.sim.engine_helpers import CLOSE, START, funded, make_engine, order, pin

TUESDAY_PRE = utc(2026, 11, 24, 13, 0)  # 08:00 New York, pre-market
SATURDAY = utc(2026, 11, 28, 15, 0)


def market(start: datetime = START,
           closed_market: ClosedMarketPolicy = ClosedMarketPolicy.REJECT) -> tuple[SimEngine, str]:
    e = make_engine(start=start, closed_market=closed_market)
    pin(e, "AAPL", "100.00")
    return e, funded(e)


# --- the clock -------------------------------------------------------------------------


def test_session_states_through_a_day() -> None:
    e, _ = market()
    assert e.session() is MarketSession.REGULAR
    assert e.next_close() == CLOSE
    assert e.next_open() == utc(2026, 11, 24, 14, 30)
    e.advance_to(CLOSE)
    assert e.session() is MarketSession.POST
    assert not e.is_open()
    assert e.is_open(extended_hours=True)
    e.advance_to(utc(2026, 11, 24, 1, 0))
    assert e.session() is MarketSession.CLOSED
    assert not e.is_open(extended_hours=True)
    e.advance_to(TUESDAY_PRE)
    assert e.session() is MarketSession.PRE
    e.run_until_open()
    assert e.now() == utc(2026, 11, 24, 14, 30)
    assert e.session() is MarketSession.REGULAR


def test_thanksgiving_is_closed_and_friday_closes_early() -> None:
    e, _ = market(start=utc(2026, 11, 26, 15, 0))
    assert e.session() is MarketSession.CLOSED
    assert e.next_open() == utc(2026, 11, 27, 14, 30)
    assert e.next_close() == utc(2026, 11, 27, 18, 0)
    e.run_until_open()
    e.advance_to(utc(2026, 11, 27, 18, 0))
    assert e.session() is MarketSession.POST


def test_christmas_and_the_weekend_are_skipped() -> None:
    e, _ = market(start=utc(2026, 12, 24, 22, 0))
    assert e.next_open() == utc(2026, 12, 28, 14, 30)
    e.run_until_open()
    assert e.now() == utc(2026, 12, 28, 14, 30)


def test_time_never_moves_backwards() -> None:
    e, _ = market()
    with pytest.raises(ValueError, match="forward"):
        e.advance(timedelta(seconds=-1))
    assert e.now() == START


def test_always_open_market_trades_on_a_saturday() -> None:
    e = make_engine(start=SATURDAY, market="always_open")
    pin(e, "AAPL", "100.00")
    acct = funded(e)
    assert e.is_open()
    assert e.session() is MarketSession.REGULAR
    placed = e.place_order(acct, order("AAPL", "buy", 1))
    assert placed.status is OrderStatus.FILLED


def test_always_open_day_orders_expire_when_the_calendar_day_closes() -> None:
    e = make_engine(start=SATURDAY, market="always_open")
    pin(e, "AAPL", "100.00")
    acct = funded(e)
    resting = e.place_order(acct, order("AAPL", "buy", 1, limit_price="50"))
    day_end = e.next_close()
    assert day_end == utc(2026, 11, 29, 5, 0)  # New York midnight, as the calendar says
    e.advance_to(day_end - timedelta(minutes=1))
    assert e.get_order(acct, resting.order_id).status is OrderStatus.NEW
    e.advance_to(day_end)
    expired = e.get_order(acct, resting.order_id)
    assert (expired.status, expired.expired_at) == (OrderStatus.EXPIRED, day_end)


# --- closed market ---------------------------------------------------------------------


def test_closed_market_refusal_names_the_next_open() -> None:
    e, acct = market(start=SATURDAY)
    with pytest.raises(MarketClosedError) as raised:
        e.place_order(acct, order("AAPL", "buy", 1))
    assert raised.value.next_open == utc(2026, 11, 30, 14, 30)
    assert e.orders(acct) == []


def test_queue_policy_holds_the_order_for_the_open() -> None:
    e, acct = market(start=SATURDAY, closed_market=ClosedMarketPolicy.QUEUE)
    placed = e.place_order(acct, order("AAPL", "buy", 10))
    assert placed.status is OrderStatus.NEW
    e.run_until_open()
    filled = e.get_order(acct, placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_at == utc(2026, 11, 30, 14, 30)
    assert filled.average_fill_price == Decimal("100.01")


def test_immediate_orders_are_refused_even_under_the_queue_policy() -> None:
    e, acct = market(start=SATURDAY, closed_market=ClosedMarketPolicy.QUEUE)
    with pytest.raises(MarketClosedError):
        e.place_order(acct, order("AAPL", "buy", 10, time_in_force=TimeInForce.IOC))


# --- extended hours ----------------------------------------------------------------------


def test_extended_hours_limit_trades_in_the_pre_market() -> None:
    e, acct = market(start=TUESDAY_PRE)
    with pytest.raises(MarketClosedError) as raised:
        e.place_order(acct, order("AAPL", "buy", 10, limit_price="100.05"))
    assert raised.value.next_open == utc(2026, 11, 24, 14, 30)
    placed = e.place_order(acct, order("AAPL", "buy", 10, limit_price="100.05",
                                       extended_hours=True))
    assert placed.status is OrderStatus.FILLED
    assert placed.average_fill_price == Decimal("100.01")


def test_extended_hours_day_order_works_until_the_post_market_ends() -> None:
    e, acct = market(start=TUESDAY_PRE)
    resting = e.place_order(acct, order("AAPL", "buy", 10, limit_price="50",
                                        extended_hours=True))
    e.advance_to(utc(2026, 11, 25, 0, 59))
    assert e.get_order(acct, resting.order_id).status is OrderStatus.NEW
    e.advance_to(utc(2026, 11, 25, 1, 0))
    expired = e.get_order(acct, resting.order_id)
    assert expired.status is OrderStatus.EXPIRED
    assert expired.expired_at == utc(2026, 11, 25, 1, 0)


def test_regular_order_placed_in_pre_market_waits_for_the_open_under_queue() -> None:
    e, acct = market(start=TUESDAY_PRE, closed_market=ClosedMarketPolicy.QUEUE)
    placed = e.place_order(acct, order("AAPL", "buy", 10, limit_price="100.05"))
    assert placed.status is OrderStatus.NEW
    e.run_until_open()
    assert e.get_order(acct, placed.order_id).status is OrderStatus.FILLED


# --- day, gtc, ioc, fok ------------------------------------------------------------------


def test_day_order_expires_at_the_close_and_frees_buying_power() -> None:
    e, acct = market()
    resting = e.place_order(acct, order("AAPL", "buy", 10, limit_price="50"))
    # Reg T: 2 x 100,000 excess, less the 500 the order holds
    assert e.buying_power(acct) == Decimal(199_500)
    e.advance_to(CLOSE - timedelta(minutes=1))
    assert e.get_order(acct, resting.order_id).status is OrderStatus.NEW
    e.advance_to(CLOSE)
    expired = e.get_order(acct, resting.order_id)
    assert (expired.status, expired.expired_at) == (OrderStatus.EXPIRED, CLOSE)
    assert e.buying_power(acct) == Decimal(200_000)


def test_day_order_on_the_half_day_expires_at_the_early_close() -> None:
    e, acct = market(start=utc(2026, 11, 27, 15, 0))
    resting = e.place_order(acct, order("AAPL", "buy", 10, limit_price="50"))
    e.advance_to(utc(2026, 11, 27, 18, 0))
    expired = e.get_order(acct, resting.order_id)
    assert (expired.status, expired.expired_at) == (OrderStatus.EXPIRED,
                                                    utc(2026, 11, 27, 18, 0))


def test_gtc_order_survives_nights_and_the_holiday_then_fills() -> None:
    e, acct = market()
    resting = e.place_order(acct, order("AAPL", "buy", 10, limit_price="90",
                                        time_in_force=TimeInForce.GTC))
    e.advance_to(utc(2026, 11, 27, 16, 0))
    assert e.get_order(acct, resting.order_id).status is OrderStatus.NEW
    e.set_price("AAPL", Decimal("89.00"))
    filled = e.get_order(acct, resting.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("89.01")


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    e, acct = market()
    pin(e, "AAPL", "10.00")
    placed = e.place_order(acct, order("AAPL", "buy", 5000, time_in_force=TimeInForce.IOC))
    assert (placed.status, placed.filled_quantity) == (OrderStatus.CANCELED, Decimal(3000))
    assert e.account_settings(acct).reserved == 0


def test_ioc_limit_away_from_the_market_cancels_untouched() -> None:
    e, acct = market()
    placed = e.place_order(acct, order("AAPL", "buy", 10, limit_price="90",
                                       time_in_force=TimeInForce.IOC))
    assert (placed.status, placed.filled_quantity) == (OrderStatus.CANCELED, Decimal(0))
    assert e.balances(acct).cash == Decimal(100_000)


def test_fok_is_all_or_nothing() -> None:
    e, acct = market()
    pin(e, "AAPL", "10.00")
    killed = e.place_order(acct, order("AAPL", "buy", 5000, time_in_force=TimeInForce.FOK))
    assert (killed.status, killed.filled_quantity) == (OrderStatus.CANCELED, Decimal(0))
    assert e.positions(acct) == []
    filled = e.place_order(acct, order("AAPL", "buy", 3000, time_in_force=TimeInForce.FOK))
    assert (filled.status, filled.filled_quantity) == (OrderStatus.FILLED, Decimal(3000))


# --- auctions --------------------------------------------------------------------------


def test_opg_order_fills_at_the_opening_print() -> None:
    e, acct = market(start=TUESDAY_PRE)
    placed = e.place_order(acct, order("AAPL", "buy", 10, time_in_force=TimeInForce.OPG))
    assert placed.status is OrderStatus.NEW
    e.advance_to(utc(2026, 11, 24, 14, 29))
    assert e.get_order(acct, placed.order_id).status is OrderStatus.NEW
    e.advance_to(utc(2026, 11, 24, 14, 30))
    filled = e.get_order(acct, placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("100.00")  # the print, not the ask
    assert filled.filled_at == utc(2026, 11, 24, 14, 30)


def test_opg_limit_not_met_at_the_open_is_canceled() -> None:
    e, acct = market(start=TUESDAY_PRE)
    placed = e.place_order(acct, order("AAPL", "buy", 10, limit_price="99",
                                       time_in_force=TimeInForce.OPG))
    e.run_until_open()
    done = e.get_order(acct, placed.order_id)
    assert (done.status, done.filled_quantity) == (OrderStatus.CANCELED, Decimal(0))
    assert e.account_settings(acct).reserved == 0


def test_opg_placed_overnight_waits_for_the_next_open() -> None:
    e, acct = market(start=utc(2026, 11, 24, 22, 0))  # Tuesday post-market
    placed = e.place_order(acct, order("AAPL", "buy", 10, time_in_force=TimeInForce.OPG))
    e.advance_to(utc(2026, 11, 25, 14, 30))
    assert e.get_order(acct, placed.order_id).status is OrderStatus.FILLED


def test_opg_is_refused_once_the_session_is_open() -> None:
    e, acct = market()
    with pytest.raises(MarketClosedError, match="opg") as raised:
        e.place_order(acct, order("AAPL", "buy", 10, time_in_force=TimeInForce.OPG))
    assert raised.value.next_open == utc(2026, 11, 24, 14, 30)


def test_cls_order_fills_at_the_closing_print() -> None:
    e, acct = market()
    placed = e.place_order(acct, order("AAPL", "buy", 10, time_in_force=TimeInForce.CLS))
    e.set_price("AAPL", Decimal("101.00"))
    assert e.get_order(acct, placed.order_id).status is OrderStatus.NEW
    e.advance_to(CLOSE)
    filled = e.get_order(acct, placed.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_fill_price == Decimal("101.00")
    assert filled.filled_at == CLOSE


def test_cls_is_refused_in_the_last_ten_minutes() -> None:
    e, acct = market(start=CLOSE - timedelta(minutes=9))
    with pytest.raises(MarketClosedError, match="cls"):
        e.place_order(acct, order("AAPL", "buy", 10, time_in_force=TimeInForce.CLS))

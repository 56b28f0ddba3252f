"""The price book: seeded walks, quotes on the tick, option values, pins and session rolls."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from brokerlink.core.enums import OptionType
from brokerlink.core.errors import SymbolNotFoundError
from brokerlink.sim.clock import SimClock
from brokerlink.sim.prices import PriceBook, SimQuote, option_value
from brokerlink.sim.universe import Instrument, InstrumentUniverse, strike_grid

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
EXPIRY = date(2026, 12, 18)


@pytest.fixture
def universe() -> InstrumentUniverse:
    return InstrumentUniverse.seeded()


@pytest.fixture
def book(universe: InstrumentUniverse) -> PriceBook:
    return PriceBook(universe)


def occ(root: str, expiry: date, kind: str, strike: Decimal) -> str:
    return f"{root}{expiry:%y%m%d}{kind}{int(strike * 1000):08d}"


def atm_strike(universe: InstrumentUniverse, symbol: str) -> Decimal:
    grid = strike_grid(universe.get(symbol).previous_close)
    return grid[len(grid) // 2]


def assert_sane(quote: SimQuote, tick: Decimal) -> None:
    for f in fields(quote):
        value = getattr(quote, f.name)
        assert not isinstance(value, float), f"{f.name} is a float"
    assert Decimal(0) < quote.bid < quote.ask
    assert quote.bid % tick == 0
    assert quote.ask % tick == 0
    assert quote.last % tick == 0


def walk(book: PriceBook, steps: int, seconds: float = 60) -> list[dict[str, Decimal]]:
    return [book.step(timedelta(seconds=seconds)) for _ in range(steps)]


def test_prices_start_at_the_previous_close(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    for symbol in universe.symbols():
        assert book.last(symbol) == universe.get(symbol).previous_close
        assert book.previous_close(symbol) == universe.get(symbol).previous_close


def test_same_seed_and_steps_give_identical_prices(universe: InstrumentUniverse) -> None:
    first, second = PriceBook(universe, seed=11), PriceBook(universe, seed=11)
    assert walk(first, 50) == walk(second, 50)
    other = PriceBook(universe, seed=12)
    walk(other, 50)
    assert [first.last(s) for s in universe.symbols()] != [
        other.last(s) for s in universe.symbols()
    ]


def test_steps_move_prices_on_the_tick_and_report_what_changed(book: PriceBook) -> None:
    before = book.last("AAPL")
    changes = book.step(timedelta(minutes=30))
    assert changes, "half an hour of trading should move something"
    for symbol, price in changes.items():
        assert book.last(symbol) == price
        assert price % Decimal("0.01") == 0
        assert price > 0
    assert ("AAPL" in changes) == (book.last("AAPL") != before)
    # Thirty minutes at 28% volatility: a few percent at most.
    assert abs(book.last("AAPL") / before - 1) < Decimal("0.1")


def test_many_tiny_steps_still_move_the_price(book: PriceBook) -> None:
    start = book.last("SPY")
    walk(book, 2000, seconds=0.05)
    assert book.last("SPY") != start


def test_prices_never_reach_zero(book: PriceBook) -> None:
    for _ in range(200):
        book.step(timedelta(days=30))
    assert book.last("BYND") >= Decimal("0.01")
    assert book.last("AMC") >= Decimal("0.01")


def test_zero_and_negative_steps(book: PriceBook) -> None:
    assert book.step(timedelta(0)) == {}
    with pytest.raises(ValueError, match="negative"):
        book.step(timedelta(seconds=-1))


def test_equity_quote_is_one_tick_wide_with_liquidity_sizes(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    quote = book.quote("AAPL", NOW)
    assert_sane(quote, Decimal("0.01"))
    assert quote.symbol == "AAPL"
    assert quote.ask - quote.bid == Decimal("0.01")
    assert quote.bid <= quote.last <= quote.ask
    assert quote.bid_size == quote.ask_size == universe.get("AAPL").liquidity
    assert quote.previous_close == universe.get("AAPL").previous_close
    assert quote.timestamp == NOW
    assert quote.timestamp.tzinfo is UTC


def test_thin_names_have_wider_spreads(book: PriceBook) -> None:
    thin = book.quote("BYND", NOW)
    assert_sane(thin, Decimal("0.01"))
    assert thin.ask - thin.bid == Decimal("0.03")
    assert thin.bid <= thin.last <= thin.ask


def test_every_seeded_quote_is_sane_after_walking(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    walk(book, 20, seconds=600)
    for symbol in universe.symbols():
        quote = book.quote(symbol, NOW)
        assert_sane(quote, Decimal("0.01"))
        assert quote.last == book.last(symbol)


def test_quote_accepts_spellings_and_refuses_unknowns_and_naive_times(
    book: PriceBook,
) -> None:
    assert book.quote("brk/b", NOW).symbol == "BRK.B"
    assert book.last("BRK-B") == book.last("BRK.B")
    with pytest.raises(SymbolNotFoundError):
        book.quote("ZZZZ", NOW)
    with pytest.raises(SymbolNotFoundError):
        book.last("ZZZZ")
    with pytest.raises(ValueError, match="timezone-aware"):
        book.quote("AAPL", datetime(2026, 11, 24, 15))  # noqa: DTZ001 - the point


def test_freeze_pins_a_symbol_without_disturbing_the_others(
    universe: InstrumentUniverse,
) -> None:
    pinned, free = PriceBook(universe), PriceBook(universe)
    pinned.set_price("TSLA", Decimal("250.00"))
    pinned.freeze("TSLA")
    assert pinned.is_frozen("TSLA")
    walk(pinned, 100)
    walk(free, 100)
    assert pinned.last("TSLA") == Decimal("250.00")
    assert pinned.last("AAPL") == free.last("AAPL")
    pinned.unfreeze("TSLA")
    assert not pinned.is_frozen("TSLA")
    walk(pinned, 100)
    assert pinned.last("TSLA") != Decimal("250.00")


def test_set_price_validates_the_price(book: PriceBook) -> None:
    book.set_price("AAPL", Decimal("199.99"))
    assert book.last("AAPL") == Decimal("199.99")
    assert book.quote("AAPL", NOW).last == Decimal("199.99")
    with pytest.raises(ValueError, match="tick"):
        book.set_price("AAPL", Decimal("100.005"))
    with pytest.raises(ValueError, match="above zero"):
        book.set_price("AAPL", Decimal(0))


def test_roll_session_makes_the_last_the_previous_close(book: PriceBook) -> None:
    book.set_price("KO", Decimal("70.00"))
    assert book.previous_close("KO") != Decimal("70.00")
    book.roll_session()
    assert book.previous_close("KO") == Decimal("70.00")
    assert book.quote("KO", NOW).previous_close == Decimal("70.00")


def test_option_quote_is_priced_from_the_underlying(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    strike = atm_strike(universe, "AAPL")
    call = occ("AAPL", EXPIRY, "C", strike)
    put = occ("AAPL", EXPIRY, "P", strike)
    book.set_price("AAPL", strike)
    call_quote = book.quote(call, NOW)
    put_quote = book.quote(put, NOW)
    # At the money, 24 days out, 28% vol: a few percent of the stock price.
    assert strike * Decimal("0.02") < call_quote.last < strike * Decimal("0.06")
    assert put_quote.last < call_quote.last  # positive rate, no dividends
    for quote in (call_quote, put_quote):
        assert_sane(quote, Decimal("0.05") if quote.bid >= 3 else Decimal("0.01"))
        assert quote.bid_size == universe.get(call).liquidity
    # The underlying rises 10%: the call gains, the put loses.
    book.set_price("AAPL", strike * Decimal("1.1"))
    assert book.quote(call, NOW).last > call_quote.last
    assert book.quote(put, NOW).last < put_quote.last


def test_option_prices_are_on_the_penny_pilot_tick(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    for contract in universe.option_chain("AAPL", date(2026, 11, 24)):
        quote = book.quote(contract.symbol, NOW)
        assert quote.bid > 0
        assert quote.bid < quote.ask
        for price in (quote.bid, quote.ask, quote.last):
            assert price % (Decimal("0.05") if price >= 3 else Decimal("0.01")) == 0


def test_option_time_value_decays_towards_intrinsic(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    strike = atm_strike(universe, "AAPL")
    call = occ("AAPL", EXPIRY, "C", strike)
    book.set_price("AAPL", strike + 10)
    early = book.quote(call, NOW).last
    late = book.quote(call, datetime(2026, 12, 18, 20, 0, tzinfo=UTC)).last
    expired = book.quote(call, datetime(2026, 12, 21, 15, 0, tzinfo=UTC)).last
    assert early > late >= Decimal(10)
    assert expired == Decimal(10)


def test_option_values_follow_the_clock_when_given_one(
    universe: InstrumentUniverse,
) -> None:
    clock = SimClock(NOW)
    book = PriceBook(universe, clock=clock)
    strike = atm_strike(universe, "AAPL")
    call = occ("AAPL", EXPIRY, "C", strike)
    before = book.last(call)
    clock.advance(timedelta(days=20))
    assert book.last(call) < before


def test_set_price_pins_an_option_until_unfrozen(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    call = occ("AAPL", EXPIRY, "C", atm_strike(universe, "AAPL"))
    book.set_price(call, Decimal("4.25"))
    assert book.is_frozen(call)
    book.set_price("AAPL", book.last("AAPL") + 20)
    assert book.quote(call, NOW).last == Decimal("4.25")
    assert book.last(call) == Decimal("4.25")
    with pytest.raises(ValueError, match=r"0\.05 tick"):
        book.set_price(call, Decimal("4.21"))
    book.unfreeze(call)
    assert book.quote(call, NOW).last != Decimal("4.25")


def test_freezing_an_option_holds_its_current_value(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    call = occ("AAPL", EXPIRY, "C", atm_strike(universe, "AAPL"))
    value = book.quote(call, NOW).last
    book.freeze(call)
    book.set_price("AAPL", book.last("AAPL") + 20)
    assert book.quote(call, NOW).last == value


def test_option_previous_close_rolls_with_the_session(
    book: PriceBook, universe: InstrumentUniverse
) -> None:
    call = occ("AAPL", EXPIRY, "C", atm_strike(universe, "AAPL"))
    book.quote(call, NOW)
    book.set_price("AAPL", book.last("AAPL") + 5)
    today = book.last(call)
    assert book.previous_close(call) < today
    book.roll_session()
    assert book.previous_close(call) == today


def test_options_on_unknown_or_unlisted_contracts_are_refused(book: PriceBook) -> None:
    with pytest.raises(SymbolNotFoundError):
        book.quote("AAPL261218C00001000", NOW)


def test_option_model_basics() -> None:
    # Deep in the money: worth at least intrinsic; expired: exactly intrinsic.
    assert option_value(OptionType.CALL, 150.0, 100.0, 0.1, 0.3) >= 50.0
    assert option_value(OptionType.PUT, 50.0, 100.0, 1.0, 0.3) >= 50.0
    assert option_value(OptionType.CALL, 90.0, 100.0, 0.0, 0.3) == 0.0
    assert option_value(OptionType.PUT, 90.0, 100.0, -1.0, 0.3) == 10.0
    # Put-call parity for the European model at the money.
    call = option_value(OptionType.CALL, 100.0, 100.0, 0.5, 0.25)
    put = option_value(OptionType.PUT, 100.0, 100.0, 0.5, 0.25)
    assert call - put == pytest.approx(100.0 - 100.0 * 0.9801986733, abs=1e-6)


def test_walk_picks_up_symbols_added_to_the_universe(universe: InstrumentUniverse) -> None:
    book = PriceBook(universe)
    universe.add(Instrument(
        symbol="ACME", name="Acme Corp.", asset_type=universe.get("AAPL").asset_type,
        exchange="NYSE", previous_close=Decimal("12.34"), tick_size=Decimal("0.01"),
        shortable=True, easy_to_borrow=True, marginable=True, fractionable=True,
        liquidity=Decimal(500),
    ))
    assert book.last("ACME") == Decimal("12.34")
    moves = [change["ACME"] for change in walk(book, 50, seconds=600) if "ACME" in change]
    assert len(set(moves)) > 5

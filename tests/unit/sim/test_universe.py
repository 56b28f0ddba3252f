"""The instrument universe: seeded tickers, share classes, and the listed option grid."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from brokerlink.core.enums import AssetType, OptionType
from brokerlink.core.errors import SymbolNotFoundError
from brokerlink.sim.universe import (
    Instrument,
    InstrumentUniverse,
    listed_expirations,
    strike_grid,
    third_friday,
)

AS_OF = date(2026, 11, 24)  # a Tuesday


@pytest.fixture(scope="module")
def universe() -> InstrumentUniverse:
    return InstrumentUniverse.seeded()


def test_seeded_universe_has_the_well_known_tickers(universe: InstrumentUniverse) -> None:
    symbols = universe.symbols()
    assert 35 <= len(symbols) <= 50
    for ticker in ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM",
                   "V", "SPY", "QQQ", "IWM", "KO", "PEP", "XOM"):
        assert ticker in symbols
    assert symbols == sorted(symbols)
    assert universe.get("SPY").asset_type is AssetType.ETF
    assert universe.get("SPY").exchange == "ARCA"
    assert universe.get("AAPL").exchange == "NASDAQ"
    assert universe.get("JPM").exchange == "NYSE"


def test_prices_are_realistic_and_on_the_penny(universe: InstrumentUniverse) -> None:
    assert Decimal(200) < universe.get("AAPL").previous_close < Decimal(260)
    assert Decimal(500) < universe.get("SPY").previous_close < Decimal(650)
    for symbol in universe.symbols():
        instrument = universe.get(symbol)
        assert instrument.tick_size == Decimal("0.01")
        assert instrument.previous_close % instrument.tick_size == 0
        assert instrument.previous_close > 0
        assert instrument.liquidity > 0
        assert instrument.multiplier == 1


def test_same_seed_same_universe_and_other_seeds_differ() -> None:
    first, again = InstrumentUniverse.seeded(3), InstrumentUniverse.seeded(3)
    other = InstrumentUniverse.seeded(4)
    closes = [first.get(s).previous_close for s in first.symbols()]
    assert closes == [again.get(s).previous_close for s in again.symbols()]
    assert closes != [other.get(s).previous_close for s in other.symbols()]


def test_some_names_are_hard_to_borrow_or_not_fractionable(
    universe: InstrumentUniverse,
) -> None:
    instruments = [universe.get(s) for s in universe.symbols()]
    assert any(not i.shortable for i in instruments)
    assert any(i.shortable and not i.easy_to_borrow for i in instruments)
    assert 1 <= sum(not i.fractionable for i in instruments) <= 5
    assert universe.get("AAPL").shortable
    assert universe.get("AAPL").easy_to_borrow
    assert not universe.get("BYND").shortable
    # Stocks under $5 are not marginable.
    for instrument in instruments:
        assert instrument.marginable == (instrument.previous_close >= 5)


@pytest.mark.parametrize("spelling", ["BRK.B", "BRK/B", "BRK-B", "brk b", " brk.b "])
def test_share_class_spellings_find_the_same_instrument(
    universe: InstrumentUniverse, spelling: str
) -> None:
    assert universe.get(spelling).symbol == "BRK.B"
    assert spelling in universe


def test_unknown_symbol_raises_a_helpful_error(universe: InstrumentUniverse) -> None:
    with pytest.raises(SymbolNotFoundError, match="unknown symbol 'ZZZZ'") as info:
        universe.get("ZZZZ")
    assert info.value.symbol == "ZZZZ"
    assert "ZZZZ" not in universe
    assert 42 not in universe
    with pytest.raises(SymbolNotFoundError, match="not a valid ticker"):
        universe.get("!!")


def test_expirations_are_six_weeklies_plus_three_monthlies() -> None:
    expirations = listed_expirations(AS_OF)
    assert all(d.weekday() == 4 for d in expirations)
    assert expirations[:6] == [date(2026, 11, 27), date(2026, 12, 4), date(2026, 12, 11),
                               date(2026, 12, 18), date(2026, 12, 25), date(2027, 1, 1)]
    # Dec 18 (a monthly) is also a weekly; Jan 15 and Feb 19 are the next monthlies.
    assert expirations[6:] == [date(2027, 1, 15), date(2027, 2, 19)]
    assert third_friday(2026, 12) == date(2026, 12, 18)
    assert third_friday(2027, 1) == date(2027, 1, 15)
    # On a Friday, that day's contracts are still listed (0DTE).
    assert listed_expirations(date(2026, 11, 27))[0] == date(2026, 11, 27)


def test_strike_grid_spacing_follows_price_level() -> None:
    assert strike_grid(Decimal("228.40"))[:3] == [Decimal(185), Decimal(190), Decimal(195)]
    assert strike_grid(Decimal("64.10"))[:2] == [Decimal("52.5"), Decimal(55)]
    assert strike_grid(Decimal("902.50"))[:2] == [Decimal(730), Decimal(740)]
    assert strike_grid(Decimal("11.10"))[:2] == [Decimal(9), Decimal(10)]
    grid = strike_grid(Decimal(100))
    assert grid[0] == Decimal(80)
    assert grid[-1] == Decimal(120)


def test_option_chain_lists_calls_and_puts_around_the_close(
    universe: InstrumentUniverse,
) -> None:
    aapl = universe.get("AAPL")
    chain = universe.option_chain("AAPL", AS_OF)
    expirations = universe.expirations("AAPL", AS_OF)
    strikes = strike_grid(aapl.previous_close)
    assert len(chain) == len(expirations) * len(strikes) * 2
    assert {c.expiration for c in chain} == set(expirations)
    first = chain[0]
    assert first.asset_type is AssetType.OPTION
    assert first.underlying == "AAPL"
    assert first.multiplier == 100
    assert first.option_type is OptionType.CALL
    assert chain[1].option_type is OptionType.PUT
    for contract in chain:
        assert contract.strike is not None
        assert abs(contract.strike - aapl.previous_close) <= aapl.previous_close * Decimal("0.2")
        assert universe.get(contract.symbol) == contract


def test_occ_lookup_accepts_padded_and_compact_symbols(universe: InstrumentUniverse) -> None:
    strike = strike_grid(universe.get("AAPL").previous_close)[5]
    compact = f"AAPL261218C{int(strike * 1000):08d}"
    padded = f"AAPL  261218C{int(strike * 1000):08d}"
    option = universe.get(compact)
    assert option.symbol == compact
    assert universe.get(padded) == option
    assert option.strike == strike
    assert option.expiration == date(2026, 12, 18)
    assert option.option_type is OptionType.CALL
    assert option.exchange == "OPRA"
    # Listed regardless of as_of: a Friday on the strike grid two years out still exists.
    assert f"AAPL281215P{int(strike * 1000):08d}" in universe


def test_share_class_options_use_the_occ_root_without_the_dot(
    universe: InstrumentUniverse,
) -> None:
    contract = universe.option_chain("BRK.B", AS_OF)[0]
    assert contract.symbol.startswith("BRKB")
    assert contract.underlying == "BRK.B"
    assert universe.get(contract.symbol) == contract


def test_unlisted_option_contracts_are_refused(universe: InstrumentUniverse) -> None:
    grid = strike_grid(universe.get("AAPL").previous_close)
    on_grid = int(grid[3] * 1000)
    with pytest.raises(SymbolNotFoundError, match="strikes run"):
        universe.get(f"AAPL261218C{on_grid + 1000:08d}")  # one dollar off the grid
    with pytest.raises(SymbolNotFoundError, match="strikes run"):
        universe.get("AAPL261218C00010000")  # far outside the band
    with pytest.raises(SymbolNotFoundError, match="Thursday"):
        universe.get(f"AAPL261217C{on_grid:08d}")
    with pytest.raises(SymbolNotFoundError, match="not in the simulated universe"):
        universe.get(f"ZZZZ261218C{on_grid:08d}")
    with pytest.raises(SymbolNotFoundError, match="impossible expiration"):
        universe.get(f"AAPL261318C{on_grid:08d}")


def test_options_chain_for_unknown_underlying_is_refused(universe: InstrumentUniverse) -> None:
    with pytest.raises(SymbolNotFoundError):
        universe.option_chain("ZZZZ", AS_OF)
    with pytest.raises(SymbolNotFoundError, match="is an option"):
        universe.expirations(universe.option_chain("AAPL", AS_OF)[0].symbol, AS_OF)


def test_add_registers_and_replaces_instruments() -> None:
    universe = InstrumentUniverse.seeded()
    acme = Instrument(
        symbol="ACME", name="Acme Corp.", asset_type=AssetType.EQUITY, exchange="NYSE",
        previous_close=Decimal("12.34"), tick_size=Decimal("0.01"), shortable=True,
        easy_to_borrow=True, marginable=True, fractionable=True, liquidity=Decimal(500),
    )
    assert "ACME" not in universe
    universe.add(acme)
    assert universe.get("acme") == acme
    assert "ACME" in universe.symbols()
    assert universe.option_chain("ACME", AS_OF)
    universe.add(replace(universe.get("AAPL"), shortable=False))
    assert not universe.get("AAPL").shortable


def test_inconsistent_instruments_are_refused() -> None:
    with pytest.raises(ValueError, match="option needs"):
        Instrument(
            symbol="X", name="X", asset_type=AssetType.OPTION, exchange="OPRA",
            previous_close=Decimal(1), tick_size=Decimal("0.01"), shortable=False,
            easy_to_borrow=False, marginable=False, fractionable=False, liquidity=Decimal(1),
        )
    with pytest.raises(ValueError, match="previous_close"):
        Instrument(
            symbol="X", name="X", asset_type=AssetType.EQUITY, exchange="NYSE",
            previous_close=Decimal(0), tick_size=Decimal("0.01"), shortable=False,
            easy_to_borrow=False, marginable=False, fractionable=False, liquidity=Decimal(1),
        )


def test_option_tick_is_a_penny_below_three_dollars_and_a_nickel_above(
    universe: InstrumentUniverse,
) -> None:
    option = universe.option_chain("AAPL", AS_OF)[0]
    assert option.tick_for(Decimal("2.99")) == Decimal("0.01")
    assert option.tick_for(Decimal("3.00")) == Decimal("0.05")
    assert universe.get("AAPL").tick_for(Decimal("300")) == Decimal("0.01")

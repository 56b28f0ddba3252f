"""The simulated instrument universe: what can be traded, and on what terms.

A seeded table of about forty well-known US stocks and ETFs, plus their listed options,
which are not stored but derived on demand from a fixed grid: weekly Friday expirations
for the next six weeks, monthly (third Friday) expirations for the next three months,
and strikes within 20% of the underlying's previous close on a spacing set by its price.

Options use the compact OCC symbol as their ``symbol`` (``AAPL261218C00230000``); the
OCC root drops a share-class dot, as the OCC does (``BRK.B`` options are ``BRKB...``).
"""

from __future__ import annotations

import calendar as _cal
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from brokerlink.core.enums import AssetType, OptionType
from brokerlink.core.errors import InvalidOrderError, SymbolNotFoundError
from brokerlink.core.symbols import OptionContract, format_occ, normalize_equity_symbol, parse_occ

PENNY = Decimal("0.01")
NICKEL = Decimal("0.05")
OPTION_NICKEL_FROM = Decimal(3)
"""Options priced at or above this trade in nickels (penny-pilot simplification)."""
OPTION_MULTIPLIER = 100
STRIKE_BAND = Decimal("0.20")
"""Listed strikes lie within this fraction of the underlying's previous close."""
WEEKLY_EXPIRATIONS = 6
MONTHLY_EXPIRATIONS = 3
_FRIDAY = 4
_MARGIN_MIN_PRICE = Decimal(5)


class _DecimalOf(dict[int, Decimal]):
    def __missing__(self, key: int) -> Decimal:
        value = self[key] = Decimal(key)
        return value


DECIMAL_OF: dict[int, Decimal] = _DecimalOf()
"""``Decimal(n)`` for an integer ``n`` (an instrument's ``multiplier``), built once:
``DECIMAL_OF[instrument.multiplier]`` is the multiplier as a ``Decimal`` on hot paths."""


def quantize_to_tick(price: Decimal, tick: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``price`` rounded to a multiple of ``tick`` (half up by default)."""
    return (price / tick).quantize(Decimal(1), rounding=rounding) * tick


def option_tick(premium: Decimal) -> Decimal:
    """The tick that applies to an option premium: $0.01 below $3, $0.05 at or above.

    A simplification of the penny pilot, where many names trade in pennies throughout.
    """
    return PENNY if premium < OPTION_NICKEL_FROM else NICKEL


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument and its trading terms.

    ``tick_size`` is the minimum price increment; for options it is the minimum tick
    ($0.01) and :meth:`tick_for` gives the one that applies at a given premium.
    ``liquidity`` is the quantity (shares, or contracts) shown at the touch in each quote;
    the engine fills at most that much per quote. Option fields are set exactly when
    ``asset_type`` is OPTION. Raises ``ValueError`` for inconsistent fields.
    """

    symbol: str
    name: str
    asset_type: AssetType
    exchange: str
    previous_close: Decimal
    tick_size: Decimal
    shortable: bool
    easy_to_borrow: bool
    marginable: bool
    fractionable: bool
    liquidity: Decimal
    underlying: str | None = None
    option_type: OptionType | None = None
    strike: Decimal | None = None
    expiration: date | None = None
    multiplier: int = 1

    def __post_init__(self) -> None:
        if self.previous_close <= 0:
            raise ValueError(f"{self.symbol}: previous_close must be > 0")
        if self.tick_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size must be > 0")
        if self.liquidity <= 0:
            raise ValueError(f"{self.symbol}: liquidity must be > 0")
        if self.multiplier < 1:
            raise ValueError(f"{self.symbol}: multiplier must be >= 1")
        option_fields = (self.underlying, self.option_type, self.strike, self.expiration)
        if self.is_option and any(value is None for value in option_fields):
            raise ValueError(
                f"{self.symbol}: an option needs underlying, option_type, strike and expiration"
            )
        if not self.is_option and any(value is not None for value in option_fields):
            raise ValueError(f"{self.symbol}: only options have option fields")

    @property
    def is_option(self) -> bool:
        return self.asset_type is AssetType.OPTION

    def tick_for(self, price: Decimal) -> Decimal:
        """The price increment that applies at ``price`` (options: see :func:`option_tick`)."""
        return option_tick(price) if self.is_option else self.tick_size


@dataclass(frozen=True, slots=True)
class _Seed:
    symbol: str
    name: str
    exchange: str
    price: str
    liquidity: int
    etf: bool = False
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True


# Price levels are late-2024-ish; the seed moves each by up to +-5%.
_SEEDS: tuple[_Seed, ...] = (
    _Seed("AAPL", "Apple Inc.", "NASDAQ", "228.50", 3000),
    _Seed("MSFT", "Microsoft Corporation", "NASDAQ", "425.20", 2500),
    _Seed("NVDA", "NVIDIA Corporation", "NASDAQ", "135.40", 5000),
    _Seed("AMZN", "Amazon.com, Inc.", "NASDAQ", "201.70", 2500),
    _Seed("GOOGL", "Alphabet Inc. Class A", "NASDAQ", "171.30", 2500),
    _Seed("GOOG", "Alphabet Inc. Class C", "NASDAQ", "172.90", 2000),
    _Seed("META", "Meta Platforms, Inc. Class A", "NASDAQ", "563.10", 1500),
    _Seed("TSLA", "Tesla, Inc.", "NASDAQ", "251.40", 4000),
    _Seed("BRK.B", "Berkshire Hathaway Inc. Class B", "NYSE", "462.80", 800),
    _Seed("JPM", "JPMorgan Chase & Co.", "NYSE", "221.60", 1500),
    _Seed("V", "Visa Inc. Class A", "NYSE", "289.90", 1000),
    _Seed("MA", "Mastercard Incorporated Class A", "NYSE", "501.30", 600),
    _Seed("UNH", "UnitedHealth Group Incorporated", "NYSE", "562.40", 600),
    _Seed("JNJ", "Johnson & Johnson", "NYSE", "155.20", 1200),
    _Seed("PG", "The Procter & Gamble Company", "NYSE", "169.80", 1200),
    _Seed("HD", "The Home Depot, Inc.", "NYSE", "401.10", 700),
    _Seed("XOM", "Exxon Mobil Corporation", "NYSE", "118.30", 2000),
    _Seed("CVX", "Chevron Corporation", "NYSE", "155.70", 1200),
    _Seed("KO", "The Coca-Cola Company", "NYSE", "64.10", 3000),
    _Seed("PEP", "PepsiCo, Inc.", "NASDAQ", "164.90", 1200),
    _Seed("WMT", "Walmart Inc.", "NYSE", "80.40", 2500),
    _Seed("COST", "Costco Wholesale Corporation", "NASDAQ", "902.50", 300),
    _Seed("DIS", "The Walt Disney Company", "NYSE", "97.80", 1500),
    _Seed("NFLX", "Netflix, Inc.", "NASDAQ", "705.60", 400),
    _Seed("AMD", "Advanced Micro Devices, Inc.", "NASDAQ", "151.20", 3000),
    _Seed("INTC", "Intel Corporation", "NASDAQ", "22.40", 5000),
    _Seed("BAC", "Bank of America Corporation", "NYSE", "42.10", 5000),
    _Seed("WFC", "Wells Fargo & Company", "NYSE", "64.70", 2500),
    _Seed("T", "AT&T Inc.", "NYSE", "22.30", 5000),
    _Seed("F", "Ford Motor Company", "NYSE", "11.10", 5000),
    _Seed("PLTR", "Palantir Technologies Inc. Class A", "NASDAQ", "45.30", 4000),
    _Seed("SOFI", "SoFi Technologies, Inc.", "NASDAQ", "10.20", 4000),
    _Seed("GME", "GameStop Corp. Class A", "NYSE", "24.30", 1500, easy_to_borrow=False),
    _Seed("AMC", "AMC Entertainment Holdings, Inc. Class A", "NYSE", "4.55", 800,
          easy_to_borrow=False, fractionable=False),
    _Seed("BYND", "Beyond Meat, Inc.", "NASDAQ", "3.25", 250,
          shortable=False, easy_to_borrow=False, fractionable=False),
    _Seed("SPY", "SPDR S&P 500 ETF Trust", "ARCA", "575.40", 5000, etf=True),
    _Seed("QQQ", "Invesco QQQ Trust, Series 1", "NASDAQ", "490.80", 4000, etf=True),
    _Seed("IWM", "iShares Russell 2000 ETF", "ARCA", "220.30", 3000, etf=True),
    _Seed("DIA", "SPDR Dow Jones Industrial Average ETF Trust", "ARCA", "421.60", 800,
          etf=True),
    _Seed("GLD", "SPDR Gold Shares", "ARCA", "245.10", 1500, etf=True),
    _Seed("TLT", "iShares 20+ Year Treasury Bond ETF", "NASDAQ", "94.70", 2500, etf=True),
    _Seed("VTI", "Vanguard Total Stock Market ETF", "ARCA", "285.20", 1500, etf=True),
)


def _seeded_instrument(seed: _Seed, rng: random.Random) -> Instrument:
    # A draw per ticker, in table order, so one seed always gives the same prices.
    factor = Decimal(str(round(rng.uniform(0.95, 1.05), 6)))
    price = max(quantize_to_tick(Decimal(seed.price) * factor, PENNY), PENNY)
    return Instrument(
        symbol=seed.symbol,
        name=seed.name,
        asset_type=AssetType.ETF if seed.etf else AssetType.EQUITY,
        exchange=seed.exchange,
        previous_close=price,
        tick_size=PENNY,
        shortable=seed.shortable,
        easy_to_borrow=seed.easy_to_borrow,
        # Reg T practice: stocks under $5 are not marginable.
        marginable=price >= _MARGIN_MIN_PRICE,
        fractionable=seed.fractionable,
        liquidity=Decimal(seed.liquidity),
    )


def strike_spacing(price: Decimal) -> Decimal:
    """Distance between listed strikes for an underlying trading at ``price``."""
    if price < 25:
        return Decimal(1)
    if price < 100:
        return Decimal("2.5")
    if price < 500:
        return Decimal(5)
    return Decimal(10)


def strike_grid(previous_close: Decimal) -> list[Decimal]:
    """Listed strikes: multiples of the spacing within ``STRIKE_BAND`` of the close."""
    step = strike_spacing(previous_close)
    low = quantize_to_tick(previous_close * (1 - STRIKE_BAND), step, ROUND_CEILING)
    high = quantize_to_tick(previous_close * (1 + STRIKE_BAND), step, ROUND_FLOOR)
    low = max(low, step)
    count = int((high - low) / step) + 1
    return [low + step * i for i in range(max(count, 0))]


def third_friday(year: int, month: int) -> date:
    """The standard monthly expiration day of ``year``-``month``."""
    first_weekday = _cal.weekday(year, month, 1)
    return date(year, month, 1 + (_FRIDAY - first_weekday) % 7 + 14)


def listed_expirations(as_of: date) -> list[date]:
    """The next six Fridays on or after ``as_of`` plus the next three monthly expirations.

    Exchange holidays do not move an expiration here (real ones move to Thursday).
    """
    first_friday = as_of + timedelta(days=(_FRIDAY - as_of.weekday()) % 7)
    result = {first_friday + timedelta(weeks=i) for i in range(WEEKLY_EXPIRATIONS)}
    year, month, monthlies = as_of.year, as_of.month, 0
    while monthlies < MONTHLY_EXPIRATIONS:
        candidate = third_friday(year, month)
        if candidate >= as_of:
            result.add(candidate)
            monthlies += 1
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(result)


def option_root(underlying: str) -> str:
    """The OCC root for an underlying: the ticker without its share-class dot."""
    return underlying.replace(".", "")


class InstrumentUniverse:
    """Every instrument the simulation knows, looked up by any accepted spelling.

    Equities accept share-class spellings (``BRK.B``, ``BRK/B``, ``BRK-B``, ``brk b``);
    options accept padded or compact OCC symbols. Not thread-safe: one event loop owns it.
    """

    __slots__ = ("_instruments", "_resolved", "_roots")

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        """A universe holding ``instruments`` (see :meth:`seeded` for the standard one)."""
        self._instruments: dict[str, Instrument] = {}
        # OCC root (BRKB) or ticker -> ticker of the underlying.
        self._roots: dict[str, str] = {}
        # Spelling -> instrument, so the per-order look-up is one dict access.
        self._resolved: dict[str, Instrument] = {}
        for instrument in instruments:
            self.add(instrument)

    @classmethod
    def seeded(cls, seed: int = 7) -> InstrumentUniverse:
        """The standard universe of about forty US tickers, prices perturbed by ``seed``.

        The same seed always yields an identical universe.
        """
        rng = random.Random(seed)  # noqa: S311 - simulation data, not security
        return cls(_seeded_instrument(entry, rng) for entry in _SEEDS)

    def add(self, instrument: Instrument) -> None:
        """Add ``instrument``, replacing any instrument with the same symbol.

        An option added this way is tradable whatever the grid says.
        """
        self._instruments[instrument.symbol] = instrument
        if not instrument.is_option:
            self._roots[option_root(instrument.symbol)] = instrument.symbol
            self._roots[instrument.symbol] = instrument.symbol
        self._resolved.clear()

    def get(self, symbol: str) -> Instrument:
        """The instrument for ``symbol`` in any accepted spelling.

        Raises ``SymbolNotFoundError`` for an unknown ticker, a malformed symbol, or an
        option contract that is not listed (unknown underlying, strike off the grid or
        outside the band, or an expiration that is not a Friday).
        """
        found = self._resolved.get(symbol)
        if found is not None:
            return found
        found = self._resolve(symbol)
        self._resolved[symbol] = found
        return found

    def _resolve(self, symbol: str) -> Instrument:
        text = symbol.strip().upper()
        found = self._instruments.get(text)
        if found is not None:
            return found
        if len(text) >= 16 and text[-9] in "CP" and text[-8:].isdigit():
            return self._option(symbol)
        canonical = normalize_equity_symbol(symbol)
        found = self._instruments.get(canonical)
        if found is None:
            raise SymbolNotFoundError(
                f"unknown symbol {symbol!r}: the simulated universe has no such ticker; "
                f"known equities include {', '.join(self.symbols()[:8])}... "
                "(InstrumentUniverse.add registers a new one)",
                symbol=symbol,
            )
        return found

    def _option(self, symbol: str) -> Instrument:
        try:
            contract = parse_occ(symbol)
        except InvalidOrderError as exc:
            raise SymbolNotFoundError(
                f"{symbol!r} is not a listed option: {exc.message}", symbol=symbol
            ) from exc
        root = contract.root
        underlying_symbol = self._roots.get(root) or self._roots.get(option_root(root))
        if underlying_symbol is None:
            raise SymbolNotFoundError(
                f"{symbol!r}: no options are listed on {root!r} because it is not in the "
                "simulated universe",
                symbol=symbol,
            )
        underlying = self._instruments[underlying_symbol]
        canonical = format_occ(
            OptionContract(
                option_root(underlying.symbol),
                contract.expiration,
                contract.option_type,
                contract.strike,
            )
        )
        added = self._instruments.get(canonical)
        if added is not None:
            return added
        if contract.expiration.weekday() != _FRIDAY:
            raise SymbolNotFoundError(
                f"{symbol!r} is not listed: expiration {contract.expiration} is a "
                f"{contract.expiration:%A}, and simulated options expire on Fridays",
                symbol=symbol,
            )
        grid = strike_grid(underlying.previous_close)
        if contract.strike not in grid:
            raise SymbolNotFoundError(
                f"{symbol!r} is not listed: {underlying.symbol} strikes run {grid[0]} to "
                f"{grid[-1]} in steps of {strike_spacing(underlying.previous_close)}; "
                "see option_chain() for the listed contracts",
                symbol=symbol,
            )
        # The grid's own Decimal, so equal contracts carry identical strikes.
        strike = grid[grid.index(contract.strike)]
        return _derive_option(underlying, contract.expiration, contract.option_type, strike)

    def __contains__(self, symbol: object) -> bool:
        if not isinstance(symbol, str):
            return False
        try:
            self.get(symbol)
        except SymbolNotFoundError:
            return False
        return True

    def symbols(self) -> list[str]:
        """Every non-option symbol (stocks and ETFs), sorted."""
        return sorted(s for s, i in self._instruments.items() if not i.is_option)

    def underlying(self, symbol: str) -> Instrument:
        """The stock or ETF ``symbol``; raises ``SymbolNotFoundError`` for options/unknown."""
        instrument = self.get(symbol)
        if instrument.is_option:
            raise SymbolNotFoundError(
                f"{symbol!r} is an option; pass its underlying ticker instead", symbol=symbol
            )
        return instrument

    def expirations(self, underlying: str, as_of: date) -> list[date]:
        """Listed expirations for ``underlying`` as of ``as_of``, soonest first.

        Raises ``SymbolNotFoundError`` for an unknown underlying.
        """
        self.underlying(underlying)
        return listed_expirations(as_of)

    def option_chain(self, underlying: str, as_of: date) -> list[Instrument]:
        """Every listed contract on ``underlying`` as of ``as_of``.

        Ordered by expiration, then strike, then call before put. Raises
        ``SymbolNotFoundError`` for an unknown underlying.
        """
        base = self.underlying(underlying)
        strikes = strike_grid(base.previous_close)
        return [
            _derive_option(base, expiration, option_type, strike)
            for expiration in listed_expirations(as_of)
            for strike in strikes
            for option_type in (OptionType.CALL, OptionType.PUT)
        ]

    def __len__(self) -> int:
        return len(self._instruments)

    def __repr__(self) -> str:
        return f"InstrumentUniverse({len(self._instruments)} instruments)"


def _derive_option(
    underlying: Instrument, expiration: date, option_type: OptionType, strike: Decimal
) -> Instrument:
    contract = OptionContract(option_root(underlying.symbol), expiration, option_type, strike)
    if option_type is OptionType.CALL:
        intrinsic = underlying.previous_close - strike
    else:
        intrinsic = strike - underlying.previous_close
    # Only a floor: the price book values options with a model at quote time.
    reference = max(intrinsic, PENNY)
    kind = "Call" if option_type is OptionType.CALL else "Put"
    return Instrument(
        symbol=contract.occ,
        name=f"{underlying.symbol} {expiration:%b %d %Y} {strike.normalize():f} {kind}",
        asset_type=AssetType.OPTION,
        exchange="OPRA",
        previous_close=quantize_to_tick(reference, option_tick(reference), ROUND_FLOOR),
        tick_size=PENNY,
        # Writing options is governed by the account's option level, not by borrow.
        shortable=False,
        easy_to_borrow=False,
        marginable=False,
        fractionable=False,
        liquidity=Decimal(max(10, int(underlying.liquidity) // 100)),
        underlying=underlying.symbol,
        option_type=option_type,
        strike=strike,
        expiration=expiration,
        multiplier=OPTION_MULTIPLIER,
    )


__all__ = [
    "DECIMAL_OF",
    "OPTION_MULTIPLIER",
    "Instrument",
    "InstrumentUniverse",
    "listed_expirations",
    "option_root",
    "option_tick",
    "quantize_to_tick",
    "strike_grid",
    "strike_spacing",
    "third_friday",
]

"""Simulated prices: a seeded random walk for stocks, a model for their options.

Each stock or ETF follows its own geometric random walk, driven by shocks hashed from
the book's seed, the ticker and the step number, so a run is repeatable for
a seed and a sequence of :meth:`PriceBook.step` calls, and adding, freezing or pinning
one symbol never changes another's path. The walk keeps an exact float "true" price and
publishes it rounded to the tick, so many small steps still move the price.

Options are valued from the underlying's current last, never stored: intrinsic value
plus Black-Scholes time value (no dividends, a fixed 4% rate, the underlying's fixed
volatility, expiry at 16:00 New York on the expiration date). Floats are used only
inside the model; every published number is a ``Decimal`` built from ``str()`` and
rounded to the tick.

Quotes are one tick wide for liquid stocks (liquidity >= 1000 shares), two ticks for
medium (>= 300) and three for thin names; options are two ticks wide on liquid
underlyings and four otherwise. Bid and ask sizes are the instrument's ``liquidity``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from brokerlink.core.enums import AssetType, OptionType
from brokerlink.sim.calendar import NEW_YORK
from brokerlink.sim.clock import SimClock
from brokerlink.sim.universe import (
    NICKEL,
    OPTION_NICKEL_FROM,
    PENNY,
    Instrument,
    InstrumentUniverse,
    option_tick,
    quantize_to_tick,
)

TRADING_YEAR_SECONDS = 252 * 6.5 * 3600
"""The walk's time unit: 252 sessions of 6.5 hours."""
CALENDAR_YEAR_SECONDS = 365 * 24 * 3600
"""The option model's time unit, as option pricing convention has it."""
RISK_FREE_RATE = 0.04
OPTION_EXPIRY_TIME = time(16, 0)

# Annualised volatility per ticker; anything else gets the default for its type.
VOLATILITY: dict[str, float] = {
    "AAPL": 0.28, "MSFT": 0.25, "NVDA": 0.55, "AMZN": 0.33, "GOOGL": 0.30, "GOOG": 0.30,
    "META": 0.38, "TSLA": 0.60, "BRK.B": 0.20, "JPM": 0.24, "V": 0.21, "MA": 0.22,
    "UNH": 0.27, "JNJ": 0.20, "PG": 0.20, "HD": 0.24, "XOM": 0.26, "CVX": 0.26,
    "KO": 0.20, "PEP": 0.20, "WMT": 0.21, "COST": 0.24, "DIS": 0.32, "NFLX": 0.42,
    "AMD": 0.52, "INTC": 0.48, "BAC": 0.29, "WFC": 0.29, "T": 0.24, "F": 0.40,
    "PLTR": 0.60, "SOFI": 0.58, "GME": 0.60, "AMC": 0.60, "BYND": 0.60,
    "SPY": 0.20, "QQQ": 0.23, "IWM": 0.25, "DIA": 0.20, "GLD": 0.20, "TLT": 0.20,
    "VTI": 0.20,
}
DEFAULT_VOLATILITY = 0.35
DEFAULT_ETF_VOLATILITY = 0.20

_SQRT2 = math.sqrt(2.0)
_LIQUID = Decimal(1000)
_MEDIUM = Decimal(300)


@dataclass(frozen=True, slots=True)
class SimQuote:
    """A top-of-book quote: ``0 < bid <= last <= ask``, ``bid < ask``, all on the tick.

    Sizes are in shares (contracts for options); ``timestamp`` is aware UTC.
    """

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: Decimal
    ask_size: Decimal
    previous_close: Decimal
    timestamp: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid


@dataclass(frozen=True, slots=True)
class WalkState:
    """Where one stock's walk stands: enough to continue it exactly (``PriceBook.state``).

    ``rng`` is always ``None`` now (shocks follow from the step count); snapshots written
    while walks kept a ``random.Random`` carry its state, which is read and ignored.
    """

    last: Decimal
    true: float
    previous_close: Decimal
    rng: tuple[Any, ...] | None


@dataclass(frozen=True, slots=True)
class OptionState:
    """What an option's price depends on besides its underlying: a pin and a fixed
    previous close (both ``None`` for a contract that simply follows its model)."""

    pinned: Decimal | None
    previous: Decimal | None


@dataclass(frozen=True, slots=True)
class BookState:
    """Everything a ``PriceBook`` holds that its universe and seed do not determine,
    keyed by canonical symbol: walks and options that moved or were pinned, the frozen
    stocks, and how many times the book has stepped."""

    steps: int
    walks: dict[str, WalkState]
    options: dict[str, OptionState]
    frozen: tuple[str, ...]


def volatility_of(instrument: Instrument) -> float:
    """The fixed annualised volatility the walk and the option model use for a ticker."""
    symbol = instrument.underlying or instrument.symbol
    default = (
        DEFAULT_ETF_VOLATILITY if instrument.asset_type is AssetType.ETF else DEFAULT_VOLATILITY
    )
    return VOLATILITY.get(symbol, default)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def option_value(
    option_type: OptionType, spot: float, strike: float, years: float, volatility: float
) -> float:
    """Intrinsic value plus Black-Scholes time value (never below intrinsic).

    ``years`` <= 0 means expired: the value is intrinsic only.
    """
    if option_type is OptionType.CALL:
        intrinsic = max(spot - strike, 0.0)
    else:
        intrinsic = max(strike - spot, 0.0)
    if years <= 0.0 or volatility <= 0.0:
        return intrinsic
    root_t = math.sqrt(years)
    d1 = (math.log(spot / strike) + (RISK_FREE_RATE + 0.5 * volatility**2) * years) / (
        volatility * root_t
    )
    d2 = d1 - volatility * root_t
    discounted = strike * math.exp(-RISK_FREE_RATE * years)
    if option_type is OptionType.CALL:
        model = spot * _normal_cdf(d1) - discounted * _normal_cdf(d2)
    else:
        model = discounted * _normal_cdf(-d2) - spot * _normal_cdf(-d1)
    # European puts deep in the money can model below intrinsic; listed (American)
    # options never trade there, hence the time value is floored at zero.
    return intrinsic + max(model - intrinsic, 0.0)


def _spread_ticks(liquidity: Decimal) -> int:
    if liquidity >= _LIQUID:
        return 1
    return 2 if liquidity >= _MEDIUM else 3


def gaussian_shock(key: bytes, step: int) -> float:
    """A standard normal draw for ``step`` of the walk named by ``key``: Box-Muller over
    two uniforms from a BLAKE2b hash of both. Stateless, so a walk costs no generator
    (a ``random.Random`` is 2.5 KiB, and a paper account walks about forty symbols)
    and its path depends only on the number of steps, as before."""
    digest = hashlib.blake2b(key + step.to_bytes(8, "little"), digest_size=16).digest()
    first = (int.from_bytes(digest[:8], "little") >> 11) * _TWO_TO_MINUS_53
    second = (int.from_bytes(digest[8:], "little") >> 11) * _TWO_TO_MINUS_53
    return math.sqrt(-2.0 * math.log(1.0 - first)) * math.cos(_TAU * second)


_TWO_TO_MINUS_53 = 2.0 ** -53
_TAU = 2.0 * math.pi


class _Walk:
    """Mutable price state of one stock or ETF."""

    __slots__ = ("instrument", "key", "last", "parts", "previous_close", "quote", "spread",
                 "tick", "true", "volatility")

    def __init__(self, instrument: Instrument, seed: int) -> None:
        self.instrument = instrument
        self.tick = instrument.tick_size
        self.volatility = volatility_of(instrument)
        self.spread = _spread_ticks(instrument.liquidity)
        # The walk's shocks are a function of this key and the step number (see
        # ``gaussian_shock``): no generator state to hold or persist per walk.
        self.key = f"{seed}:{instrument.symbol}:".encode()
        self.previous_close = instrument.previous_close
        self.last = instrument.previous_close
        self.true = float(instrument.previous_close)
        self.parts: tuple[Decimal, Decimal, Decimal] | None = None
        # The last quote served: orders arriving at one instant share it.
        self.quote: SimQuote | None = None

    def set_last(self, price: Decimal) -> None:
        self.last = price
        self.true = float(price)
        self.parts = None

    def book(self) -> tuple[Decimal, Decimal, Decimal]:
        """(last, bid, ask) for the current last, computed once per price."""
        parts = self.parts
        if parts is not None and parts[0] == self.last:
            return parts
        last, tick = self.last, self.tick
        bid = last - tick * (self.spread // 2)
        if bid <= 0:
            bid = tick
        parts = (last, bid, bid + tick * self.spread)
        self.parts = parts
        return parts


class _Option:
    """Model inputs of one option contract, computed once, and its last quote."""

    __slots__ = ("expiry", "instrument", "kind", "pinned", "previous", "quote", "quote_key",
                 "strike", "underlying", "volatility", "width")

    def __init__(self, instrument: Instrument, underlying: _Walk) -> None:
        kind, strike, expiration = instrument.option_type, instrument.strike, instrument.expiration
        if kind is None or strike is None or expiration is None:
            raise ValueError(f"{instrument.symbol} is not an option")
        self.instrument = instrument
        self.underlying = underlying
        self.kind = kind
        self.strike = float(strike)
        self.expiry = datetime.combine(
            expiration, OPTION_EXPIRY_TIME, tzinfo=NEW_YORK
        ).astimezone(UTC)
        self.volatility = volatility_of(instrument)
        self.width = 2 if underlying.instrument.liquidity >= _LIQUID else 4
        self.pinned: Decimal | None = None
        # The previous session's close; fixed once known so it does not drift intraday.
        self.previous: Decimal | None = None
        self.quote: SimQuote | None = None
        self.quote_key: tuple[datetime, Decimal, Decimal | None] | None = None

    def value(self, spot: Decimal, at: datetime | None) -> Decimal:
        """The model value at ``spot`` and time ``at`` (None: intrinsic only), on the tick."""
        years = 0.0 if at is None else (self.expiry - at).total_seconds() / CALENDAR_YEAR_SECONDS
        value = option_value(self.kind, float(spot), self.strike, years, self.volatility)
        price = Decimal(str(round(value, 6)))
        return max(quantize_to_tick(price, option_tick(price)), PENNY)

    def last(self, at: datetime | None) -> Decimal:
        if self.pinned is not None:
            return self.pinned
        return self.value(self.underlying.last, at)

    def previous_close(self, at: datetime | None) -> Decimal:
        if self.previous is not None:
            return self.previous
        previous = self.value(self.underlying.previous_close, at)
        if at is not None:
            self.previous = previous
        return previous


def _utc(at: datetime) -> datetime:
    if at.tzinfo is UTC:  # the clock's own times: aware, and UTC already
        return at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"quote time must be timezone-aware (got naive {at.isoformat()}); "
            "pass e.g. clock.now()"
        )
    return at if at.tzinfo is UTC else at.astimezone(UTC)


class PriceBook:
    """Current prices of every instrument in ``universe``.

    ``seed`` drives the random walk; the same seed and the same sequence of calls give
    the same prices. Option values need a time: :meth:`quote` uses its ``at``; ``last``
    and ``previous_close`` use ``clock.now()`` when a clock is given, else the latest
    time passed to :meth:`quote`, else no time value at all (intrinsic only). An
    option's previous close, until the first :meth:`roll_session`, is its model value
    at the underlying's previous close, fixed the first time it is asked for.

    Unknown symbols raise ``SymbolNotFoundError`` from the universe. Not thread-safe.
    """

    __slots__ = ("_as_of", "_clock", "_frozen", "_options", "_seed", "_steps", "_universe",
                 "_walks")

    def __init__(
        self, universe: InstrumentUniverse, *, seed: int = 7, clock: SimClock | None = None
    ) -> None:
        self._universe = universe
        self._seed = seed
        self._clock = clock
        self._as_of: datetime | None = None
        # Both keyed by canonical symbol *and* by every spelling seen, for one-lookup hits.
        self._walks: dict[str, _Walk] = {}
        self._options: dict[str, _Option] = {}
        self._frozen: set[str] = set()
        # Steps taken: every walk has drawn exactly this many shocks (see ``step``).
        self._steps = 0

    @property
    def seed(self) -> int:
        """The seed every walk's generator derives from."""
        return self._seed

    # --- lookup ------------------------------------------------------------------------

    def _walk(self, instrument: Instrument) -> _Walk:
        walk = self._walks.get(instrument.symbol)
        if walk is None:
            walk = _Walk(instrument, self._seed)
            self._walks[instrument.symbol] = walk
        return walk

    def _resolve(self, symbol: str) -> _Walk | _Option:
        """The walk of a stock or ETF, or the model of an option."""
        walk = self._walks.get(symbol)
        if walk is not None:
            return walk
        option = self._options.get(symbol)
        if option is not None:
            return option
        instrument = self._universe.get(symbol)
        if instrument.is_option:
            option = self._options.get(instrument.symbol)
            if option is None:
                underlying = self._resolve(instrument.underlying or "")
                if not isinstance(underlying, _Walk):
                    raise ValueError(f"{instrument.symbol}: its underlying must be a stock")
                option = _Option(instrument, underlying)
                self._options[instrument.symbol] = option
            self._options[symbol] = option
            return option
        walk = self._walk(instrument)
        self._walks[symbol] = walk
        return walk

    def _reference_time(self) -> datetime | None:
        return self._clock.now() if self._clock is not None else self._as_of

    # --- reads -------------------------------------------------------------------------

    def last(self, symbol: str) -> Decimal:
        """The last trade price of ``symbol``, on its tick and above zero."""
        walk = self._walks.get(symbol)
        if walk is not None:
            return walk.last
        found = self._resolve(symbol)
        if isinstance(found, _Walk):
            return found.last
        return found.last(self._reference_time())

    def previous_close(self, symbol: str) -> Decimal:
        """The close of the previous session (set by :meth:`roll_session`)."""
        found = self._resolve(symbol)
        if isinstance(found, _Walk):
            return found.previous_close
        return found.previous_close(self._reference_time())

    def quote(self, symbol: str, at: datetime) -> SimQuote:
        """The top of book for ``symbol`` at ``at`` (an aware datetime, stored as UTC).

        Raises ``ValueError`` for a naive ``at`` and ``SymbolNotFoundError`` for an
        unknown symbol.
        """
        at = _utc(at)
        as_of = self._as_of
        if as_of is None or at > as_of:
            self._as_of = at
        found = self._walks.get(symbol) or self._resolve(symbol)
        if isinstance(found, _Walk):
            cached = found.quote
            if (cached is not None and cached.timestamp == at and cached.last is found.last
                    and cached.previous_close is found.previous_close):
                return cached
            last, bid, ask = found.book()
            size = found.instrument.liquidity
            quote = SimQuote(found.instrument.symbol, bid, ask, last, size, size,
                             found.previous_close, at)
            found.quote = quote
            return quote
        return self._option_quote(found, at)

    def _option_quote(self, option: _Option, at: datetime) -> SimQuote:
        key = (at, option.underlying.last, option.pinned)
        cached = option.quote
        if (cached is not None and option.quote_key == key
                and cached.previous_close is option.previous):
            return cached
        last = option.last(at)
        tick = option_tick(last)
        width = option.width
        bid = max(last - tick * (width // 2), PENNY)
        ask = max(last + tick * (width - width // 2), bid + tick)
        # Keep both sides on their own penny-pilot tick when they straddle $3.
        if ask >= OPTION_NICKEL_FROM:
            ask = quantize_to_tick(ask, NICKEL, ROUND_CEILING)
        if bid >= OPTION_NICKEL_FROM:
            bid = quantize_to_tick(bid, NICKEL, ROUND_FLOOR)
        size = option.instrument.liquidity
        quote = SimQuote(option.instrument.symbol, bid, ask, last, size, size,
                         option.previous_close(at), at)
        option.quote, option.quote_key = quote, key
        return quote

    # --- writes ------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Set the last price of ``symbol``.

        A stock keeps walking from there unless frozen, and its options follow. An
        option is pinned at ``price`` until :meth:`unfreeze`. Raises ``ValueError`` when
        ``price`` is not above zero or not on the instrument's tick.
        """
        found = self._resolve(symbol)
        instrument = found.instrument
        if price <= 0:
            raise ValueError(f"price for {instrument.symbol} must be above zero, got {price}")
        tick = instrument.tick_for(price)
        if price % tick != 0:
            raise ValueError(
                f"price {price} for {instrument.symbol} is not on its {tick} tick; "
                f"use e.g. {quantize_to_tick(price, tick)}"
            )
        if isinstance(found, _Walk):
            found.set_last(price)
        else:
            found.pinned = price

    def freeze(self, symbol: str) -> None:
        """Hold ``symbol`` at its current price: :meth:`step` no longer moves it.

        Freezing an option pins it at its current value, so it stops following its
        underlying.
        """
        found = self._resolve(symbol)
        if isinstance(found, _Walk):
            self._frozen.add(found.instrument.symbol)
        else:
            found.pinned = found.last(self._reference_time())

    def unfreeze(self, symbol: str) -> None:
        """Let ``symbol`` move again (an option follows its underlying again). Idempotent."""
        found = self._resolve(symbol)
        if isinstance(found, _Walk):
            self._frozen.discard(found.instrument.symbol)
        else:
            found.pinned = None

    def is_frozen(self, symbol: str) -> bool:
        """Whether ``symbol`` is frozen (a stock) or pinned (an option)."""
        found = self._resolve(symbol)
        if isinstance(found, _Walk):
            return found.instrument.symbol in self._frozen
        return found.pinned is not None

    def step(self, elapsed: timedelta) -> dict[str, Decimal]:
        """Advance every unfrozen stock and ETF by ``elapsed`` of trading time.

        Each moves by a geometric random walk with its annualised volatility, scaled by
        the square root of ``elapsed`` in trading years (252 x 6.5 h); prices are
        rounded to the tick and never fall below one tick. Returns ``{symbol: new last}``
        for those whose last changed. Raises ``ValueError`` for a negative ``elapsed``.
        """
        if elapsed < timedelta(0):
            raise ValueError(f"cannot step prices by a negative duration ({elapsed})")
        years = elapsed.total_seconds() / TRADING_YEAR_SECONDS
        if years == 0.0:
            return {}
        root_t = math.sqrt(years)
        self._steps += 1
        changed: dict[str, Decimal] = {}
        for symbol in self._universe.symbols():
            walk = self._walk(self._universe.get(symbol))
            # Draw even when frozen, so a symbol's path depends only on the number of
            # steps taken, not on when it was frozen.
            shock = gaussian_shock(walk.key, self._steps)
            if symbol in self._frozen:
                continue
            vol = walk.volatility
            walk.true = max(
                walk.true * math.exp(-0.5 * vol * vol * years + vol * root_t * shock),
                float(walk.tick),
            )
            price = max(quantize_to_tick(Decimal(str(walk.true)), walk.tick), walk.tick)
            if price != walk.last:
                walk.last = price
                changed[symbol] = price
        return changed

    def roll_session(self) -> None:
        """Start a new session: every previous close becomes the current last.

        Options that have been looked up are rolled too; others keep deriving their
        previous close from the underlying's.
        """
        at = self._reference_time()
        for symbol in self._universe.symbols():
            walk = self._walk(self._universe.get(symbol))
            walk.previous_close = walk.last
        for option in {id(o): o for o in self._options.values()}.values():
            option.previous = option.last(at)

    # --- persistence (``sim.snapshot``) ---------------------------------------------------

    def state(self) -> BookState:
        """What this book holds beyond its seed and universe (see ``BookState``).

        A stock whose walk is still where its seed put it is left out, as is an option
        with neither a pin nor a fixed previous close, so an untouched book is small.
        """
        walks: dict[str, WalkState] = {}
        for walk in {id(w): w for w in self._walks.values()}.values():
            start = walk.instrument.previous_close
            if self._steps or walk.last != start or walk.previous_close != start \
                    or walk.true != float(start):
                walks[walk.instrument.symbol] = WalkState(
                    walk.last, walk.true, walk.previous_close, None)
        options = {
            option.instrument.symbol: OptionState(option.pinned, option.previous)
            for option in {id(o): o for o in self._options.values()}.values()
            if option.pinned is not None or option.previous is not None
        }
        return BookState(self._steps, walks, options, tuple(sorted(self._frozen)))

    def load_state(self, state: BookState) -> None:
        """Put this book where ``state`` says (on a book of the same seed and universe).

        Raises ``SymbolNotFoundError`` for a symbol the universe does not list and
        ``ValueError`` for an option given as a stock (or the reverse) or a generator
        state ``random`` refuses.
        """
        for symbol, saved in state.walks.items():
            walk = self._resolve(symbol)
            if not isinstance(walk, _Walk):
                raise ValueError(f"{symbol} is an option, not a stock with a walk")
            walk.set_last(saved.last)
            walk.true = saved.true
            walk.previous_close = saved.previous_close
            # ``saved.rng`` (generator state from snapshots before stateless shocks) is
            # not needed: the shocks follow from the step count alone.
            walk.quote = None
        for symbol, option_state in state.options.items():
            option = self._resolve(symbol)
            if not isinstance(option, _Option):
                raise ValueError(f"{symbol} is a stock, not an option")
            option.pinned, option.previous = option_state.pinned, option_state.previous
            option.quote, option.quote_key = None, None
        self._frozen = {self._universe.get(symbol).symbol for symbol in state.frozen}
        self._steps = state.steps

    def __repr__(self) -> str:
        return f"PriceBook(seed={self._seed}, {len(self._universe)} instruments)"


__all__ = [
    "CALENDAR_YEAR_SECONDS",
    "DEFAULT_ETF_VOLATILITY",
    "DEFAULT_VOLATILITY",
    "RISK_FREE_RATE",
    "TRADING_YEAR_SECONDS",
    "VOLATILITY",
    "BookState",
    "OptionState",
    "PriceBook",
    "SimQuote",
    "WalkState",
    "option_value",
    "volatility_of",
]

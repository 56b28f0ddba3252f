"""Currency conversion with a stated source: the ``FxRates`` port and a static table.

Amounts in different currencies are never added silently: a caller converts with a
rate that names where it came from (``FxRate.source``), or reports the amount as
unconverted. ``StaticFxRates`` is the one implementation here: a fixed table the user
supplies (with its source and date), inverted on demand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from brokerlink.core.values import utc_now


@dataclass(frozen=True, slots=True)
class FxRate:
    """``1 base = rate quote``, as of ``as_of``, according to ``source``."""

    base: str
    quote: str
    rate: Decimal
    source: str
    as_of: datetime

    def convert(self, amount: Decimal) -> Decimal:
        """``amount`` in ``base`` expressed in ``quote`` (exact Decimal arithmetic)."""
        return amount * self.rate


class FxRates(Protocol):
    """Where conversion rates come from. ``None`` means "no rate": report unconverted."""

    async def rate(self, base: str, quote: str) -> FxRate | None:
        """The rate from ``base`` to ``quote``, or ``None`` if this source has none."""
        ...


class StaticFxRates:
    """A fixed rate table, e.g. ``{("EUR", "USD"): Decimal("1.08")}``.

    ``source`` names where the numbers came from (shown with every conversion) and
    ``as_of`` when they were taken. A missing pair is looked up inverted (and says so
    in its source); a currency converts to itself at 1 with source ``identity``.
    Raises ``ValueError`` for a non-positive rate.
    """

    def __init__(self, rates: Mapping[tuple[str, str], Decimal], *, source: str,
                 as_of: datetime | None = None) -> None:
        for pair, value in rates.items():
            if value <= 0:
                raise ValueError(f"rate {pair[0]}->{pair[1]} must be positive, got {value}")
        self._rates = {(b.upper(), q.upper()): Decimal(v) for (b, q), v in rates.items()}
        self.source = source
        self.as_of = as_of or utc_now()

    def __repr__(self) -> str:
        return f"StaticFxRates({len(self._rates)} pairs, source={self.source!r})"

    async def rate(self, base: str, quote: str) -> FxRate | None:
        base, quote = base.upper(), quote.upper()
        if base == quote:
            return FxRate(base, quote, Decimal(1), "identity", self.as_of)
        direct = self._rates.get((base, quote))
        if direct is not None:
            return FxRate(base, quote, direct, self.source, self.as_of)
        inverse = self._rates.get((quote, base))
        if inverse is not None:
            return FxRate(base, quote, Decimal(1) / inverse,
                          f"{self.source} (inverse of {quote}->{base})", self.as_of)
        return None


NO_RATES = StaticFxRates({}, source="no rates configured")
"""The default: only same-currency amounts are added; everything else is unconverted."""

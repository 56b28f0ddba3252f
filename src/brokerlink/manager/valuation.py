"""Total portfolio value in one base currency, every conversion stated.

Each account's ``total_value`` is converted to the base currency at a rate that names
its source (``FxRates``); an account whose currency has no rate is reported as
unconverted and left out of the total, never added as if it were base currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from brokerlink.core.enums import BrokerType, DataSource
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import AccountBalances
from brokerlink.manager.aggregate import Aggregated
from brokerlink.manager.fx import FxRate, FxRates


@dataclass(frozen=True, slots=True)
class ValueLine:
    """One account's value: as reported (``amount`` in ``currency``) and in the base
    currency (``converted``, ``None`` when no rate was available) with the ``rate`` used."""

    connection_id: str
    broker: BrokerType
    label: str
    account_id: str
    currency: str
    amount: Decimal
    converted: Decimal | None
    rate: FxRate | None
    as_of: datetime
    source: DataSource


@dataclass(frozen=True, slots=True)
class PortfolioValue:
    """``total`` (in ``base_currency``) of the converted lines; ``unconverted`` lines and
    ``errors`` (connections that did not answer) are *not* in it: check ``complete``."""

    base_currency: str
    total: Decimal
    lines: tuple[ValueLine, ...]
    errors: Mapping[str, BrokerError] = field(default_factory=dict)
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "errors", MappingProxyType(dict(self.errors)))

    @property
    def unconverted(self) -> tuple[ValueLine, ...]:
        return tuple(line for line in self.lines if line.converted is None)

    @property
    def rate_sources(self) -> tuple[str, ...]:
        """Every rate source the total relies on (``identity`` for base-currency lines)."""
        return tuple(dict.fromkeys(line.rate.source for line in self.lines if line.rate))

    @property
    def complete(self) -> bool:
        """True when every connection answered and every amount was converted."""
        return not self.errors and not self.unconverted


async def value_portfolio(balances: Aggregated[AccountBalances], fx: FxRates,
                          base_currency: str) -> PortfolioValue:
    """Convert each account's ``total_value`` to ``base_currency`` and add them up.

    Never raises for a missing rate: that line is unconverted. Failed connections are
    carried over from ``balances.errors``.
    """
    base = base_currency.upper()
    lines: list[ValueLine] = []
    total = Decimal(0)
    for item in balances.items:
        value = item.value
        rate = await fx.rate(value.currency, base)
        converted = rate.convert(value.total_value) if rate is not None else None
        if converted is not None:
            total += converted
        lines.append(ValueLine(item.connection_id, item.broker, item.label, value.account_id,
                               value.currency.upper(), value.total_value, converted, rate,
                               item.as_of, item.source))
    return PortfolioValue(base, total, tuple(lines), balances.errors, balances.as_of)

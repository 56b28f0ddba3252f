"""Reading many brokers as one: concurrent fan-out, partial results, consolidation.

``fan_out`` calls one operation on every connection at once, each bounded by its own
``asyncio.timeout``. One broker failing never hides the others: an ``Aggregated``
result holds what arrived (each item tagged with the connection it came from, when it
was read and how) and, per connection, the typed error of what did not. A timeout is
not "no data": it becomes a ``ReadTimeoutError`` for that connection.

``consolidate`` folds the same instrument held at several brokers into one line with a
per-account breakdown; amounts in different currencies are never added together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Generic, TypeVar, Unpack

from brokerlink.core.enums import AssetType, BrokerType, DataSource
from brokerlink.core.errors import BrokerError, BrokerUnavailableError, ErrorContext
from brokerlink.core.models import Position, ReadModel
from brokerlink.core.values import utc_now

logger = logging.getLogger("brokerlink.manager.aggregate")

T = TypeVar("T")
R = TypeVar("R")


class ReadTimeoutError(BrokerUnavailableError):
    """A read did not finish within the manager's per-connection timeout.

    Only used for reads, where giving up is safe (retryable): nothing was changed at
    the broker. ``timeout`` is the limit in seconds.
    """

    def __init__(self, message: str, *, timeout: float,
                 **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.timeout = timeout


class UnexpectedBrokerError(BrokerUnavailableError):
    """An adapter raised something other than a ``BrokerError`` (a bug in it).

    Reported for that connection only, so one faulty adapter cannot hide the others;
    the original exception is chained as ``__cause__`` and logged.
    """


@dataclass(frozen=True, slots=True)
class Target:
    """One connection to read from: who it is, for tagging what it returns."""

    connection_id: str
    broker: BrokerType
    label: str
    account_id: str | None


@dataclass(frozen=True, slots=True)
class Sourced(Generic[T]):
    """One value and where it came from: connection, broker, account, time and source."""

    connection_id: str
    broker: BrokerType
    label: str
    account_id: str | None
    value: T
    as_of: datetime
    source: DataSource


@dataclass(frozen=True, slots=True)
class Aggregated(Generic[T]):
    """What a fan-out returned: the items that arrived and the errors of what did not.

    ``errors`` maps a connection id to the typed error that connection raised (or a
    ``ReadTimeoutError``). ``as_of`` is when the fan-out finished; each item carries its
    own ``as_of`` and ``source``.
    """

    items: tuple[Sourced[T], ...]
    errors: Mapping[str, BrokerError]
    as_of: datetime
    connection_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Frozen all the way down: a read-only view over a private copy.
        object.__setattr__(self, "errors", MappingProxyType(dict(self.errors)))

    @property
    def values(self) -> list[T]:
        """The bare values, in connection order."""
        return [item.value for item in self.items]

    @property
    def complete(self) -> bool:
        """True when every connection answered."""
        return not self.errors

    def for_connection(self, connection_id: str) -> list[T]:
        """The values one connection returned (empty if it failed; see ``errors``)."""
        return [item.value for item in self.items if item.connection_id == connection_id]


def _stamp(value: object, read_at: datetime) -> tuple[datetime, DataSource]:
    if isinstance(value, ReadModel):
        return value.as_of, value.source
    return read_at, DataSource.LIVE


async def guarded(target: Target, call: Callable[[Target], Awaitable[R]],
                   seconds: float) -> R | BrokerError:
    """Run ``call`` for one target within ``seconds``; every failure (a timeout
    included) comes back as a typed ``BrokerError`` value instead of being raised."""
    context: ErrorContext = {"broker": target.broker.value,
                             "connection_id": target.connection_id}
    try:
        async with asyncio.timeout(seconds):
            return await call(target)
    except TimeoutError:
        return ReadTimeoutError(
            f"{target.label} did not answer within {seconds:g}s; its data is missing "
            "from this result, not empty. Retry later", timeout=seconds, **context)
    except BrokerError as exc:
        if exc.connection_id is None:
            exc.connection_id = target.connection_id
        return exc
    except Exception as exc:
        logger.exception("unexpected error from connection %s", target.connection_id)
        error = UnexpectedBrokerError(
            f"{target.label} failed unexpectedly ({type(exc).__name__}); report this bug",
            **context)
        error.__cause__ = exc
        return error


async def fan_out(targets: Sequence[Target], call: Callable[[Target], Awaitable[list[T]]], *,
                  seconds: float) -> Aggregated[T]:
    """Run ``call`` on every target concurrently, each bounded by ``seconds``.

    Never raises for a broker's failure: each becomes an entry of ``errors``. Items keep
    the targets' order. Cancelling the caller cancels every call.
    """
    results = await asyncio.gather(*(guarded(t, call, seconds) for t in targets))
    items: list[Sourced[T]] = []
    errors: dict[str, BrokerError] = {}
    for target, result in zip(targets, results, strict=True):
        if isinstance(result, BrokerError):
            errors[target.connection_id] = result
            continue
        read_at = utc_now()
        for value in result:
            as_of, source = _stamp(value, read_at)
            items.append(Sourced(target.connection_id, target.broker, target.label,
                                 target.account_id, value, as_of, source))
    return Aggregated(tuple(items), errors, utc_now(),
                      tuple(t.connection_id for t in targets))


# --- consolidation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsolidatedPosition:
    """One instrument across every account that holds it, in one currency.

    Totals are ``None`` when any holding lacks the figure (unknown is not zero).
    ``as_of`` is the oldest holding's: the line is no fresher than its stalest part.
    """

    symbol: str
    asset_type: AssetType
    currency: str
    quantity: Decimal
    market_value: Decimal | None
    cost_basis: Decimal
    unrealized_pnl: Decimal | None
    holdings: tuple[Sourced[Position], ...]
    as_of: datetime

    @property
    def average_cost(self) -> Decimal | None:
        """Cost basis per unit over all holdings (``None`` for a flat line)."""
        if not self.quantity:
            return None
        multiplier = Decimal(100) if self.asset_type is AssetType.OPTION else Decimal(1)
        return self.cost_basis / (self.quantity * multiplier)

    @property
    def brokers(self) -> tuple[BrokerType, ...]:
        return tuple(dict.fromkeys(h.broker for h in self.holdings))


@dataclass(frozen=True, slots=True)
class ConsolidatedView:
    """Positions folded by instrument, plus the errors of connections that did not answer."""

    lines: tuple[ConsolidatedPosition, ...]
    errors: Mapping[str, BrokerError] = field(default_factory=dict)
    as_of: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "errors", MappingProxyType(dict(self.errors)))

    @property
    def complete(self) -> bool:
        return not self.errors


def _sum_known(values: Iterable[Decimal | None]) -> Decimal | None:
    total = Decimal(0)
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _instrument_key(position: Position) -> tuple[str, AssetType, str]:
    # ETF and equity are the same share wherever it is held; brokers disagree on the label.
    asset = AssetType.EQUITY if position.asset_type is AssetType.ETF else position.asset_type
    return position.symbol.upper(), asset, position.currency.upper()


def consolidate(positions: Aggregated[Position]) -> ConsolidatedView:
    """Fold ``positions`` into one line per (symbol, asset type, currency).

    The same symbol in two currencies stays two lines: adding them would need a rate.
    Lines are sorted by symbol; each keeps its per-account breakdown.
    """
    groups: dict[tuple[str, AssetType, str], list[Sourced[Position]]] = {}
    for item in positions.items:
        groups.setdefault(_instrument_key(item.value), []).append(item)
    lines = []
    for (symbol, _, currency), holdings in sorted(groups.items(),
                                                  key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        first = holdings[0].value
        lines.append(ConsolidatedPosition(
            symbol=symbol, asset_type=first.asset_type, currency=currency,
            quantity=sum((h.value.quantity for h in holdings), Decimal(0)),
            market_value=_sum_known(h.value.market_value for h in holdings),
            cost_basis=sum((h.value.cost_basis for h in holdings), Decimal(0)),
            unrealized_pnl=_sum_known(h.value.unrealized_pnl for h in holdings),
            holdings=tuple(holdings), as_of=min(h.as_of for h in holdings)))
    return ConsolidatedView(tuple(lines), positions.errors, positions.as_of)

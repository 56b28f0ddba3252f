"""Best execution: which connection should take an order, and why.

``rank`` is pure: given what the manager read from each connection (capabilities,
health, balances, holdings, quote) it returns an ``ExecutionPlan`` whose every
candidate carries the reasons for its place. The rules, in order:

1. **Exclusions.** A connection needing re-authentication or disconnected; one whose
   capabilities refuse the order (``Capabilities.check_order``: asset, order type, time
   in force, fractional, short, extended hours); a buy that its buying power does not
   cover (or whose buying power could not be read); a sell or cover of more than it
   holds (or whose holdings could not be read).
2. **Penalties.** A degraded connection (recent transient errors) or one without a
   usable quote stays eligible but ranks after every healthy, quoted one.
3. **Price.** Among equals, the best net price per unit wins: for a buy the lowest
   ``ask + commission / quantity``, for a sell the highest ``bid - commission /
   quantity``. Ties keep the connections' stored order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Unpack

from brokerlink.core.capabilities import Capabilities
from brokerlink.core.enums import AssetType, BrokerType, OrderSide, OrderType
from brokerlink.core.errors import BrokerError, ErrorContext, NotSupportedError
from brokerlink.core.models import AccountBalances, OrderRequest, Quote
from brokerlink.core.values import utc_now
from brokerlink.manager.commissions import CommissionSchedule
from brokerlink.storage.records import ConnectionStatus

_HUNDRED = Decimal(100)
_CLOSING_LONG = frozenset({OrderSide.SELL, OrderSide.SELL_TO_CLOSE})
_CLOSING_SHORT = frozenset({OrderSide.BUY_TO_COVER, OrderSide.BUY_TO_CLOSE})


@dataclass(frozen=True, slots=True)
class RouteInput:
    """What the manager read from one connection for one order. ``None`` with an error
    means the read failed; ``held_quantity`` is the signed position in the order's
    instrument (0 when not held)."""

    connection_id: str
    broker: BrokerType
    label: str
    account_id: str | None
    capabilities: Capabilities | None
    status: ConnectionStatus
    balances: AccountBalances | None = None
    balances_error: BrokerError | None = None
    quote: Quote | None = None
    quote_error: BrokerError | None = None
    held_quantity: Decimal | None = None
    positions_error: BrokerError | None = None


@dataclass(frozen=True, slots=True)
class RouteCandidate:
    """One connection's place in the ranking. ``rank`` is 1 for the choice and ``None``
    for an excluded connection; ``reasons`` say why, in plain words."""

    connection_id: str
    broker: BrokerType
    label: str
    account_id: str | None
    eligible: bool
    penalised: bool
    rank: int | None
    reasons: tuple[str, ...]
    status: ConnectionStatus
    price: Decimal | None
    commission: Decimal
    net_price: Decimal | None
    buying_power: Decimal | None
    quote_as_of: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (decimals and times as strings), for the audit log and ``--json``."""
        def text(value: object) -> str | None:
            return None if value is None else str(value)
        return {"connection_id": self.connection_id, "broker": self.broker.value,
                "label": self.label, "account_id": self.account_id,
                "eligible": self.eligible, "penalised": self.penalised, "rank": self.rank,
                "status": self.status.value, "price": text(self.price),
                "commission": str(self.commission), "net_price": text(self.net_price),
                "buying_power": text(self.buying_power),
                "quote_as_of": self.quote_as_of.isoformat() if self.quote_as_of else None,
                "reasons": list(self.reasons)}


class NoEligibleBrokerError(NotSupportedError):
    """No connection can take this order; ``plan`` says why each was excluded."""

    def __init__(self, message: str, *, plan: ExecutionPlan,
                 **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.plan = plan


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """The ranking for one order: ``chosen`` (``None`` if nothing is eligible) and every
    candidate, eligible ones first by rank, then the excluded."""

    order: OrderRequest
    chosen: RouteCandidate | None
    ranked: tuple[RouteCandidate, ...]
    as_of: datetime

    def require(self) -> RouteCandidate:
        """The chosen candidate. Raises ``NoEligibleBrokerError`` listing each exclusion."""
        if self.chosen is None:
            why = "; ".join(f"{c.label}: {', '.join(c.reasons)}" for c in self.ranked)
            raise NoEligibleBrokerError(
                f"no connection can take this {self.order.side.value} order for "
                f"{self.order.instrument_symbol}: {why or 'no connections'}", plan=self)
        return self.chosen

    def as_dict(self) -> dict[str, Any]:
        order = self.order
        return {"order": {"symbol": order.instrument_symbol, "side": order.side.value,
                          "quantity": str(order.quantity), "order_type": order.order_type.value,
                          "time_in_force": order.time_in_force.value,
                          "limit_price": None if order.limit_price is None
                          else str(order.limit_price)},
                "chosen": self.chosen.connection_id if self.chosen else None,
                "as_of": self.as_of.isoformat(),
                "candidates": [c.as_dict() for c in self.ranked]}


def quoted_price(quote: Quote, side: OrderSide) -> Decimal | None:
    """The price the order would meet: the ask for a buy, the bid for a sell (the last
    trade when that side is empty)."""
    best = quote.ask if side.is_buy else quote.bid
    return best if best is not None else quote.last


def needs_holding(side: OrderSide) -> bool:
    """Whether an order on ``side`` closes a position (so the holding must cover it)."""
    return side in _CLOSING_LONG or side in _CLOSING_SHORT


def _units(order: OrderRequest) -> Decimal:
    multiplier = _HUNDRED if order.asset_type is AssetType.OPTION else Decimal(1)
    return order.quantity * multiplier


def _worst_price(order: OrderRequest, quoted: Decimal | None) -> Decimal | None:
    """The price buying power must cover: a limit caps it; otherwise the quote."""
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return order.limit_price
    if order.order_type is OrderType.STOP and order.stop_price is not None and quoted:
        return max(order.stop_price, quoted)
    return quoted


@dataclass(slots=True)
class _Draft:
    source: RouteInput
    reasons: list[str]
    excluded: bool = False
    penalised: bool = False
    price: Decimal | None = None
    net_price: Decimal | None = None
    commission: Decimal = Decimal(0)

    def exclude(self, reason: str) -> None:
        self.excluded = True
        self.reasons.append(reason)

    def penalise(self, reason: str) -> None:
        self.penalised = True
        self.reasons.append(reason)


def _assess(order: OrderRequest, item: RouteInput, schedule: CommissionSchedule) -> _Draft:
    draft = _Draft(item, [])
    if item.status is ConnectionStatus.REAUTH_REQUIRED:
        draft.exclude("needs re-authentication: sign in again")
    elif item.status is ConnectionStatus.DISCONNECTED:
        draft.exclude("disconnected")
    elif item.status is ConnectionStatus.DEGRADED:
        draft.penalise("connection degraded by recent errors")
    if item.capabilities is None:
        draft.exclude("capabilities unknown (the connection could not be opened)")
    else:
        try:
            item.capabilities.check_order(order, broker=item.broker.value)
        except NotSupportedError as exc:
            draft.exclude(f"cannot take it: {exc.message}")
    draft.commission = schedule.estimate(item.broker, order, item.connection_id)
    _assess_quote(order, item, draft)
    _assess_funds(order, item, draft)
    _assess_holding(order, item, draft)
    return draft


def _assess_quote(order: OrderRequest, item: RouteInput, draft: _Draft) -> None:
    units = _units(order)
    if item.quote is None:
        error = type(item.quote_error).__name__ if item.quote_error else "none returned"
        draft.penalise(f"no quote ({error})")
        return
    draft.price = quoted_price(item.quote, order.side)
    if draft.price is None:
        draft.penalise("quote has no price for this side")
        return
    per_unit_fee = draft.commission / units
    draft.net_price = (draft.price + per_unit_fee if order.side.is_buy
                       else draft.price - per_unit_fee)
    side = "ask" if order.side.is_buy else "bid"
    draft.reasons.append(f"{side} {draft.price} + commission {draft.commission} "
                         f"= net {draft.net_price.normalize():f} per unit"
                         if order.side.is_buy else
                         f"{side} {draft.price} - commission {draft.commission} "
                         f"= net {draft.net_price.normalize():f} per unit")


def _assess_funds(order: OrderRequest, item: RouteInput, draft: _Draft) -> None:
    if not order.side.is_buy:
        return
    if item.balances is None:
        error = type(item.balances_error).__name__ if item.balances_error else "unknown"
        draft.exclude(f"buying power unknown ({error})")
        return
    worst = _worst_price(order, draft.price)
    power = item.balances.buying_power
    if worst is None:
        draft.penalise(f"buying power {power} not checked: no price to check it against")
        return
    required = worst * _units(order) + draft.commission
    if power < required:
        draft.exclude(f"buying power {power} is below the {required} this order needs")
    else:
        draft.reasons.append(f"buying power {power} covers {required}")


def _assess_holding(order: OrderRequest, item: RouteInput, draft: _Draft) -> None:
    closing_long = order.side in _CLOSING_LONG
    closing_short = order.side in _CLOSING_SHORT
    if not (closing_long or closing_short):
        return
    if item.held_quantity is None:
        error = type(item.positions_error).__name__ if item.positions_error else "unknown"
        draft.exclude(f"holding unknown ({error})")
        return
    held = item.held_quantity if closing_long else -item.held_quantity
    if held < order.quantity:
        draft.exclude(f"holds {max(held, Decimal(0))}, fewer than the {order.quantity} "
                      "to close")
    else:
        draft.reasons.append(f"holds {held}")


def rank(order: OrderRequest, inputs: Sequence[RouteInput],
         schedule: CommissionSchedule) -> ExecutionPlan:
    """Rank ``inputs`` for ``order`` (see the module docstring). Never raises for a
    connection's problem: it becomes that candidate's exclusion reason."""
    drafts = [_assess(order, item, schedule) for item in inputs]
    eligible = [d for d in drafts if not d.excluded]
    excluded = [d for d in drafts if d.excluded]

    def price_key(d: _Draft) -> Decimal:
        if d.net_price is None:
            return Decimal(0)
        return d.net_price if order.side.is_buy else -d.net_price

    # Stable sort: equal keys keep the connections' stored order.
    eligible.sort(key=lambda d: (d.penalised, d.net_price is None, price_key(d)))
    best = eligible[0] if eligible else None
    candidates: list[RouteCandidate] = []
    for position, draft in enumerate(eligible, start=1):
        if draft is best:
            draft.reasons.insert(0, "chosen: best net price among healthy, quoted "
                                 "connections" if not draft.penalised
                                 else "chosen: the only eligible kind left (penalised)")
        elif (best is not None and best.net_price is not None
              and draft.net_price is not None and draft.net_price == best.net_price):
            draft.reasons.insert(0, f"ranked {position}: same net price as the choice; ties "
                                 "keep the connections' stored order")
        elif best is not None and best.net_price is not None and draft.net_price is not None:
            draft.reasons.insert(0, f"ranked {position}: net {draft.net_price.normalize():f}"
                                 f" vs best {best.net_price.normalize():f}")
        else:
            draft.reasons.insert(0, f"ranked {position}")
        candidates.append(_candidate(draft, position))
    candidates.extend(_candidate(draft, None) for draft in excluded)
    chosen = candidates[0] if best is not None else None
    return ExecutionPlan(order, chosen, tuple(candidates), utc_now())


def _candidate(draft: _Draft, position: int | None) -> RouteCandidate:
    item = draft.source
    return RouteCandidate(
        connection_id=item.connection_id, broker=item.broker, label=item.label,
        account_id=item.account_id, eligible=not draft.excluded, penalised=draft.penalised,
        rank=position, reasons=tuple(draft.reasons), status=item.status, price=draft.price,
        commission=draft.commission, net_price=draft.net_price,
        buying_power=item.balances.buying_power if item.balances else None,
        quote_as_of=item.quote.as_of if item.quote else None)

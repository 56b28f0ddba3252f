"""A connection's local state, fresh reads of it, and the differences between the two.

Only *material* fields are compared (a position's quantity and average cost; cash,
cash available and buying power; an order's status, quantities and prices): market
values move with every tick, and publishing each tick as a change would drown the
changes that matter. The fresh values are still kept locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from brokerlink.core.enums import AssetType, OrderStatus
from brokerlink.core.models import AccountBalances, Order, Position
from brokerlink.core.symbols import OptionContract, format_occ
from brokerlink.manager.sync_events import DriftRepair, Payload, SyncEventKind

ZERO = Decimal(0)


class SyncMode(StrEnum):
    """How a connection is kept current right now."""

    STARTING = "starting"
    STREAM = "stream"
    """The stream is up; a periodic reconcile catches what it misses."""
    POLLING = "polling"
    """No stream, or it is down: full reads at the rate-limited poll interval."""
    RECONCILE_ONLY = "reconcile_only"
    """No stream and polling switched off: only the periodic reconcile reads."""
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One full read of a connection. ``orders`` holds every order the broker listed
    (open and recently closed); ``read_started`` is when the first request was sent."""

    positions: Mapping[str, Position]
    balances: AccountBalances
    orders: Mapping[str, Order]
    read_started: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """A material difference found by a full read: the event to publish and, when the
    local state already held a different value, the drift it represents."""

    kind: SyncEventKind
    payload: Payload
    drift: DriftRepair | None
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class SyncedState:
    """A read-only copy of one connection's local state."""

    connection_id: str
    mode: SyncMode
    positions: Mapping[str, Position]
    balances: AccountBalances | None
    open_orders: Mapping[str, Order]
    as_of: datetime | None
    repairs: int
    stream_reconnects: int
    reads: int


@dataclass
class LocalState:
    """The mutable local state of one connection (owned by its sync loop)."""

    connection_id: str
    positions: dict[str, Position] = field(default_factory=dict)
    balances: AccountBalances | None = None
    open_orders: dict[str, Order] = field(default_factory=dict)
    mode: SyncMode = SyncMode.STARTING
    as_of: datetime | None = None
    repairs: int = 0
    stream_reconnects: int = 0
    reads: int = 0
    reflected: dict[str, Decimal] = field(default_factory=dict)
    """Per order id, the filled quantity the local positions already include (from a
    read, or from stream fills applied): a stream fill is applied only beyond it."""
    closed: dict[str, str] = field(default_factory=dict)
    """Per order id, the last closed state seen (from a read or the stream), for the
    orders the broker still lists: a closed order is published once, even one never
    seen open (its opening and its fill both missed by the stream)."""
    touched: dict[str, datetime] = field(default_factory=dict)
    """Wall time of the last stream change per key (``pos:SYM``, ``ord:ID``, ``bal``): a
    read sent before it is older than the local value, so it must not overwrite it."""

    def touch(self, key: str, at: datetime) -> None:
        self.touched[key] = at

    def _newer_locally(self, key: str, fresh: Snapshot) -> bool:
        at = self.touched.get(key)
        return at is not None and at > fresh.read_started

    def view(self) -> SyncedState:
        return SyncedState(self.connection_id, self.mode, MappingProxyType(dict(self.positions)),
                           self.balances, MappingProxyType(dict(self.open_orders)),
                           self.as_of, self.repairs, self.stream_reconnects, self.reads)

    def diff(self, fresh: Snapshot) -> list[Change]:
        """The material differences between this state and ``fresh`` (nothing changes)."""
        changes: list[Change] = []
        for symbol in sorted(set(self.positions) | set(fresh.positions)):
            if self._newer_locally(f"pos:{symbol}", fresh):
                continue
            local = self.positions.get(symbol)
            found = fresh.positions.get(symbol)
            if found is None and local is not None and local.quantity != 0:
                changes.append(Change(SyncEventKind.POSITION, flat(local, fresh.read_started),
                                      _drift("position", symbol, _pos(local), None), symbol))
            elif found is not None and (local is None or _pos(local) != _pos(found)):
                if local is None and found.quantity == 0:
                    continue
                drift = _drift("position", symbol, _pos(local) if local else None,
                               _pos(found))
                changes.append(Change(SyncEventKind.POSITION, found, drift, symbol))
        if not self._newer_locally("bal", fresh) and (
                self.balances is None or _bal(self.balances) != _bal(fresh.balances)):
            changes.append(Change(SyncEventKind.BALANCE, fresh.balances, _drift(
                "balance", "cash/buying_power",
                _bal(self.balances) if self.balances else None, _bal(fresh.balances))))
        for order_id, order in fresh.orders.items():
            if self._newer_locally(f"ord:{order_id}", fresh):
                continue
            local_order = self.open_orders.get(order_id)
            if local_order is None:
                seen = self.closed.get(order_id)
                if seen is None or (order.is_open or seen != _ord(order)):
                    changes.append(Change(SyncEventKind.ORDER, order,
                                          _drift("order", order_id, seen, _ord(order))))
            elif _ord(local_order) != _ord(order):
                changes.append(Change(SyncEventKind.ORDER, order, _drift(
                    "order", order_id, _ord(local_order), _ord(order))))
        return changes

    def replace(self, fresh: Snapshot) -> None:
        """Adopt ``fresh`` as the local state (flat positions are dropped)."""
        positions = {s: p for s, p in fresh.positions.items() if p.quantity != 0}
        for symbol in set(self.positions) | set(fresh.positions):
            if self._newer_locally(f"pos:{symbol}", fresh):
                if symbol in self.positions:
                    positions[symbol] = self.positions[symbol]
                else:
                    positions.pop(symbol, None)
        self.positions = positions
        if not self._newer_locally("bal", fresh):
            self.balances = fresh.balances
        known = {i: o for i, o in fresh.orders.items()
                 if not self._newer_locally(f"ord:{i}", fresh)}
        for order_id, order in known.items():
            self.reflected[order_id] = max(order.filled_quantity,
                                           self.reflected.get(order_id, ZERO))
        # An open order the read did not list (a page limit, a broker that lists only the
        # day's orders) is kept: only the broker saying it closed removes it.
        for order_id, order in self.open_orders.items():
            known.setdefault(order_id, order)
        self.open_orders = {i: o for i, o in known.items() if o.is_open}
        # Orders the broker no longer lists are forgotten: they cannot come back.
        closed = {i: seen for i, seen in self.closed.items()
                  if i in fresh.orders and self._newer_locally(f"ord:{i}", fresh)}
        closed.update((i, _ord(o)) for i, o in known.items() if not o.is_open)
        self.closed = closed
        self.as_of = fresh.read_started

    def apply_order(self, order: Order) -> Order | None:
        """Record ``order``'s new state; returns the state it had before (if known)."""
        before = self.open_orders.get(order.order_id)
        if order.is_open or order.status is OrderStatus.UNKNOWN:
            self.open_orders[order.order_id] = order
            self.closed.pop(order.order_id, None)
        else:
            self.open_orders.pop(order.order_id, None)
            self.closed[order.order_id] = _ord(order)
        return before


def instrument_symbol(order: Order) -> str:
    """The symbol a position in ``order``'s instrument is listed under (OCC for options)."""
    if order.asset_type is AssetType.OPTION and order.option_type is not None \
            and order.strike is not None and order.expiration is not None:
        return format_occ(OptionContract(order.symbol, order.expiration, order.option_type,
                                         order.strike))
    return order.symbol


def position_after_fill(before: Position | None, order: Order, *, fill_quantity: Decimal,
                        fill_price: Decimal | None, position_quantity: Decimal | None,
                        as_of: datetime) -> Position:
    """The position right after a fill, from the stream's facts alone (no I/O).

    The quantity is the broker's ``position_quantity`` when sent, else the previous one
    plus (buy) or minus (sell) the fill. The average cost is re-weighted when the
    position grows and kept when it shrinks; a follow-up read replaces the estimate.
    """
    held = before.quantity if before is not None else ZERO
    signed = fill_quantity if order.side.is_buy else -fill_quantity
    quantity = position_quantity if position_quantity is not None else held + signed
    price = fill_price or order.average_fill_price or (before.average_cost if before else ZERO)
    old_cost = before.average_cost if before is not None else price
    if held == 0 or (held > 0) != (quantity > 0):
        average = price
    elif abs(quantity) > abs(held):
        average = (old_cost * abs(held) + price * (abs(quantity) - abs(held))) / abs(quantity)
    else:
        average = old_cost
    symbol = instrument_symbol(order)
    if before is not None:
        return before.model_copy(update={"quantity": quantity, "quantity_available": quantity,
                                         "average_cost": average, "as_of": as_of})
    return Position(account_id=order.account_id, symbol=symbol, asset_type=order.asset_type,
                    quantity=quantity, quantity_available=quantity, average_cost=average,
                    current_price=fill_price, option_type=order.option_type,
                    strike=order.strike, expiration=order.expiration,
                    underlying=order.symbol if order.asset_type is AssetType.OPTION else None,
                    as_of=as_of)


def flat(position: Position, as_of: datetime) -> Position:
    """``position`` closed out: quantity zero."""
    return position.model_copy(update={"quantity": ZERO, "quantity_available": ZERO,
                                       "market_value": ZERO, "as_of": as_of})


def _pos(position: Position) -> str:
    return f"{position.quantity.normalize():f} @ {position.average_cost.normalize():f}"


def _bal(balances: AccountBalances) -> str:
    return (f"cash={balances.cash.normalize():f} available="
            f"{balances.cash_available.normalize():f} "
            f"buying_power={balances.buying_power.normalize():f}")


def _ord(order: Order) -> str:
    return (f"{order.status.value} {order.filled_quantity.normalize():f}/"
            f"{order.quantity.normalize():f} limit={order.limit_price} stop={order.stop_price}")


def _drift(area: str, key: str, local: str | None, broker: str | None) -> DriftRepair:
    return DriftRepair(area=area, key=key, local=local, broker=broker)


__all__ = ["Change", "LocalState", "Snapshot", "SyncMode", "SyncedState", "flat",
           "instrument_symbol", "position_after_fill"]

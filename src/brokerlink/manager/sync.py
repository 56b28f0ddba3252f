"""``SyncEngine``: keeps every connection's positions, balances and open orders current.

Per connection, three sources, each with a job:

* **the stream** (Alpaca ``trade_updates``, Tradier account events, paper engine
  events), when the broker has one: each order update is applied at once; a fill moves
  the local position from the event's own figures (no request in the way), then a
  follow-up full read (coalesced, at most one per poll interval) brings exact average
  costs and balances, which the stream does not carry.
* **polling**, when there is no stream or while it is down: a full read (positions,
  balances, orders) every poll interval, which follows from the broker's documented
  rate limit (``ReadBudget``: half of it by default, the rest stays for trading). When
  the stream drops the poller wakes at once; when it is back, one catch-up read picks
  up whatever it did not replay, and polling stops.
* **the reconcile**: every ``reconcile_interval`` (while the stream is up, or when only
  the reconcile runs) a full read compared with local state. Every material difference
  is drift: repaired (local state takes the broker's value), counted, and published as
  a ``drift_repaired`` event next to the repaired value.

A read never overwrites a value the stream changed after the read was sent (see
``LocalState.touched``), so a slow read cannot undo a fast fill or pass for drift.

Every change is published as a frozen ``SyncEvent`` (``subscribe``). Fill-to-position
latency is measured by ``LatencyTracker`` (wall time; see ``manager.latency``).
Read errors never stop a connection's sync: they are logged and the read is retried on
the next tick (after ``retry_after`` for a rate limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self

from brokerlink.core.errors import BrokerError, RateLimitError
from brokerlink.core.events import OrderUpdate, OrderUpdateStream
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.values import utc_now
from brokerlink.manager.latency import LatencyTracker, SyncSource
from brokerlink.manager.sync_events import (
    EventBus,
    Payload,
    StreamNotice,
    SyncEvent,
    SyncEventKind,
    SyncSubscription,
)
from brokerlink.manager.sync_sources import (
    MIN_POLL_INTERVAL,
    ReadBudget,
    budget_for,
    open_stream,
)
from brokerlink.manager.sync_state import (
    LocalState,
    Snapshot,
    SyncedState,
    SyncMode,
    instrument_symbol,
    position_after_fill,
)

logger = logging.getLogger("brokerlink.manager.sync")

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """How one connection is kept current.

    ``stream``: use the broker's stream when it has one. ``poll``: poll when there is
    no stream or it is down (off: only the reconcile reads). ``poll_interval``: seconds
    between polls; ``None`` derives it from the read budget. ``reconcile_interval``:
    seconds between reconciles (``None``: never). ``budget_share``: the share of the
    broker's documented rate limit the sync may use. ``stream_retry_max``: longest
    wait (seconds) before reopening a stream that failed.
    """

    stream: bool = True
    poll: bool = True
    poll_interval: float | None = None
    reconcile_interval: float | None = 60.0
    budget_share: float = 0.5
    stream_retry_max: float = 30.0

    def __post_init__(self) -> None:
        for name in ("poll_interval", "reconcile_interval"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """A connection handed to the sync engine: its id, its (connected) broker, and
    optionally its own policy and read budget (default: the engine's policy and the
    broker's documented limits)."""

    connection_id: str
    broker: BrokerInterface
    policy: SyncPolicy | None = None
    budget: ReadBudget | None = None


class SyncTargetSource(Protocol):
    """What the ``BrokerManager`` implements to hand its connections to the sync."""

    def sync_targets(self) -> Iterable[SyncTarget]:
        """Every connection to keep current, with its connected broker."""
        ...


class _ConnectionSync:
    """The sync loops of one connection (see the module docstring)."""

    def __init__(self, target: SyncTarget, policy: SyncPolicy, bus: EventBus,
                 latency: LatencyTracker) -> None:
        self.connection_id = target.connection_id
        self.broker = target.broker
        self.policy = policy
        self.state = LocalState(target.connection_id)
        budget = target.budget or budget_for(target.broker, policy.budget_share)
        self.poll_interval = policy.poll_interval or (
            budget.poll_interval() if budget is not None else MIN_POLL_INTERVAL)
        self._bus = bus
        self._latency = latency
        self._stream_up = False
        self._wake_poller = asyncio.Event()
        self._refresh = asyncio.Event()
        self._read_lock = asyncio.Lock()
        self._read_done = asyncio.Condition()
        self._executions: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.stream: OrderUpdateStream | None = None

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Read everything once (errors are logged; the poller retries), then start the
        loops."""
        await self.guarded_read(SyncSource.POLL)
        self.state.mode = SyncMode.POLLING if self.policy.poll else SyncMode.RECONCILE_ONLY
        name = self.connection_id
        if self.policy.stream:
            self._tasks.append(asyncio.create_task(self._stream_loop(), name=f"sync-stream-{name}"))
        if self.policy.poll:
            self._tasks.append(asyncio.create_task(self._poll_loop(), name=f"sync-poll-{name}"))
        if self.policy.reconcile_interval is not None:
            self._tasks.append(asyncio.create_task(self._reconcile_loop(),
                                                   name=f"sync-reconcile-{name}"))
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name=f"sync-refresh-{name}"))

    async def stop(self) -> None:
        """Cancel the loops and close the stream; idempotent."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.state.mode = SyncMode.STOPPED

    # --- publishing ---------------------------------------------------------------

    def _publish(self, kind: SyncEventKind, payload: Payload, source: SyncSource,
                 latency: float | None = None) -> None:
        self._bus.publish(SyncEvent(kind=kind, connection_id=self.connection_id,
                                    payload=payload, source=source, latency=latency))

    # --- full reads -----------------------------------------------------------------

    async def read(self, source: SyncSource) -> int:
        """One full read, applied: returns how many changes it found. Raises the
        broker's ``BrokerError``; local state is untouched then."""
        async with self._read_lock:
            if source is SyncSource.RECONCILE and self._refresh.is_set():
                # A follow-up read is due (a fill's exact cost, a catch-up after a
                # reconnection): the state is known to be in flux, so what this read
                # finds is that follow-up, not drift. It serves as the follow-up too.
                self._refresh.clear()
                source = SyncSource.POLL
            started = utc_now()
            positions, balances, orders = await asyncio.gather(
                self.broker.get_positions(), self.broker.get_balances(),
                self.broker.get_orders())
            fresh = Snapshot({p.symbol: p for p in positions}, balances,
                             {o.order_id: o for o in orders}, started)
            initial = self.state.as_of is None
            changes = self.state.diff(fresh)
            self.state.replace(fresh)
            for change in changes:
                latency: float | None = None
                if change.symbol is not None:
                    samples = self._latency.observe(self.connection_id, change.symbol,
                                                    source=source, read_started=started)
                    latency = max(samples) if samples else None
                self._publish(change.kind, change.payload, source, latency)
                if source is SyncSource.RECONCILE and change.drift is not None \
                        and not initial:
                    self.state.repairs += 1
                    self._publish(SyncEventKind.DRIFT_REPAIRED, change.drift, source)
            self.state.reads += 1
        async with self._read_done:
            self._read_done.notify_all()
        return len(changes)

    def _idle(self) -> bool:
        return not self._refresh.is_set() and not self._read_lock.locked()

    async def settled(self) -> None:
        """Return once no read is running or queued (a catch-up or follow-up read)."""
        async with self._read_done:
            await self._read_done.wait_for(self._idle)

    async def guarded_read(self, source: SyncSource) -> float:
        """``read``, logging a failure; returns how long to wait before the next one."""
        try:
            await self.read(source)
        except RateLimitError as exc:
            logger.warning("sync %s: rate limited; waiting", self.connection_id)
            return max(self.poll_interval, exc.retry_after or 0.0)
        except BrokerError as exc:
            logger.warning("sync %s: %s read failed: %s", self.connection_id, source.value,
                           type(exc).__name__)
            return self.poll_interval * 2
        return self.poll_interval

    async def _poll_loop(self) -> None:
        while True:
            wait = self.poll_interval
            if not self._stream_up:
                wait = await self.guarded_read(SyncSource.POLL)
            # Sleeping on an event, not a plain timer: a stream drop wakes the poller
            # at once, so the fallback starts without waiting out an interval.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_poller.wait(), wait)
            self._wake_poller.clear()

    async def _reconcile_loop(self) -> None:
        assert self.policy.reconcile_interval is not None  # noqa: S101  (start checked)
        while True:
            await asyncio.sleep(self.policy.reconcile_interval)
            # While polling, every poll is already a full read compared with local state.
            if self._stream_up or not self.policy.poll:
                await self.guarded_read(SyncSource.RECONCILE)

    async def _refresh_loop(self) -> None:
        """Follow-up reads after stream fills and catch-up reads after reconnections,
        coalesced to at most one per poll interval (they spend the same budget)."""
        while True:
            await self._refresh.wait()
            self._refresh.clear()
            wait = await self.guarded_read(SyncSource.POLL)
            await asyncio.sleep(wait)

    # --- the stream ---------------------------------------------------------------

    async def _stream_loop(self) -> None:
        delay = 0.5
        while True:
            reason = "stream ended"
            try:
                stream = open_stream(self.broker)
            except BrokerError as exc:
                stream, reason = None, f"cannot open the stream: {type(exc).__name__}"
            if stream is None and reason == "stream ended":
                logger.info("sync %s: the broker has no stream; polling", self.connection_id)
                return
            if stream is not None:
                self.stream = stream
                stream.on_status(self._on_stream_status)
                try:
                    async with stream:
                        async for update in stream:
                            self.apply_update(update)
                            delay = 0.5
                except BrokerError as exc:
                    reason = f"{type(exc).__name__}: {exc.message}"
                finally:
                    stream.on_status(None)
            if reason != "stream ended":
                logger.warning("sync %s: stream unavailable (%s); polling, retrying in %.1fs",
                               self.connection_id, reason, delay)
            self._on_stream_status(False, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.policy.stream_retry_max)

    def _on_stream_status(self, up: bool, reason: str | None = None) -> None:
        """The stream's status listener: switch between stream and polling, publish."""
        reconnects = self.stream.reconnects if self.stream is not None else 0
        self.state.stream_reconnects = reconnects
        if up and not self._stream_up:
            self._stream_up = True
            self.state.mode = SyncMode.STREAM
            self._publish(SyncEventKind.STREAM_UP, StreamNotice(
                reason=reason or "subscribed", reconnects=reconnects), SyncSource.STREAM)
            # A stream does not replay what it missed: catch up with one full read.
            self._refresh.set()
        elif not up and self._stream_up:
            self._stream_up = False
            self.state.mode = SyncMode.POLLING if self.policy.poll else SyncMode.RECONCILE_ONLY
            self._publish(SyncEventKind.STREAM_DOWN, StreamNotice(
                reason=reason or "connection dropped", reconnects=reconnects),
                SyncSource.STREAM)
            self._wake_poller.set()

    def apply_update(self, update: OrderUpdate) -> None:
        """Apply one stream update to local state and publish what changed."""
        now = utc_now()
        order = update.order
        self.state.touch(f"ord:{order.order_id}", now)
        before = self.state.apply_order(order)
        self._publish(SyncEventKind.ORDER, order, SyncSource.STREAM)
        quantity = self._fill_quantity(update, before.filled_quantity if before else None)
        if quantity is None:
            return
        reflected = self.state.reflected.get(order.order_id)
        self.state.reflected[order.order_id] = max(order.filled_quantity, reflected or ZERO)
        if reflected is not None and update.position_quantity is None:
            # A read already brought part (or all) of this fill into the positions.
            quantity = min(quantity, order.filled_quantity - reflected)
            if quantity <= 0:
                self._refresh.set()
                return
        symbol = instrument_symbol(order)
        local = self.state.positions.get(symbol)
        if (update.position_quantity is not None and local is not None
                and local.quantity == update.position_quantity):
            # A read already brought the position this fill left (the broker says what
            # it is): nothing changed here, so there is nothing to publish.
            self._refresh.set()
            return
        position = position_after_fill(
            local, order, fill_quantity=quantity,
            fill_price=update.fill_price, position_quantity=update.position_quantity,
            as_of=now)
        if position.quantity == 0:
            self.state.positions.pop(symbol, None)
        else:
            self.state.positions[symbol] = position
        self.state.touch(f"pos:{symbol}", now)
        # Cash moved too, but the stream does not say by how much: the follow-up read
        # brings the balances; a read sent before now must not pass for drift.
        self.state.touch("bal", now)
        samples = self._latency.observe(self.connection_id, symbol, source=SyncSource.STREAM,
                                        broker_time=update.timestamp, now=utc_now())
        self._publish(SyncEventKind.POSITION, position, SyncSource.STREAM,
                      max(samples) if samples else None)
        self._refresh.set()

    def _fill_quantity(self, update: OrderUpdate, filled_before: Decimal | None,
                       ) -> Decimal | None:
        """The quantity this update filled, or None (no fill, or one already applied)."""
        if update.execution_id is not None:
            if update.execution_id in self._executions:
                return None
            self._executions.add(update.execution_id)
        if update.fill_quantity is not None:
            return update.fill_quantity if update.fill_quantity > 0 else None
        if not update.is_fill:
            return None
        # No per-fill figure (some Tradier messages): the growth of the filled total.
        delta = update.order.filled_quantity - (filled_before or Decimal(0))
        return delta if delta > 0 else None


class SyncEngine:
    """Keeps many connections current and publishes every change (module docstring).

    ``async with SyncEngine({"conn-1": broker}) as sync: ...`` starts it (brokers must
    be connected already: the engine never connects or disconnects them) and stops it
    on exit. ``policy`` applies to targets without their own.
    """

    def __init__(self, targets: Mapping[str, BrokerInterface] | Iterable[SyncTarget] = (),
                 *, policy: SyncPolicy | None = None,
                 latency: LatencyTracker | None = None) -> None:
        self.policy = policy or SyncPolicy()
        self.latency = latency or LatencyTracker()
        self._bus = EventBus()
        self._connections: dict[str, _ConnectionSync] = {}
        self._running = False
        items: Iterable[SyncTarget] = (
            [SyncTarget(cid, broker) for cid, broker in targets.items()]
            if isinstance(targets, Mapping) else targets)
        for target in items:
            self._add(target)

    @classmethod
    def from_source(cls, source: SyncTargetSource, *, policy: SyncPolicy | None = None,
                    latency: LatencyTracker | None = None) -> SyncEngine:
        """An engine over the connections ``source`` (the ``BrokerManager``) hands over."""
        return cls(list(source.sync_targets()), policy=policy, latency=latency)

    def __repr__(self) -> str:
        return f"SyncEngine(connections={sorted(self._connections)}, running={self._running})"

    def _add(self, target: SyncTarget) -> _ConnectionSync:
        if target.connection_id in self._connections:
            raise ValueError(f"connection {target.connection_id!r} is already synced")
        sync = _ConnectionSync(target, target.policy or self.policy, self._bus, self.latency)
        self._connections[target.connection_id] = sync
        return sync

    async def add(self, target: SyncTarget) -> None:
        """Start keeping ``target`` current (at once if the engine runs). Raises
        ``ValueError`` if its connection id is already synced."""
        sync = self._add(target)
        if self._running:
            await sync.start()

    async def remove(self, connection_id: str) -> None:
        """Stop syncing ``connection_id``; unknown ids are ignored."""
        sync = self._connections.pop(connection_id, None)
        if sync is not None:
            await sync.stop()

    @property
    def connection_ids(self) -> list[str]:
        return sorted(self._connections)

    # --- running -------------------------------------------------------------------

    async def start(self) -> None:
        """Read every connection once (concurrently), then keep them current."""
        if self._running:
            return
        self._running = True
        await asyncio.gather(*(s.start() for s in self._connections.values()))

    async def stop(self) -> None:
        """Stop every loop and close streams and subscriptions; idempotent."""
        self._running = False
        await asyncio.gather(*(s.stop() for s in self._connections.values()))
        self._bus.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def sync_once(self) -> dict[str, SyncedState]:
        """One full read of every connection, applied and published (source ``poll``),
        without starting any loop. Returns each connection's state; a connection whose
        read failed keeps its previous state (the error is logged)."""
        await asyncio.gather(*(s.guarded_read(SyncSource.POLL)
                               for s in self._connections.values()))
        return self.states()

    async def reconcile(self, connection_id: str) -> int:
        """Reconcile one connection now; returns the repairs it made. Raises
        ``KeyError`` for an unknown id and the broker's ``BrokerError`` on a failed
        read."""
        sync = self._connections[connection_id]
        before = sync.state.repairs
        await sync.read(SyncSource.RECONCILE)
        return sync.state.repairs - before

    # --- reading -------------------------------------------------------------------

    def subscribe(self, predicate: Callable[[SyncEvent], bool] | None = None,
                  ) -> SyncSubscription:
        """Every event published from now on (those matching ``predicate``)."""
        return self._bus.subscribe(predicate)

    def add_listener(self, listener: Callable[[SyncEvent], None]) -> None:
        """Call ``listener`` synchronously for every event; it must not raise."""
        self._bus.add_listener(listener)

    async def settled(self, connection_id: str, within: float) -> None:
        """Wait until ``connection_id`` has no read running or queued (e.g. the catch-up
        read after its stream came up). Raises ``TimeoutError`` after ``within`` seconds
        and ``KeyError`` for an unknown id."""
        async with asyncio.timeout(within):
            await self._connections[connection_id].settled()

    def state(self, connection_id: str) -> SyncedState:
        """A read-only copy of one connection's local state. Raises ``KeyError``."""
        return self._connections[connection_id].state.view()

    def states(self) -> dict[str, SyncedState]:
        return {cid: s.state.view() for cid, s in sorted(self._connections.items())}

    def poll_interval(self, connection_id: str) -> float:
        """Seconds between polls for ``connection_id``. Raises ``KeyError``."""
        return self._connections[connection_id].poll_interval

    def mark_fill(self, connection_id: str, symbol: str,
                  caused_at: datetime | None = None) -> datetime:
        """Shortcut for ``latency.mark_fill``: a fill of ``symbol`` was caused now."""
        return self.latency.mark_fill(connection_id, symbol, caused_at)


__all__ = ["SyncEngine", "SyncPolicy", "SyncTarget", "SyncTargetSource"]

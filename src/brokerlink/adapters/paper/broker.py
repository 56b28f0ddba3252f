"""``PaperBroker``: the full ``BrokerInterface`` on an in-process ``SimEngine``.

No network and no credentials: everything the engine refuses surfaces as the same
typed errors a real broker's adapter raises, tagged with this broker and connection.

Without a store the account lives in this object's memory. With a ``PaperStateStore``
(a stored paper connection: the database) it outlives the process and is shared by
every process that opens it. Each operation then runs under this broker's lock as:
reload if another process saved since (one cheap version read), catch the market up
with the wall clock, apply, and save compare-and-swap if anything changed. A save that
loses the race discards what this broker did, reloads, and applies the operation again
on the newer state, as if the two processes had taken turns; a caller hears of an order
only once it is saved, and an order is saved once (see ``_stored``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

from brokerlink.adapters.paper.spec import PAPER, PAPER_CAPABILITIES
from brokerlink.adapters.paper.store import (
    PaperStateConflictError,
    PaperStateMissingError,
    PaperStateStore,
    StoredPaperState,
)
from brokerlink.adapters.paper.stream import PaperOrderStream
from brokerlink.core.capabilities import Capabilities
from brokerlink.core.dates import utc_range
from brokerlink.core.enums import (
    AccountType,
    BrokerType,
    OrderStatus,
)
from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerError,
    BrokerUnavailableError,
    RequestTimeoutError,
    SymbolNotFoundError,
)
from brokerlink.core.interface import BrokerBase
from brokerlink.core.models import (
    AccountBalances,
    BrokerAccount,
    Order,
    OrderModify,
    OrderRequest,
    OrderResult,
    Position,
    Quote,
    Transaction,
)
from brokerlink.sim.engine import DEFAULT_CASH, SimEngine
from brokerlink.sim.events import EventHub, SimEvent, Subscription
from brokerlink.sim.snapshot import decode, encode, restore_engine, snapshot_account

T = TypeVar("T")

CATCH_UP_AFTER = timedelta(minutes=1)
"""A stored account's market catches up with the wall clock once it lags this much
(the engine's own price step: finer catching up would only add noise)."""
CATCH_UP_STEPS = 2000
"""At most about this many price steps per catch-up, so a week or a year away costs a
fraction of a second (the walk's distribution does not depend on the step)."""
SAVE_ATTEMPTS = 30
"""How often an operation is applied again after losing the save race before it is
given up (nothing applied): with backoff, about a second of another process saving."""

class PaperBroker(BrokerBase):
    """A paper account on a simulation engine, its own or one shared with others.

    ``market="always_open"`` keeps the market open at every instant (demos, benchmarks);
    ``"exchange"`` follows the NYSE calendar on the engine's virtual clock.

    ``store`` keeps the account outside this process (see the module docstring): on
    ``connect`` the stored account is restored, or one is opened from these settings
    and saved; the stored account wins over the settings. The broker then builds its
    own engine, and replaces ``engine`` whenever it reloads: look it up each time, and
    move the market with ``set_price``/``advance`` so the change is saved.
    ``wall_clock`` (with a store) is the time the simulated market catches up with
    before each operation, once it lags a minute: prices walk, resting orders fill,
    day orders expire, as they would have in between. Without it, simulated time moves
    only with ``advance``.
    """

    def __init__(
        self,
        engine: SimEngine | None = None,
        *,
        account_id: str | None = None,
        cash: Decimal | int | str = DEFAULT_CASH,
        market: Literal["exchange", "always_open"] = "exchange",
        seed: int = 7,
        account_type: AccountType | str = AccountType.MARGIN,
        options_level: int = 2,
        start: datetime | None = None,
        connection_id: str | None = None,
        store: PaperStateStore | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        if store is not None and engine is not None:
            raise ValueError("a paper broker with a store builds its own engine from seed "
                             "and market (a stored account is one whole engine); pass "
                             "either engine or store")
        if wall_clock is not None and store is None:
            raise ValueError("wall_clock is for a stored account (its market catches up "
                             "across processes); an engine in memory moves with advance()")
        self.engine = engine or SimEngine(seed=seed, market=market, start=start)
        self._account_id = account_id
        self._cash = Decimal(str(cash))
        self._account_type = AccountType(account_type)
        self._options_level = options_level
        self._connected = False
        self.connection_id = connection_id
        self._store = store
        self._wall_clock = wall_clock
        self._seed, self._market, self._start = seed, market, start
        # The stored version the engine holds: 0 for an account opened here and not
        # saved yet, None when it must be (re)loaded before use.
        self._version: int | None = None
        self._attached = False  # a state was loaded or saved: its absence means removal
        self._lock = asyncio.Lock()
        # Subscriptions live here, not on an engine: a reload replaces the engine.
        self._hub = self.engine.events

    @property
    def broker_type(self) -> BrokerType:
        return BrokerType.PAPER

    @property
    def capabilities(self) -> Capabilities:
        return PAPER_CAPABILITIES

    @property
    def account_id(self) -> str:
        """The account this broker trades. Raises ``BrokerConnectionError`` before connect."""
        if self._account_id is None or not self._connected:
            raise BrokerConnectionError(
                "paper broker is not connected: call connect() or use 'async with'", broker="paper"
            )
        return self._account_id

    async def connect(self) -> None:
        """Open (or re-attach to) the paper account; idempotent. With a store: restore
        the stored account, or open one from the settings and save it. Raises
        ``SnapshotError`` for a stored account this version cannot read."""
        if self._store is not None:
            await self._tagged(self._stored(_nothing, write=False, attaching=True))
            self._connected = True
            return
        if self._account_id is None or not self.engine.has_account(self._account_id):
            self._account_id = self.engine.open_account(
                account_id=self._account_id,
                cash=self._cash,
                account_type=self._account_type,
                options_level=self._options_level,
                name="Paper trading",
            )
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False

    async def refresh_token(self) -> None:
        """The paper broker has no tokens: nothing to refresh."""

    def is_connected(self) -> bool:
        return self._connected

    async def get_account(self) -> BrokerAccount:
        return await self._call(lambda: self.engine.account(self.account_id, broker=PAPER))

    async def get_balances(self) -> AccountBalances:
        return await self._call(lambda: self.engine.balances(self.account_id))

    async def get_positions(self) -> list[Position]:
        return await self._call(lambda: self.engine.positions(self.account_id))

    async def place_order(self, order: OrderRequest) -> OrderResult:
        self.capabilities.check_order(order, broker="paper")
        if self._store is not None:
            return await self._tagged(self._stored(
                lambda: self.engine.place_order_result(self.account_id, order), write=True,
                client_order_id=order.client_order_id))
        # ``_call`` inline: the hot path of the paper broker, spared a closure and a coroutine.
        try:
            return self.engine.place_order_result(self.account_id, order)
        except BrokerError as exc:
            exc.broker = exc.broker or "paper"
            exc.connection_id = exc.connection_id or self.connection_id
            raise

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        self.capabilities.check_modify(changes, broker="paper")
        changed = await self._write(
            lambda: self.engine.modify_order(
                self.account_id, order_id, changes, style=self.capabilities.modify
            )
        )
        return changed.to_result()

    async def cancel_order(self, order_id: str) -> bool:
        canceled = await self._write(lambda: self.engine.cancel_order(self.account_id, order_id))
        return canceled.status is OrderStatus.CANCELED

    async def get_order(self, order_id: str) -> Order:
        return await self._call(lambda: self.engine.get_order(self.account_id, order_id))

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The order placed with ``client_order_id``. Raises ``OrderNotFoundError``."""
        self.capabilities.require("client_order_ids", broker="paper")
        return await self._call(
            lambda: self.engine.get_order_by_client_id(self.account_id, client_order_id)
        )

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        return await self._call(lambda: self.engine.orders(self.account_id, status))

    async def get_order_history(self, start: date | datetime, end: date | datetime) -> list[Order]:
        start, end = utc_range(start, end)
        return await self._call(lambda: self.engine.order_history(self.account_id, start, end))

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        start, end = utc_range(start, end)
        return await self._call(lambda: self.engine.transactions(self.account_id, start, end))

    async def get_quote(self, symbol: str) -> Quote:
        return await self._call(lambda: self.engine.quote(symbol))

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        if self._store is not None:
            return await self._call(lambda: self._quotes(symbols))
        return self._quotes(symbols)

    def _quotes(self, symbols: list[str]) -> dict[str, Quote]:
        quotes: dict[str, Quote] = {}
        unknown: list[str] = []
        for symbol in symbols:
            try:
                quotes[symbol] = self.engine.quote(symbol)
            except SymbolNotFoundError:
                unknown.append(symbol)
        if unknown:
            raise SymbolNotFoundError(
                f"unknown symbols: {', '.join(unknown)}",
                symbol=unknown[0],
                broker="paper",
                connection_id=self.connection_id,
            )
        return quotes

    def order_updates(self) -> PaperOrderStream:
        """A new, not yet entered stream of this account's order events (its engine
        events as ``OrderUpdate`` s; ``subscribe`` says what arrives with a store). Raises
        ``BrokerConnectionError`` before connect."""
        self.capabilities.require("streaming", broker="paper")
        self.account_id  # noqa: B018  (raises BrokerConnectionError before connect)
        return PaperOrderStream(self.subscribe)

    def subscribe(self) -> Subscription:
        """This account's order and cash events from now on, as an async stream (close it,
        or use ``async with``). Raises ``BrokerConnectionError`` before connect. With a
        store, only this process's changes arrive here (another process's are seen on
        the next read), each once it is saved."""
        if self._store is not None:
            return self._hub.subscribe(self.account_id)
        return self.engine.subscribe(self.account_id)

    async def advance(self, delta: timedelta) -> None:
        """Move the simulated market forward (paper only)."""
        if self._store is not None:
            await self._write(lambda: self.engine.advance(delta))
            return
        self.engine.advance(delta)

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Pin ``symbol``'s last price (paper only; demos and tests); resting orders
        re-match. Raises ``SymbolNotFoundError``, or ``ValueError`` for a price off the
        tick. With a store the new price is saved like any other change."""
        await self._write(lambda: self.engine.set_price(symbol, price))

    async def _call(self, operation: Callable[[], T]) -> T:
        """Run an engine read (with a store: on the latest saved state), tagging its
        errors with this broker and connection."""
        if self._store is not None:
            return await self._tagged(self._stored(operation, write=False))
        try:
            return operation()
        except BrokerError as exc:
            exc.broker = exc.broker or "paper"
            exc.connection_id = exc.connection_id or self.connection_id
            raise

    async def _write(self, operation: Callable[[], T]) -> T:
        """``_call`` for an operation that changes the account: with a store, saved
        before it returns."""
        if self._store is not None:
            return await self._tagged(self._stored(operation, write=True))
        return await self._call(operation)

    async def _tagged(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except BrokerError as exc:
            exc.broker = exc.broker or "paper"
            exc.connection_id = exc.connection_id or self.connection_id
            raise

    # --- a stored account ---------------------------------------------------------------

    async def _stored(self, operation: Callable[[], T], *, write: bool,
                      attaching: bool = False, client_order_id: str | None = None) -> T:
        """Run ``operation`` on the stored account, saving what changed.

        Under the lock, each attempt: reload if another process saved since, catch the
        market up, apply ``operation``, and (if it writes, or the reload opened a new
        account, or the market moved) save compare-and-swap. Events wait for the save,
        so a subscriber never sees a change that was then thrown away. Losing the race
        throws the attempt away and tries again on the newer state (serialised after
        the other process's change), so an order is saved exactly once and reported
        only once saved. Raises the engine's errors (nothing saved), ``PaperStateMissingError``
        if the account was removed, ``BrokerUnavailableError`` when every attempt lost
        (nothing applied), and for a write whose save failed otherwise
        ``RequestTimeoutError`` (outcome unknown: reconcile; the next call reloads).
        """
        assert self._store is not None  # noqa: S101  (callers check)
        store = self._store
        if not attaching:
            self.account_id  # noqa: B018  (raises BrokerConnectionError before connect)
        async with self._lock:
            for attempt in range(SAVE_ATTEMPTS):
                changed = await self._refresh(store)
                captured = self._capture_events()
                try:
                    changed = self._catch_up() or changed
                    result = operation()
                except BaseException:
                    self._release_events(None)
                    if write or changed:
                        self._version = None  # whatever the attempt did is not saved
                    raise
                if not (write or changed):
                    self._release_events(captured)
                    return result
                try:
                    self._version = await store.save(
                        encode(snapshot_account(self.engine, self._require_account())),
                        expected_version=self._version or 0)
                except PaperStateConflictError:
                    self._version = None
                    self._release_events(None)
                    # Jittered backoff, so two processes do not keep colliding in step.
                    await asyncio.sleep(min(0.05, 0.001 * 2 ** attempt)
                                        * random.uniform(0.5, 1.5))  # noqa: S311
                    continue
                except BaseException as exc:
                    self._version = None
                    self._release_events(None)
                    # Only a conflict or a missing account says "not saved"; any other
                    # failure (a commit cut off, a storage error) leaves a write's outcome
                    # unknown, which the journal must reconcile rather than call refused.
                    if not isinstance(exc, Exception) or isinstance(exc, PaperStateMissingError):
                        raise
                    if isinstance(exc, BrokerError) and not write:
                        raise
                    if write:
                        raise RequestTimeoutError(
                            "the paper account's new state may or may not have been saved "
                            f"({type(exc).__name__}); reconcile before repeating it",
                            client_order_id=client_order_id) from exc
                    # Only a catch-up went unsaved: the next call does it again.
                    raise _store_failed(exc) from exc
                self._attached = True
                self._release_events(captured)
                return result
        raise BrokerUnavailableError(
            f"another process kept saving this paper account ({SAVE_ATTEMPTS} attempts "
            "lost the race); nothing was changed here, try again")

    async def _refresh(self, store: PaperStateStore) -> bool:
        """Make the engine hold the latest stored account; True when it holds a newly
        opened account that is not stored yet."""
        try:
            if self._version is not None:
                current = await store.version()
                if current == self._version:
                    return self._version == 0
                if current is None and self._version > 0:
                    raise self._missing()
            stored = await store.load()
        except BrokerError:
            raise
        except Exception as exc:
            raise _store_failed(exc) from exc
        if stored is not None:
            self._install(stored)
            return False
        if self._attached:
            raise self._missing()
        engine = self.engine
        if self._account_id is not None and engine.has_account(self._account_id):
            # An earlier attempt opened it and was thrown away: start clean.
            engine = SimEngine(seed=self._seed, market=self._market, start=self._start,
                               universe=engine.universe)
            engine.events = self._hub
            self.engine = engine
        self._account_id = engine.open_account(
            account_id=self._account_id, cash=self._cash, account_type=self._account_type,
            options_level=self._options_level, name="Paper trading")
        self._version = 0
        return True

    def _install(self, stored: StoredPaperState) -> None:
        snapshot = decode(stored.state)
        old = self.engine
        # The universe is fixed by the seed: reuse it rather than build it again.
        same_seed = snapshot.get("seed") == old.prices.seed
        engine = restore_engine(snapshot, universe=old.universe if same_seed else None,
                                fees=old.fees, closed_market=old.closed_market)
        engine.events = self._hub
        self.engine = engine
        self._account_id = engine.account_ids()[0]
        self._version = stored.version
        self._attached = True

    def _catch_up(self) -> bool:
        """Move the market to the wall clock if it lags a minute or more."""
        if self._wall_clock is None:
            return False
        now, target = self.engine.now(), self._wall_clock()
        behind = target - now
        if behind < CATCH_UP_AFTER:
            return False
        self.engine.advance_to(target, price_step=max(CATCH_UP_AFTER, behind / CATCH_UP_STEPS))
        return True

    def _capture_events(self) -> list[SimEvent]:
        """Hold the engine's events back until the attempt is saved (or thrown away)."""
        captured: list[SimEvent] = []
        hub = EventHub()
        if self._hub.has_listeners:  # else the engine need not build them at all
            hub.add_listener(captured.append)
        self.engine.events = hub
        return captured

    def _release_events(self, captured: list[SimEvent] | None) -> None:
        self.engine.events = self._hub
        for event in captured or ():
            self._hub.publish(replace(event, seq=self._hub.next_seq()))

    def _require_account(self) -> str:
        assert self._account_id is not None  # noqa: S101  (_refresh opened or loaded one)
        return self._account_id

    def _missing(self) -> PaperStateMissingError:
        self._version = None
        return PaperStateMissingError(
            "this paper account is no longer stored: its connection was removed; add a "
            "new paper connection", broker="paper", connection_id=self.connection_id)


def _nothing() -> None:
    """The operation of ``connect``: attaching (and catching up) is all it does."""


def _store_failed(exc: Exception) -> BrokerUnavailableError:
    """A store that failed to read, or to save a change the caller did not ask for."""
    return BrokerUnavailableError(
        f"the paper account's store failed ({type(exc).__name__}); nothing was changed, "
        "try again")

"""``SimEngine``: the one deterministic market and brokerage simulation.

The paper broker runs on it in process; every broker emulator serves its wire format
from it. Time is virtual (``SimClock``): nothing moves until ``advance`` is called or
an order arrives, so tests are exact and need no sleeps. All methods are synchronous
and fast; async callers wrap them without awaiting I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    BrokerType,
    DataSource,
    OrderStatus,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import (
    BrokerError,
    DuplicateOrderError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    Recovery,
)
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
from brokerlink.sim.accounts import ZERO, LedgerEntry, SimAccount
from brokerlink.sim.calendar import (
    AlwaysOpenCalendar,
    ExchangeCalendar,
    MarketCalendar,
    MarketSession,
    SessionTimes,
)
from brokerlink.sim.clock import SimClock
from brokerlink.sim.events import EventHub, EventKind, SimEvent, Subscription
from brokerlink.sim.expiry import has_expired, settle
from brokerlink.sim.matching import (
    auction_price,
    available_liquidity,
    execution_price,
    update_trigger,
)
from brokerlink.sim.orders import OPEN_STATUSES as _OPEN_STATUSES
from brokerlink.sim.orders import WorkingOrder, uuid4_text
from brokerlink.sim.prices import PriceBook, SimQuote
from brokerlink.sim.rules import (
    CLOSING_SIDES,
    Admission,
    ClosedMarketPolicy,
    FeeSchedule,
    admit,
    option_terms,
)
from brokerlink.sim.universe import DECIMAL_OF, Instrument, InstrumentUniverse

DEFAULT_CASH = Decimal(100_000)
AUCTION_TIME_IN_FORCE = frozenset({TimeInForce.OPG, TimeInForce.CLS})
CLS_CUTOFF = timedelta(minutes=10)
# Enum members bound once: attribute access on an enum class is slow in Python 3.11,
# and these are read on every order.
_ACTIVE = AccountStatus.ACTIVE
_OPG, _CLS, _GTC = TimeInForce.OPG, TimeInForce.CLS, TimeInForce.GTC
_FOK = TimeInForce.FOK
_IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})
_NEW, _FILLED, _PARTIAL = OrderStatus.NEW, OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED
_REGULAR = MarketSession.REGULAR
_FILL_ENTRY = TransactionType.FILL


class AccountNotFoundError(BrokerError):
    recovery = Recovery.FIX_REQUEST


class SimEngine:
    """Accounts, orders and a market on one virtual clock.

    ``market="exchange"`` follows the NYSE calendar (sessions, holidays, early closes);
    ``market="always_open"`` keeps the regular session open at every instant, with a
    trading day rolling over at New York midnight (the calendar's, so day orders expire
    at ``next_close()``).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        market: Literal["exchange", "always_open"] = "exchange",
        start: datetime | None = None,
        universe: InstrumentUniverse | None = None,
        fees: FeeSchedule | None = None,
        closed_market: ClosedMarketPolicy = ClosedMarketPolicy.REJECT,
        price_step: timedelta = timedelta(minutes=1),
    ) -> None:
        self.clock = SimClock(start)
        self.calendar: MarketCalendar = (
            AlwaysOpenCalendar() if market == "always_open" else ExchangeCalendar()
        )
        self.universe = universe or InstrumentUniverse.seeded(seed)
        self.prices = PriceBook(self.universe, seed=seed, clock=self.clock)
        self.fees = fees or FeeSchedule()
        self.closed_market = closed_market
        self.events = EventHub()
        self._price_step = price_step
        self._ids = random.Random(seed)  # noqa: S311  (ids need determinism, not secrecy)
        self._accounts: dict[str, SimAccount] = {}
        self._orders: dict[str, WorkingOrder] = {}
        self._by_client_id: dict[tuple[str, str], str] = {}
        self._open: dict[str, dict[str, WorkingOrder]] = {}
        self._auction: dict[str, WorkingOrder] = {}
        # Size already taken from the touch shown at one instant, per symbol and side:
        # (quote time, bid, ask, quantity taken). A new instant or a new price shows
        # fresh size; orders trading against the same quote share what it shows.
        self._taken: dict[tuple[str, bool], tuple[datetime, Decimal, Decimal, Decimal]] = {}
        self._entry_seq = 0
        self._last_expiry: tuple[tuple[datetime, TimeInForce, bool] | None, datetime | None] = (
            None, None)

    # --- time and market -------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def session(self) -> MarketSession:
        return self.calendar.session_state(self.clock.now())

    def is_open(self, *, extended_hours: bool = False) -> bool:
        return self.calendar.is_open(self.clock.now(), extended_hours=extended_hours)

    def next_open(self) -> datetime:
        return self.calendar.next_open(self.clock.now())

    def next_close(self) -> datetime:
        return self.calendar.next_close(self.clock.now())

    def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``: prices walk, orders trade, auctions run, day
        orders expire and trading days roll, in order."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self.advance_to(self.clock.now() + delta)

    def advance_to(self, target: datetime, *, price_step: timedelta | None = None) -> None:
        """Move time forward to ``target`` (see ``advance``). ``price_step`` overrides
        the engine's step for this move: a coarser one catches up a long stretch fast
        (the walk's distribution at each step's end does not depend on the step)."""
        step = price_step or self._price_step
        now = self.clock.now()
        while now < target:
            boundary, kind = self._next_boundary(now)
            in_session = self.calendar.session_state(now) is not MarketSession.CLOSED
            step_end = min(target, boundary)
            if in_session:
                step_end = min(step_end, now + step)
            self.clock.set(step_end)
            if in_session:
                self.prices.step(step_end - now)
            if step_end == boundary:
                self._on_boundary(kind, boundary)
            self._match_all()
            now = step_end

    def run_until_open(self) -> None:
        """Advance to the next regular open (a no-op while the market is open)."""
        if not self.is_open():
            self.advance_to(self.next_open())

    def _next_boundary(self, now: datetime) -> tuple[datetime, str]:
        if self.calendar.always_open:
            # The calendar's day ends at New York midnight; so do day orders.
            return self.calendar.next_close(now), "close"
        session = self.calendar.session_for(now)
        if session is not None:
            for at, kind in ((session.pre_open, "pre_open"), (session.open, "open"),
                             (session.close, "close"), (session.post_close, "post_close")):
                if at > now:
                    return at, kind
        following = self.calendar.session_for(self.calendar.next_open(now))
        assert following is not None  # noqa: S101  (next_open is always a trading day)
        return following.pre_open, "pre_open"

    def _on_boundary(self, kind: str, at: datetime) -> None:
        if kind == "open":
            self._run_auction(TimeInForce.OPG, at)
        elif kind == "close":
            self._run_auction(TimeInForce.CLS, at)
            self._expire_due(at)
            self._settle_expiring_options(at)
            self.prices.roll_session()
            for account in self._accounts.values():
                account.roll_day(self._prices_for(account))
        elif kind == "post_close":
            self._expire_due(at)

    # --- prices ----------------------------------------------------------------------

    def instrument(self, symbol: str) -> Instrument:
        """Raises ``SymbolNotFoundError`` for a symbol the universe does not list."""
        return self.universe.get(symbol)

    def sim_quote(self, symbol: str) -> SimQuote:
        instrument = self.universe.get(symbol)
        return self.prices.quote(instrument.symbol, self.clock.now())

    def quote(self, symbol: str) -> Quote:
        """The current quote as a core ``Quote``. Raises ``SymbolNotFoundError``."""
        raw = self.sim_quote(symbol)
        return Quote(
            as_of=self.clock.now(), source=DataSource.SIMULATION, symbol=raw.symbol,
            bid=raw.bid, ask=raw.ask, last=raw.last, bid_size=raw.bid_size,
            ask_size=raw.ask_size, last_size=None, volume=None,
            previous_close=raw.previous_close, timestamp=raw.timestamp)

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Pin a last price (tests, demos, the emulators' admin API); orders re-match."""
        instrument = self.universe.get(symbol)
        self.prices.set_price(instrument.symbol, price)
        self._match_all()

    def _prices_for(self, account: SimAccount) -> dict[str, Decimal]:
        last = self.prices.last
        return {symbol: last(symbol) for symbol in account.holdings}

    def _margin_prices(self, account: SimAccount) -> dict[str, Decimal]:
        """Prices of what ``margin`` values: the holdings not flat (it skips the rest)."""
        last = self.prices.last
        return {symbol: last(symbol) for symbol, held in account.holdings.items()
                if held.quantity}

    # --- accounts --------------------------------------------------------------------

    def open_account(
        self,
        *,
        account_id: str | None = None,
        cash: Decimal = DEFAULT_CASH,
        account_type: AccountType = AccountType.MARGIN,
        options_level: int = 2,
        name: str | None = None,
    ) -> str:
        """Open a funded account and return its id. Raises ``InvalidOrderError``-free
        ``ValueError`` for a duplicate id or negative cash."""
        if cash < 0:
            raise ValueError("opening cash cannot be negative")
        new_id = account_id or f"SIM{self._ids.randrange(10**8):08d}"
        if new_id in self._accounts:
            raise ValueError(f"account {new_id} already exists")
        account = SimAccount(account_id=new_id, account_type=account_type,
                             opened_at=self.clock.now(), options_level=options_level,
                             name=name)
        self._accounts[new_id] = account
        if cash:
            self.fund(new_id, cash, "initial deposit")
        return new_id

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def account_ids(self) -> list[str]:
        return list(self._accounts)

    def _account(self, account_id: str) -> SimAccount:
        account = self._accounts.get(account_id)
        if account is None:
            raise AccountNotFoundError(f"no account {account_id!r} in this simulation")
        return account

    def account(self, account_id: str, *, broker: BrokerType) -> BrokerAccount:
        """``account_id`` as the account of ``broker`` (the engine serves every broker
        alike: the caller says whose account it presents). Raises
        ``AccountNotFoundError``."""
        acct = self._account(account_id)
        margin = acct.is_margin
        return BrokerAccount(
            as_of=self.clock.now(), source=DataSource.SIMULATION, account_id=acct.account_id,
            broker=broker, account_type=acct.account_type, account_name=acct.name,
            status=acct.status, can_trade_stocks=True,
            can_trade_options=acct.options_level >= 1, can_trade_margin=margin,
            can_short=margin, opened_date=acct.opened_date, last_sync=self.clock.now(),
            currency="USD", raw_status=acct.status.value)

    def account_settings(self, account_id: str) -> SimAccount:
        """The live account object, for emulators that expose broker-specific fields."""
        return self._account(account_id)

    def fund(self, account_id: str, amount: Decimal, description: str = "deposit") -> None:
        """Deposit (positive) or withdraw (negative) cash. Raises ``ValueError`` if a
        withdrawal exceeds the cash available."""
        account = self._account(account_id)
        if amount == 0:
            raise ValueError("amount must not be zero")
        if amount < 0:
            available = account.withdrawable(account.margin(self._prices_for(account)))
            if -amount > available:
                raise ValueError(f"cannot withdraw {-amount}: only {available} available")
        now = self.clock.now()
        account.cash += amount
        account.net_deposits += amount
        account.day_start_equity += amount
        kind = TransactionType.DEPOSIT if amount > 0 else TransactionType.WITHDRAWAL
        account.ledger.append(LedgerEntry(self._next_entry_id(), kind, now, amount,
                                          description=description))
        self._emit(EventKind.CASH, account_id, None, amount=amount)

    def set_account_status(self, account_id: str, status: AccountStatus) -> None:
        self._account(account_id).status = status

    def balances(self, account_id: str) -> AccountBalances:
        account = self._account(account_id)
        return account.balances(self._prices_for(account), self.clock.now())

    def positions(self, account_id: str) -> list[Position]:
        account = self._account(account_id)
        previous = {s: self.prices.previous_close(s) for s in account.holdings}
        return account.positions(self._prices_for(account), previous, self.clock.now())

    def transactions(self, account_id: str, start: datetime, end: datetime) -> list[Transaction]:
        return self._account(account_id).transactions(start, end, self.clock.now())

    def buying_power(self, account_id: str) -> Decimal:
        account = self._account(account_id)
        return account.buying_power_at(self._margin_prices(account))

    # --- orders ----------------------------------------------------------------------

    def place_order(self, account_id: str, request: OrderRequest) -> Order:
        """Accept ``request`` and let it trade. Every check runs before any change, so a
        refused order leaves no trace. Raises ``InvalidOrderError``,
        ``SymbolNotFoundError``, ``InsufficientFundsError``, ``MarketClosedError``,
        ``PermissionDeniedError`` or ``DuplicateOrderError``."""
        return self._place(account_id, request).snapshot(self.clock.now())

    def place_order_result(self, account_id: str, request: OrderRequest) -> OrderResult:
        """``place_order``, answering with the ``OrderResult`` a broker returns rather
        than the full order (what the paper broker needs, at half the cost)."""
        return self._place(account_id, request).result()

    def _place(self, account_id: str, request: OrderRequest) -> WorkingOrder:
        account = self._account(account_id)
        working = self._admit(account, request)
        self._accept(working)
        return working

    def _admit(self, account: SimAccount, request: OrderRequest,
               replacing: WorkingOrder | None = None) -> WorkingOrder:
        if account.status is not _ACTIVE:
            raise PermissionDeniedError(f"account {account.account_id} is "
                                        f"{account.status.value} and cannot trade")
        now = self.clock.now()
        # Only an option has an instrument symbol other than its ticker, and only an
        # option (one with an expiration) can have expired.
        instrument = self.universe.get(
            request.symbol if request.option_type is None else request.instrument_symbol)
        if instrument.expiration is not None and has_expired(self.calendar, instrument, now):
            raise InvalidOrderError(f"{instrument.symbol} expired on "
                                    f"{instrument.expiration} and no longer trades",
                                    field="expiration")
        key = (account.account_id, request.client_order_id)
        if key in self._by_client_id and (replacing is None
                                          or self._by_client_id[key] != replacing.order_id):
            raise DuplicateOrderError(
                f"client_order_id {request.client_order_id!r} was already used in this "
                "account", client_order_id=request.client_order_id)
        self._check_session(request, now)
        quote = self.prices.quote(instrument.symbol, now)
        buying_power = account.buying_power_at(self._margin_prices(account))
        if replacing is not None:
            # The order being replaced frees what it holds for the check of its successor.
            buying_power += replacing.reserved
            self._release_close_reservation(replacing, replacing.remaining)
        try:
            admission = admit(account, request, instrument, quote, buying_power, self.fees, now)
        finally:
            if replacing is not None:
                self._hold_close_reservation(replacing)
        return self._new_working(account, request, instrument, admission, now)

    def _new_working(self, account: SimAccount, request: OrderRequest, instrument: Instrument,
                     admission: Admission, now: datetime) -> WorkingOrder:
        working = WorkingOrder(
            order_id=uuid4_text(self._ids.getrandbits(128)),
            account_id=account.account_id, request=request, instrument=instrument,
            submitted_at=now, quantity=request.quantity, limit_price=request.limit_price,
            stop_price=request.stop_price, trail_amount=request.trail_amount,
            trail_percent=request.trail_percent, time_in_force=request.time_in_force,
            client_order_id=request.client_order_id, reserved=admission.reserve)
        working.expires_at = self._expiry_for(request, now)
        return working

    def _check_session(self, request: OrderRequest, now: datetime) -> None:
        tif = request.time_in_force
        if tif is _OPG:
            if self.calendar.session_state(now) is _REGULAR:
                raise MarketClosedError(
                    "opg orders are taken only before the open; use day for the session",
                    next_open=self.calendar.next_open(now))
            return
        if tif is _CLS:
            session = self.calendar.session_state(now)
            close = self.calendar.next_close(now)
            if session is not _REGULAR or close - now < CLS_CUTOFF:
                raise MarketClosedError(
                    "cls orders are taken during the regular session until 10 minutes "
                    "before the close", next_open=self.calendar.next_open(now))
            return
        # ``is_open`` reads the session state itself (and refuses the same times).
        tradable = self.calendar.is_open(now, extended_hours=request.extended_hours)
        immediate = tif in _IMMEDIATE
        if not tradable and (immediate or self.closed_market is ClosedMarketPolicy.REJECT):
            next_open = self.calendar.next_open(now)
            hint = "" if request.extended_hours else (
                "; a limit order with extended_hours can trade from 04:00 to 20:00 New York "
                "time")
            raise MarketClosedError(
                f"the market is closed (next regular open {next_open.isoformat()}){hint}",
                next_open=next_open)

    def _expiry_for(self, request: OrderRequest, now: datetime) -> datetime | None:
        if request.time_in_force is _GTC:
            return None
        # Orders arriving at one instant share their expiry; the calendar lookups behind
        # it cost more than the rest of admission, so remember the last answer.
        key = (now, request.time_in_force, request.extended_hours)
        if self._last_expiry[0] == key:
            return self._last_expiry[1]
        expiry = self._compute_expiry(request, now)
        self._last_expiry = (key, expiry)
        return expiry

    def _compute_expiry(self, request: OrderRequest, now: datetime) -> datetime | None:
        if self.calendar.always_open:
            return self.calendar.next_close(now)
        session = self.calendar.session_for(now)
        if session is None or _session_end(session, request.extended_hours) <= now:
            session = self.calendar.session_for(self.calendar.next_open(now))
        assert session is not None  # noqa: S101  (next_open is always a trading day)
        if request.time_in_force is TimeInForce.OPG:
            return session.open
        if request.time_in_force is TimeInForce.CLS:
            return session.close
        return _session_end(session, request.extended_hours)

    def _accept(self, working: WorkingOrder) -> None:
        account = self._accounts[working.account_id]
        now = self.clock.now()
        account.reserved += working.reserved
        self._hold_close_reservation(working)
        self._orders[working.order_id] = working
        self._by_client_id[(working.account_id, working.request.client_order_id)] = \
            working.order_id
        working.move_to(_NEW, now)
        if self.events.has_listeners:  # (``_emit`` checks too; this saves the call)
            self._emit(EventKind.NEW, working.account_id, working)
        self._file(working)
        self._work(working, now)

    def _file(self, working: WorkingOrder) -> None:
        """Put an open order where it trades: an auction or the continuous book."""
        if working.time_in_force in AUCTION_TIME_IN_FORCE:
            self._auction[working.order_id] = working
            return
        book = self._open.get(working.instrument.symbol)
        if book is None:
            book = self._open[working.instrument.symbol] = {}
        book[working.order_id] = working

    def _work(self, working: WorkingOrder, now: datetime) -> None:
        """Let a just placed (or changed) order trade; ioc and fok never rest."""
        self._try_match(working, now)
        if working.time_in_force in _IMMEDIATE and working.status in _OPEN_STATUSES:
            self._finish(working, OrderStatus.CANCELED, now)

    def modify_order(self, account_id: str, order_id: str, changes: OrderModify, *,
                     style: ModifyStyle = ModifyStyle.NATIVE) -> Order:
        """Change an open order. ``NATIVE`` keeps the id; ``CANCEL_REPLACE`` returns a new
        order that ``replaces`` the old one. Raises ``OrderNotFoundError``,
        ``InvalidOrderError`` (closed order, quantity below filled) or the admission
        errors of ``place_order``; on any error the old order stands unchanged."""
        old = self._working(account_id, order_id)
        if not old.is_open:
            raise InvalidOrderError(f"order {order_id} is {old.status.value} and can no longer"
                                    " be changed", field="order_id")
        now = self.clock.now()
        new_quantity = changes.quantity if changes.quantity is not None else old.quantity
        if new_quantity <= old.filled_quantity:
            raise InvalidOrderError(f"quantity {new_quantity} must exceed the "
                                    f"{old.filled_quantity} already filled", field="quantity")
        request = self._modified_request(old, changes, new_quantity, style)
        account = self._account(account_id)
        # Admission (buying power, shares to close) concerns only what is still to
        # trade: the part already filled is paid for and its shares already moved.
        remaining = new_quantity - old.filled_quantity
        to_admit = request if request.quantity == remaining \
            else request.model_copy(update={"quantity": remaining})
        replacement = self._admit(account, to_admit, replacing=old)
        if style is ModifyStyle.NATIVE:
            replacement.request = request
            replacement.quantity = new_quantity
            self._apply_native(old, replacement, now)
            return old.snapshot(now)
        if changes.client_order_id is None:
            # Drawn only now, after admission, so a refused modify leaves the id stream
            # (and with it every later order id) exactly as it was.
            client_id = f"{old.order_id[:8]}-r{self._ids.randrange(10**9)}"
            replacement.request = request.model_copy(update={"client_order_id": client_id})
            replacement.client_order_id = client_id
        self._release(old)
        old.replaced_by = replacement.order_id
        old.move_to(OrderStatus.REPLACED, now)
        self._close_out(old)
        self._emit(EventKind.REPLACED, account_id, old)
        replacement.replaces = old.order_id
        self._accept(replacement)
        return replacement.snapshot(now)

    def _modified_request(self, old: WorkingOrder, changes: OrderModify, quantity: Decimal,
                          style: ModifyStyle) -> OrderRequest:
        fields = old.request.model_dump()
        fields["quantity"] = quantity - (old.filled_quantity
                                         if style is ModifyStyle.CANCEL_REPLACE else ZERO)
        for name in ("limit_price", "stop_price", "time_in_force"):
            value = getattr(changes, name)
            if value is not None:
                fields[name] = value
        if changes.trail_amount is not None:
            fields.update(trail_amount=changes.trail_amount, trail_percent=None)
        if changes.trail_percent is not None:
            fields.update(trail_percent=changes.trail_percent, trail_amount=None)
        if style is ModifyStyle.CANCEL_REPLACE:
            # A placeholder until admission succeeds (see ``modify_order``).
            fields["client_order_id"] = changes.client_order_id or f"{old.order_id[:8]}-r"
        fields.update(symbol=old.instrument.symbol if old.instrument.asset_type
                      is not AssetType.OPTION else old.request.symbol)
        return OrderRequest.model_validate(fields)

    def _apply_native(self, order: WorkingOrder, fresh: WorkingOrder, now: datetime) -> None:
        account = self._accounts[order.account_id]
        self._release_close_reservation(order, order.remaining)
        account.reserved += fresh.reserved - order.reserved
        order.reserved = fresh.reserved
        order.request = fresh.request
        order.quantity = fresh.quantity
        order.limit_price = fresh.limit_price
        order.stop_price = fresh.stop_price
        order.trail_amount = fresh.trail_amount
        order.trail_percent = fresh.trail_percent
        order.time_in_force = fresh.time_in_force
        order.expires_at = fresh.expires_at
        order.updated_at = now
        self._hold_close_reservation(order)
        # A new time in force may move the order between the continuous book and the
        # auctions.
        self._close_out(order)
        self._file(order)
        self._emit(EventKind.NEW, order.account_id, order)
        self._work(order, now)

    def cancel_order(self, account_id: str, order_id: str) -> Order:
        """Cancel an open order. Raises ``OrderNotFoundError`` or ``InvalidOrderError``
        when the order is already filled, canceled or otherwise closed."""
        working = self._working(account_id, order_id)
        if not working.is_open:
            raise InvalidOrderError(f"order {order_id} is {working.status.value} and cannot be"
                                    " canceled", field="order_id")
        now = self.clock.now()
        working.move_to(OrderStatus.PENDING_CANCEL, now)
        self._emit(EventKind.PENDING_CANCEL, account_id, working)
        self._finish(working, OrderStatus.CANCELED, now)
        return working.snapshot(now)

    def _working(self, account_id: str, order_id: str) -> WorkingOrder:
        self._account(account_id)
        working = self._orders.get(order_id)
        if working is None or working.account_id != account_id:
            raise OrderNotFoundError(f"no order {order_id!r} in account {account_id}",
                                     order_id=order_id)
        return working

    def get_order(self, account_id: str, order_id: str) -> Order:
        """Raises ``OrderNotFoundError``."""
        return self._working(account_id, order_id).snapshot(self.clock.now())

    def get_order_by_client_id(self, account_id: str, client_order_id: str) -> Order:
        """Raises ``OrderNotFoundError``."""
        order_id = self._by_client_id.get((account_id, client_order_id))
        if order_id is None:
            raise OrderNotFoundError(f"no order with client_order_id {client_order_id!r}",
                                     order_id=client_order_id)
        return self.get_order(account_id, order_id)

    def orders(self, account_id: str, status: OrderStatus | None = None) -> list[Order]:
        """Orders of an account, newest first, optionally only those in ``status``."""
        self._account(account_id)
        now = self.clock.now()
        return [w.snapshot(now) for w in reversed(self._orders.values())
                if w.account_id == account_id and (status is None or w.status is status)]

    def order_history(self, account_id: str, start: datetime, end: datetime) -> list[Order]:
        self._account(account_id)
        now = self.clock.now()
        return [w.snapshot(now) for w in self._orders.values()
                if w.account_id == account_id and start <= w.submitted_at <= end]

    # --- matching --------------------------------------------------------------------

    def _match_all(self) -> None:
        now = self.clock.now()
        for symbol in list(self._open):
            for working in list(self._open.get(symbol, {}).values()):
                self._try_match(working, now)

    def _try_match(self, working: WorkingOrder, now: datetime) -> None:
        if working.status not in _OPEN_STATUSES \
                or working.time_in_force in AUCTION_TIME_IN_FORCE:
            return
        if not self.calendar.is_open(now, extended_hours=working.request.extended_hours):
            return
        quote = self.prices.quote(working.instrument.symbol, now)
        update_trigger(working, quote.last)
        price = execution_price(working, quote)
        if price is None:
            return
        key = (quote.symbol, working.side.is_buy)
        taken = self._taken.get(key)
        timestamp, bid, ask = quote.timestamp, quote.bid, quote.ask
        used = taken[3] if (taken is not None and taken[0] == timestamp and taken[1] == bid
                            and taken[2] == ask) else ZERO
        remaining = working.quantity - working.filled_quantity
        size = min(remaining, available_liquidity(working, quote) - used)
        if working.time_in_force is _FOK and size < remaining:
            return
        if size > ZERO:
            self._taken[key] = (timestamp, bid, ask, used + size)
            self._fill(working, size, price, now)

    def _run_auction(self, tif: TimeInForce, at: datetime) -> None:
        for working in [w for w in self._auction.values() if w.time_in_force is tif]:
            print_price = self.prices.quote(working.instrument.symbol, at).last
            price = auction_price(working, print_price)
            if price is not None:
                self._fill(working, working.remaining, price, at)
            if working.is_open:
                self._finish(working, OrderStatus.CANCELED, at)

    def _fill(self, working: WorkingOrder, quantity: Decimal, price: Decimal,
              at: datetime) -> None:
        account = self._accounts[working.account_id]
        instrument = working.instrument
        holding = account.holding(instrument)
        side = working.request.side
        signed = quantity if side.is_buy else -quantity
        # Commission is per order: a partial fill pays what the order's fee grows by, so
        # a per-order minimum is charged once, not on every fill.
        already = working.filled_quantity
        fees = self.fees
        fee = fees.fee(instrument, already + quantity) - (
            fees.fee(instrument, already) if already else ZERO)
        holding.apply(signed, price)
        cash_flow = -signed * price * DECIMAL_OF[instrument.multiplier] - fee
        account.cash += cash_flow
        release = working.reserved * quantity / (working.quantity - already)
        working.reserved -= release
        account.reserved -= release
        if holding.reserved_to_close and side in CLOSING_SIDES:
            holding.reserved_to_close -= quantity
        filled = working.filled_quantity = already + quantity
        working.fill_value += quantity * price
        self._entry_seq += 1
        account.ledger.append(LedgerEntry(
            f"T{self._entry_seq:010d}", _FILL_ENTRY, at, cash_flow, instrument.symbol, side,
            quantity, price, fee, working.order_id))
        if working.quantity - filled == ZERO:
            working.filled_at = at
            working.move_to(_FILLED, at)
            self._close_out(working)
            kind = EventKind.FILL
        else:
            working.move_to(_PARTIAL, at)
            kind = EventKind.PARTIAL_FILL
        if self.events.has_listeners:
            self._emit(kind, working.account_id, working, fill_quantity=quantity,
                       fill_price=price, position_quantity=holding.quantity)

    def _finish(self, working: WorkingOrder, status: OrderStatus, at: datetime) -> None:
        """Close an open order without (further) fills: canceled or expired."""
        self._release(working)
        working.move_to(status, at)
        if status is OrderStatus.CANCELED:
            working.canceled_at = at
            kind = EventKind.CANCELED
        else:
            working.expired_at = at
            kind = EventKind.EXPIRED
        self._close_out(working)
        self._emit(kind, working.account_id, working)

    def _release(self, working: WorkingOrder) -> None:
        account = self._accounts[working.account_id]
        account.reserved -= working.reserved
        working.reserved = ZERO
        self._release_close_reservation(working, working.remaining)

    def _release_close_reservation(self, working: WorkingOrder, quantity: Decimal) -> None:
        if _closes(working):
            holding = self._accounts[working.account_id].holdings.get(working.instrument.symbol)
            if holding is not None:
                holding.reserved_to_close -= quantity

    def _hold_close_reservation(self, working: WorkingOrder) -> None:
        if _closes(working):
            self._accounts[working.account_id].holding(working.instrument).reserved_to_close \
                += working.remaining

    def _close_out(self, working: WorkingOrder) -> None:
        symbol = working.instrument.symbol
        book = self._open.get(symbol)
        if book is not None:
            book.pop(working.order_id, None)
            if not book:
                del self._open[symbol]
        self._auction.pop(working.order_id, None)

    def _expire_due(self, at: datetime) -> None:
        for working in list(self._orders_open()):
            if working.expires_at is not None and working.expires_at <= at:
                self._finish(working, OrderStatus.EXPIRED, at)

    def _orders_open(self) -> Iterable[WorkingOrder]:
        for book in self._open.values():
            yield from book.values()
        yield from self._auction.values()

    def _settle_expiring_options(self, at: datetime) -> None:
        """At a close, options whose last session it ends stop trading: their open
        orders expire and holdings settle in cash at intrinsic value (see ``expiry``)."""
        for working in list(self._orders_open()):
            if has_expired(self.calendar, working.instrument, at):
                self._finish(working, OrderStatus.EXPIRED, at)
        for account in self._accounts.values():
            for holding in account.holdings.values():
                instrument = holding.instrument
                if holding.quantity == 0 or not has_expired(self.calendar, instrument, at):
                    continue
                underlying, _ = option_terms(instrument)
                spot = self.prices.quote(underlying, at).last
                settle(account, holding, spot, at, self._next_entry_id())

    # --- events ----------------------------------------------------------------------

    def subscribe(self, account_id: str | None = None) -> Subscription:
        """Every order and cash event from now on, for one account or all."""
        return self.events.subscribe(account_id)

    def _emit(self, kind: EventKind, account_id: str, working: WorkingOrder | None, *,
              fill_quantity: Decimal | None = None, fill_price: Decimal | None = None,
              position_quantity: Decimal | None = None, amount: Decimal | None = None) -> None:
        if not self.events.has_listeners:
            return
        now = self.clock.now()
        self.events.publish(SimEvent(
            seq=self.events.next_seq(), kind=kind, account_id=account_id, at=now,
            order=working.snapshot(now) if working else None, fill_quantity=fill_quantity,
            fill_price=fill_price, position_quantity=position_quantity, amount=amount))

    def _next_entry_id(self) -> str:
        self._entry_seq += 1
        return f"T{self._entry_seq:010d}"


def _session_end(session: SessionTimes, extended_hours: bool) -> datetime:
    """When a day order stops working: the close, or the end of the post-market."""
    return session.post_close if extended_hours else session.close


def _closes(working: WorkingOrder) -> bool:
    return working.side in CLOSING_SIDES


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC datetime; handy for tests and demos that pin the clock."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)

"""Random place / modify / cancel / advance / set_price runs on one account, with the
engine's bookkeeping invariants checked after every step."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import (
    OptionType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import BrokerError, InvalidOrderError
from brokerlink.core.lifecycle import can_transition
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.events import SimEvent
from brokerlink.sim.rules import ClosedMarketPolicy, FeeSchedule
from brokerlink.sim.universe import quantize_to_tick
from tests.unit.sim.engine_helpers import START, state_of

ACCT = "PROP"
SYMBOLS = ("AAPL", "F", "AMC")  # liquid, easy to borrow; not marginable nor fractionable
OPTION_EXPIRY = date(2026, 12, 4)
CENT = Decimal("0.01")
QUANTITIES = st.sampled_from([Decimal(q) for q in ("1", "3", "10", "40", "250", "1200", "4000")])
SIDES = st.sampled_from([OrderSide.BUY, OrderSide.SELL, OrderSide.SELL_SHORT,
                         OrderSide.BUY_TO_COVER])
OPTION_SIDE = {OrderSide.BUY: OrderSide.BUY_TO_OPEN, OrderSide.SELL: OrderSide.SELL_TO_CLOSE,
               OrderSide.SELL_SHORT: OrderSide.SELL_TO_OPEN,
               OrderSide.BUY_TO_COVER: OrderSide.BUY_TO_CLOSE}
# Weighted towards what most often trades; every type and time in force still appears.
TYPES = st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT, *OrderType])
TIFS = st.sampled_from([TimeInForce.DAY, TimeInForce.GTC, *TimeInForce])
OFFSETS = st.integers(min_value=-40, max_value=40)
FEES = FeeSchedule(per_share=Decimal("0.003"), minimum=Decimal(1))


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # QUEUE keeps orders placed while the market is closed, so they rest across
        # sessions; the REJECT policy has its own tests.
        self.engine = SimEngine(seed=3, start=START, price_step=timedelta(minutes=30),
                                closed_market=ClosedMarketPolicy.QUEUE, fees=FEES)
        self.engine.open_account(account_id=ACCT, cash=Decimal(150_000), options_level=4)
        spot = self.engine.quote("AAPL").last or Decimal(0)
        chain = [c for c in self.engine.universe.option_chain("AAPL", START.date())
                 if c.expiration == OPTION_EXPIRY]
        # A call and a put near the money, expiring within reach of a long run.
        self.symbols = (*SYMBOLS, *(min((c for c in chain if c.option_type is kind),
                                        key=lambda c: abs((c.strike or spot) - spot)).symbol
                                    for kind in OptionType))
        self.stream = self.engine.subscribe(ACCT)
        self.order_ids: list[str] = []
        self.statuses: dict[str, list[OrderStatus]] = defaultdict(list)
        self.filled: dict[str, Decimal] = {}

    # --- helpers -----------------------------------------------------------------------

    def _price(self, symbol: str, offset: int) -> Decimal:
        last = self.engine.quote(symbol).last or Decimal(1)
        return max(CENT, last + offset * CENT * (10 if symbol == "AAPL" else 1))

    def _refused_without_trace(self, operation: str, action: object) -> None:
        """Run ``action``; if the engine refuses, nothing may have changed."""
        before = state_of(self.engine, ACCT)
        assert callable(action)
        try:
            action()
        except BrokerError:
            assert state_of(self.engine, ACCT) == before, operation
            assert self.stream.get_nowait() is None, operation

    def _pick(self, pick: int, only_open: bool) -> str:
        """An order id: among open orders when asked and there are any."""
        candidates = [o.order_id for o in self.engine.orders(ACCT) if o.is_open] \
            if only_open else []
        candidates = candidates or self.order_ids
        return candidates[pick % len(candidates)]

    # --- rules -------------------------------------------------------------------------

    @rule(pick=st.integers(min_value=0, max_value=4), side=SIDES, quantity=QUANTITIES,
          kind=TYPES,
          tif=TIFS, offset=OFFSETS, stop_offset=OFFSETS,
          extended=st.sampled_from([False, False, True]))
    def place(self, pick: int, side: OrderSide, quantity: Decimal, kind: OrderType,
              tif: TimeInForce, offset: int, stop_offset: int, extended: bool) -> None:
        symbol = self.symbols[pick]
        if symbol not in SYMBOLS:
            side = OPTION_SIDE[side]
        fields: dict[str, object] = {"symbol": symbol, "side": side, "quantity": quantity,
                                     "order_type": kind, "time_in_force": tif,
                                     "extended_hours": extended}
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            fields["limit_price"] = self._price(symbol, offset)
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
            fields["stop_price"] = self._price(symbol, stop_offset)
        if kind is OrderType.TRAILING_STOP:
            fields["trail_amount"] = Decimal(abs(offset) + 1) * CENT * 10
        try:
            request = OrderRequest.model_validate(fields)
        except InvalidOrderError:
            return  # refused by the model, before the engine sees it

        def act() -> None:
            self.order_ids.append(self.engine.place_order(ACCT, request).order_id)

        self._refused_without_trace("place", act)

    @rule(pick=st.integers(min_value=0), quantity=st.one_of(st.none(), QUANTITIES),
          offset=st.one_of(st.none(), OFFSETS), tif=st.one_of(st.none(), TIFS),
          style=st.sampled_from(list(ModifyStyle)), only_open=st.sampled_from([True, True, False]))
    def modify(self, pick: int, quantity: Decimal | None, offset: int | None,
               tif: TimeInForce | None, style: ModifyStyle, only_open: bool) -> None:
        if not self.order_ids:
            return
        target = self.engine.get_order(ACCT, self._pick(pick, only_open))
        limit = None if offset is None or target.limit_price is None \
            else self._price(target.symbol, offset)
        try:
            changes = OrderModify(quantity=quantity, limit_price=limit, time_in_force=tif)
        except InvalidOrderError:
            return

        def act() -> None:
            changed = self.engine.modify_order(ACCT, target.order_id, changes, style=style)
            if changed.order_id not in self.order_ids:
                self.order_ids.append(changed.order_id)

        self._refused_without_trace("modify", act)

    @rule(pick=st.integers(min_value=0), only_open=st.sampled_from([True, True, False]))
    def cancel(self, pick: int, only_open: bool) -> None:
        if not self.order_ids:
            return
        order_id = self._pick(pick, only_open)
        self._refused_without_trace("cancel",
                                    lambda: self.engine.cancel_order(ACCT, order_id))

    @rule(minutes=st.sampled_from([1, 7, 30, 95, 390, 1000, 2880]))
    def advance(self, minutes: int) -> None:
        self.engine.advance(timedelta(minutes=minutes))

    @rule(pick=st.integers(min_value=0, max_value=4), offset=OFFSETS)
    def set_price(self, pick: int, offset: int) -> None:
        symbol = self.symbols[pick]
        price = self._price(symbol, offset)
        instrument = self.engine.instrument(symbol)
        self.engine.set_price(symbol, quantize_to_tick(price, instrument.tick_for(price)))

    @rule(amount=st.sampled_from([Decimal(v) for v in ("-50000", "-5000", "-1", "2500")]))
    def fund(self, amount: Decimal) -> None:
        before = state_of(self.engine, ACCT)
        try:
            self.engine.fund(ACCT, amount)
        except ValueError:
            assert state_of(self.engine, ACCT) == before

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def events_follow_the_state_machine(self) -> None:
        event: SimEvent | None
        while (event := self.stream.get_nowait()) is not None:
            if event.order is None:
                continue
            seen = self.statuses[event.order.order_id]
            previous = seen[-1] if seen else OrderStatus.PENDING_NEW
            assert can_transition(previous, event.order.status), (previous, event.order.status)
            seen.append(event.order.status)

    @invariant()
    def fills_only_grow_and_stay_within_quantity(self) -> None:
        for order in self.engine.orders(ACCT):
            assert 0 <= order.filled_quantity <= order.quantity
            assert order.filled_quantity >= self.filled.get(order.order_id, Decimal(0))
            self.filled[order.order_id] = order.filled_quantity

    @invariant()
    def equity_is_cash_plus_market_value(self) -> None:
        balances = self.engine.balances(ACCT)
        assert balances.cash + balances.market_value == balances.total_value
        ledger = self.engine.transactions(ACCT, START, self.engine.now())
        assert sum((t.amount for t in ledger), Decimal(0)) == balances.cash

    @invariant()
    def ledger_matches_orders_and_positions(self) -> None:
        ledger = self.engine.transactions(ACCT, START, self.engine.now())
        per_order: dict[str, Decimal] = defaultdict(Decimal)
        per_symbol: dict[str, Decimal] = defaultdict(Decimal)
        for entry in ledger:
            if entry.type is TransactionType.OTHER and entry.symbol and entry.quantity:
                per_symbol[entry.symbol] += entry.quantity  # an option settled at expiry
            if entry.type is TransactionType.FILL:
                assert entry.order_id is not None
                assert entry.quantity is not None
                assert entry.symbol is not None
                assert entry.side is not None
                per_order[entry.order_id] += entry.quantity
                per_symbol[entry.symbol] += entry.quantity if entry.side.is_buy \
                    else -entry.quantity
        fees: dict[str, Decimal] = defaultdict(Decimal)
        for entry in ledger:
            if entry.order_id is not None:
                fees[entry.order_id] += entry.fees
        for order in self.engine.orders(ACCT):
            assert per_order[order.order_id] == order.filled_quantity, order.order_id
            # the commission is the order's, however many fills it took
            expected = FEES.fee(self.engine.instrument(order.symbol), order.filled_quantity) \
                if order.filled_quantity else Decimal(0)
            assert fees[order.order_id] == expected
        positions = {p.symbol: p.quantity for p in self.engine.positions(ACCT)}
        assert positions == {s: q for s, q in per_symbol.items() if q != 0}

    @invariant()
    def nothing_is_held_without_open_orders(self) -> None:
        account = self.engine.account_settings(ACCT)
        assert account.reserved >= 0
        for holding in account.holdings.values():
            assert 0 <= holding.reserved_to_close <= abs(holding.quantity)
        if not any(o.is_open for o in self.engine.orders(ACCT)):
            assert account.reserved == 0
            assert all(h.reserved_to_close == 0 for h in account.holdings.values())


EngineMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                           deadline=None)
TestEngineMachine = EngineMachine.TestCase

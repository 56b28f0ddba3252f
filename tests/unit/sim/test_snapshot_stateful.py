"""Random runs on two engines given the same operations, one of them snapshotted and
restored between steps: they must answer and end up exactly alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import BrokerError, InvalidOrderError
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.rules import ClosedMarketPolicy, FeeSchedule
from brokerlink.sim.snapshot import decode, encode, restore_engine, snapshot_account
from brokerlink.sim.universe import quantize_to_tick
from tests.unit.sim.engine_helpers import START

ACCT = "TWIN"
SYMBOLS = ("AAPL", "BYND", "F")
CENT = Decimal("0.01")
FEES = FeeSchedule(per_share=Decimal("0.003"), minimum=Decimal(1))
STEP = timedelta(minutes=30)


def engine() -> SimEngine:
    return SimEngine(seed=4, start=START, price_step=STEP, fees=FEES,
                     closed_market=ClosedMarketPolicy.QUEUE)


class TwinMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.original = engine()
        self.original.open_account(account_id=ACCT, cash=Decimal(200_000), options_level=4)
        self.restored = self._restore(self.original)
        self.order_ids: list[str] = []

    @staticmethod
    def _restore(source: SimEngine) -> SimEngine:
        return restore_engine(decode(encode(snapshot_account(source, ACCT))), fees=FEES,
                              closed_market=ClosedMarketPolicy.QUEUE, price_step=STEP)

    def _both(self, action: Callable[[SimEngine], object]) -> object:
        """Run ``action`` on both engines: same answer, or the same refusal."""
        outcomes: list[object] = []
        for sim in (self.original, self.restored):
            try:
                result = action(sim)
            except (BrokerError, ValueError) as exc:
                result = (type(exc), str(exc))
            outcomes.append(result.model_dump(exclude={"as_of"})
                            if hasattr(result, "model_dump") else result)
        assert outcomes[0] == outcomes[1]
        return outcomes[0]

    @rule(pick=st.integers(0, 2), side=st.sampled_from([OrderSide.BUY, OrderSide.SELL,
                                                        OrderSide.SELL_SHORT]),
          quantity=st.sampled_from([Decimal(q) for q in ("1", "10", "300", "2000")]),
          kind=st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                                OrderType.TRAILING_STOP]),
          tif=st.sampled_from([TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC,
                               TimeInForce.CLS]),
          offset=st.integers(-30, 30))
    def place(self, pick: int, side: OrderSide, quantity: Decimal, kind: OrderType,
              tif: TimeInForce, offset: int) -> None:
        symbol = SYMBOLS[pick]
        price = max(CENT, (self.original.quote(symbol).last or CENT) + offset * CENT * 10)
        fields: dict[str, object] = {"symbol": symbol, "side": side, "quantity": quantity,
                                     "order_type": kind, "time_in_force": tif}
        if kind is OrderType.LIMIT:
            fields["limit_price"] = price
        if kind is OrderType.STOP:
            fields["stop_price"] = price
        if kind is OrderType.TRAILING_STOP:
            fields["trail_percent"] = Decimal(abs(offset) % 9 + 1)
        try:
            request = OrderRequest.model_validate(fields)
        except InvalidOrderError:
            return
        placed = self._both(lambda sim: sim.place_order(ACCT, request))
        if isinstance(placed, dict):
            self.order_ids.append(placed["order_id"])

    @precondition(lambda self: bool(self.order_ids))
    @rule(pick=st.integers(min_value=0), quantity=st.sampled_from([None, Decimal(5)]),
          style=st.sampled_from(list(ModifyStyle)))
    def modify(self, pick: int, quantity: Decimal | None, style: ModifyStyle) -> None:
        order_id = self.order_ids[pick % len(self.order_ids)]
        changes = OrderModify(quantity=quantity, time_in_force=TimeInForce.GTC)
        changed = self._both(lambda sim: sim.modify_order(ACCT, order_id, changes, style=style))
        if isinstance(changed, dict) and changed["order_id"] not in self.order_ids:
            self.order_ids.append(changed["order_id"])

    @precondition(lambda self: bool(self.order_ids))
    @rule(pick=st.integers(min_value=0))
    def cancel(self, pick: int) -> None:
        order_id = self.order_ids[pick % len(self.order_ids)]
        self._both(lambda sim: sim.cancel_order(ACCT, order_id))

    @rule(minutes=st.sampled_from([1, 29, 95, 400, 1500]))
    def advance(self, minutes: int) -> None:
        self._both(lambda sim: sim.advance(timedelta(minutes=minutes)))

    @rule(pick=st.integers(0, 2), offset=st.integers(-20, 20))
    def set_price(self, pick: int, offset: int) -> None:
        symbol = SYMBOLS[pick]
        instrument = self.original.instrument(symbol)
        price = max(CENT, (self.original.quote(symbol).last or CENT) + offset * CENT)
        self._both(lambda sim: sim.set_price(
            symbol, quantize_to_tick(price, instrument.tick_for(price))))

    @rule()
    def restore_again(self) -> None:
        self.restored = self._restore(self.restored)

    @invariant()
    def same_state(self) -> None:
        assert snapshot_account(self.restored, ACCT) == snapshot_account(self.original, ACCT)
        assert self.restored.balances(ACCT) == self.original.balances(ACCT)
        assert self.restored.positions(ACCT) == self.original.positions(ACCT)


TwinMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20,
                                         deadline=None)
TestTwinMachine = TwinMachine.TestCase

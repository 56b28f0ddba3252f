"""Best-execution ranking rules, one at a time, on hand-built inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerlink.adapters.paper import PAPER_CAPABILITIES
from brokerlink.adapters.tradier.spec import TRADIER_CAPABILITIES
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import BrokerUnavailableError
from brokerlink.core.models import AccountBalances, OrderRequest, Quote
from brokerlink.manager.commissions import CommissionRule, CommissionSchedule
from brokerlink.manager.routing import NoEligibleBrokerError, RouteInput, rank
from brokerlink.storage.records import ConnectionStatus

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
BUY = OrderRequest(symbol="AAPL", side="buy", quantity=10)


def _balances(power: str) -> AccountBalances:
    value = Decimal(power)
    return AccountBalances(account_id="A", cash=value, cash_available=value,
                           cash_withdrawable=value, buying_power=value, total_value=value,
                           market_value=Decimal(0))


def _quote(bid: str, ask: str) -> Quote:
    return Quote(symbol="AAPL", bid=Decimal(bid), ask=Decimal(ask), timestamp=NOW)


def _input(connection_id: str, *, broker: BrokerType = BrokerType.PAPER,
           status: ConnectionStatus = ConnectionStatus.CONNECTED, power: str = "100000",
           bid: str = "99.9", ask: str = "100", quote: bool = True,
           held: Decimal | None = Decimal(0)) -> RouteInput:
    capabilities = TRADIER_CAPABILITIES if broker is BrokerType.TRADIER else PAPER_CAPABILITIES
    return RouteInput(connection_id, broker, connection_id, "A", capabilities, status,
                      balances=_balances(power), quote=_quote(bid, ask) if quote else None,
                      quote_error=None if quote else BrokerUnavailableError("down"),
                      held_quantity=held)


def _ids(order: OrderRequest, *inputs: RouteInput,
         schedule: CommissionSchedule | None = None) -> list[tuple[str, bool]]:
    plan = rank(order, inputs, schedule or CommissionSchedule())
    return [(c.connection_id, c.eligible) for c in plan.ranked]


def test_lowest_ask_wins_a_buy_and_highest_bid_wins_a_sell() -> None:
    cheap, dear = _input("cheap", ask="100", bid="99"), _input("dear", ask="101", bid="100")
    assert _ids(BUY, dear, cheap) == [("cheap", True), ("dear", True)]
    cheap_held = _input("cheap", ask="100", bid="99", held=Decimal(10))
    dear_held = _input("dear", ask="101", bid="100", held=Decimal(10))
    sell = OrderRequest(symbol="AAPL", side="sell", quantity=10)
    assert _ids(sell, cheap_held, dear_held) == [("dear", True), ("cheap", True)]


def test_capability_excludes_with_the_reason() -> None:
    fractional = OrderRequest(symbol="AAPL", side="buy", quantity=Decimal("0.5"))
    plan = rank(fractional, [_input("tradier", broker=BrokerType.TRADIER, ask="90"),
                             _input("paper", ask="100")], CommissionSchedule())
    assert plan.require().connection_id == "paper"
    excluded = plan.ranked[1]
    assert excluded.rank is None
    assert any("fractional" in r for r in excluded.reasons)


def test_buying_power_excludes_and_limit_price_is_what_must_be_covered() -> None:
    poor, rich = _input("poor", power="500", ask="90"), _input("rich", ask="100")
    assert _ids(BUY, poor, rich) == [("rich", True), ("poor", False)]
    limit = OrderRequest(symbol="AAPL", side="buy", quantity=10, order_type="limit",
                         limit_price=Decimal(40))
    assert _ids(limit, poor, rich) == [("poor", True), ("rich", True)]


def test_commission_is_part_of_the_net_price() -> None:
    schedule = CommissionSchedule(by_connection={"cheap": CommissionRule(
        per_share=Decimal("0.5"), minimum=Decimal(10))})
    cheap, dear = _input("cheap", ask="100"), _input("dear", ask="100.5")
    # 10 shares: max(5, 10) = $10 fee, $1 a share: 101 net against 100.5.
    plan = rank(BUY, [cheap, dear], schedule)
    assert plan.require().connection_id == "dear"
    assert plan.ranked[1].commission == Decimal(10)
    assert plan.ranked[1].net_price == Decimal(101)


def test_health_excludes_reauth_and_penalises_degraded_and_unquoted() -> None:
    reauth = _input("reauth", status=ConnectionStatus.REAUTH_REQUIRED, ask="1")
    degraded = _input("degraded", status=ConnectionStatus.DEGRADED, ask="90")
    unquoted = _input("unquoted", quote=False)
    healthy = _input("healthy", ask="100")
    assert _ids(BUY, reauth, degraded, unquoted, healthy) == [
        ("healthy", True), ("degraded", True), ("unquoted", True), ("reauth", False)]


def test_closing_needs_the_holding() -> None:
    sell = OrderRequest(symbol="AAPL", side="sell", quantity=5)
    flat, holder = _input("flat", bid="200"), _input("holder", held=Decimal(5))
    unknown = _input("unknown", bid="300", held=None)
    assert _ids(sell, flat, holder, unknown) == [("holder", True), ("flat", False),
                                                 ("unknown", False)]


def test_nothing_eligible_raises_with_every_reason() -> None:
    plan = rank(BUY, [_input("poor", power="1")], CommissionSchedule())
    assert plan.chosen is None
    with pytest.raises(NoEligibleBrokerError, match="buying power") as raised:
        plan.require()
    assert raised.value.plan is plan
    assert plan.as_dict()["chosen"] is None

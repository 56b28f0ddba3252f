"""Fan-out, consolidation, conversion and commissions without any network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerlink.core.enums import AssetType, BrokerType, DataSource
from brokerlink.core.errors import BrokerError, SymbolNotFoundError
from brokerlink.core.models import AccountBalances, OrderRequest, Position
from brokerlink.manager.aggregate import (
    Aggregated,
    ReadTimeoutError,
    Sourced,
    Target,
    UnexpectedBrokerError,
    consolidate,
    fan_out,
)
from brokerlink.manager.commissions import CommissionRule, CommissionSchedule
from brokerlink.manager.fx import NO_RATES, StaticFxRates
from brokerlink.manager.valuation import value_portfolio

NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
A = Target("conn-a", BrokerType.ALPACA, "alpaca A", "A1")
B = Target("conn-b", BrokerType.TRADIER, "tradier B", "B1")
C = Target("conn-c", BrokerType.PAPER, "paper C", "C1")


def _position(symbol: str, quantity: str, price: str, *, currency: str = "USD",
              account: str = "A1") -> Position:
    qty, px = Decimal(quantity), Decimal(price)
    return Position(account_id=account, symbol=symbol, quantity=qty, quantity_available=qty,
                    average_cost=px, current_price=px, market_value=qty * px,
                    unrealized_pnl=Decimal(0), currency=currency, as_of=NOW)


def _balances(account: str, total: str, currency: str) -> AccountBalances:
    value = Decimal(total)
    return AccountBalances(account_id=account, currency=currency, cash=value,
                           cash_available=value, cash_withdrawable=value, buying_power=value,
                           total_value=value, market_value=Decimal(0), as_of=NOW)


def _sourced(target: Target, value: AccountBalances) -> Sourced[AccountBalances]:
    return Sourced(target.connection_id, target.broker, target.label, target.account_id,
                   value, NOW, DataSource.LIVE)


async def test_fan_out_keeps_answers_and_types_every_failure() -> None:
    async def call(target: Target) -> list[str]:
        if target is A:
            return ["a"]
        if target is B:
            await asyncio.sleep(10)
            return ["never"]
        if target is C:
            raise SymbolNotFoundError("no such symbol")
        raise ValueError("bug")

    broken = Target("conn-d", BrokerType.ALPACA, "broken", None)
    result = await fan_out([A, B, C, broken], call, seconds=0.05)
    assert result.values == ["a"]
    assert result.items[0].connection_id == "conn-a"
    assert isinstance(result.errors["conn-b"], ReadTimeoutError)
    assert result.errors["conn-b"].retryable
    assert isinstance(result.errors["conn-c"], SymbolNotFoundError)
    assert result.errors["conn-c"].connection_id == "conn-c"
    assert isinstance(result.errors["conn-d"], UnexpectedBrokerError)
    assert not result.complete
    with pytest.raises(TypeError):
        result.errors["x"] = BrokerError("frozen")  # type: ignore[index]


def test_consolidated_view_folds_a_symbol_across_accounts() -> None:
    items = (
        Sourced(A.connection_id, A.broker, A.label, "A1", _position("AAPL", "5", "150"),
                NOW, DataSource.LIVE),
        Sourced(B.connection_id, B.broker, B.label, "B1",
                _position("aapl", "3", "152", account="B1"), NOW, DataSource.LIVE),
        Sourced(B.connection_id, B.broker, B.label, "B1",
                _position("SAP", "2", "120", currency="EUR", account="B1"), NOW,
                DataSource.LIVE),
        Sourced(C.connection_id, C.broker, C.label, "C1",
                _position("SAP", "1", "130", account="C1"), NOW, DataSource.LIVE),
    )
    view = consolidate(Aggregated(items, {"conn-x": BrokerError("down")}, NOW))
    lines = {(line.symbol, line.currency): line for line in view.lines}
    aapl = lines["AAPL", "USD"]
    assert aapl.quantity == Decimal(8)
    assert aapl.market_value == Decimal(5 * 150 + 3 * 152)
    assert [h.connection_id for h in aapl.holdings] == ["conn-a", "conn-b"]
    assert aapl.brokers == (BrokerType.ALPACA, BrokerType.TRADIER)
    assert aapl.average_cost == Decimal(5 * 150 + 3 * 152) / 8
    # The same symbol in two currencies is two lines: never added without a rate.
    assert lines["SAP", "EUR"].quantity == 2
    assert lines["SAP", "USD"].quantity == 1
    assert set(view.errors) == {"conn-x"}
    assert lines["AAPL", "USD"].asset_type is AssetType.EQUITY


async def test_portfolio_value_states_rates_or_leaves_amounts_unconverted() -> None:
    balances = Aggregated((
        _sourced(A, _balances("A1", "1000", "USD")),
        _sourced(B, _balances("B1", "500", "EUR")),
        _sourced(C, _balances("C1", "20000", "JPY")),
    ), {}, NOW)
    rates = StaticFxRates({("EUR", "USD"): Decimal("1.10")}, source="ECB reference 2026-01-02",
                          as_of=NOW)
    value = await value_portfolio(balances, rates, "usd")
    assert value.base_currency == "USD"
    assert value.total == Decimal("1550.00")
    eur = next(line for line in value.lines if line.currency == "EUR")
    assert eur.rate is not None
    assert eur.rate.source == "ECB reference 2026-01-02"
    assert eur.converted == Decimal("550.00")
    assert [line.currency for line in value.unconverted] == ["JPY"]
    assert not value.complete
    assert set(value.rate_sources) == {"identity", "ECB reference 2026-01-02"}

    plain = await value_portfolio(balances, NO_RATES, "USD")
    assert plain.total == Decimal(1000)
    assert {line.currency for line in plain.unconverted} == {"EUR", "JPY"}


async def test_static_rates_invert_and_say_so() -> None:
    rates = StaticFxRates({("EUR", "USD"): Decimal(2)}, source="table")
    inverse = await rates.rate("usd", "eur")
    assert inverse is not None
    assert inverse.rate == Decimal("0.5")
    assert "inverse" in inverse.source
    assert await rates.rate("GBP", "USD") is None
    with pytest.raises(ValueError, match="positive"):
        StaticFxRates({("EUR", "USD"): Decimal(0)}, source="bad")


def test_commission_rules() -> None:
    rule = CommissionRule(per_share=Decimal("0.005"), minimum=Decimal(1),
                          maximum=Decimal(20))
    assert rule.estimate(OrderRequest(symbol="AAPL", side="buy", quantity=10)) == 1
    assert rule.estimate(OrderRequest(symbol="AAPL", side="buy", quantity=1000)) == 5
    assert rule.estimate(OrderRequest(symbol="AAPL", side="buy", quantity=10**6)) == 20
    option = OrderRequest(symbol="AAPL250117C00150000", side="buy_to_open", quantity=3)
    schedule = CommissionSchedule()
    assert schedule.estimate(BrokerType.TRADIER, option) == Decimal("1.05")
    assert schedule.estimate(BrokerType.ALPACA, option) == 0
    with pytest.raises(ValueError, match="negative"):
        CommissionRule(per_share=Decimal(-1))

"""Cross-check: Alpaca's official SDK (alpaca-py, the ``bench`` extra) works against the
emulator. alpaca-py enforces required fields, enum values, UUIDs and timestamps
(``REFERENCE.md`` section 9), so it catches shape errors the schema check might not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app, create_env

pytest.importorskip("alpaca", reason="alpaca-py is not installed (pip install -e .[dev])")

from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
KEY, SECRET = "PKALPACAPY01", "alpaca-py-secret"


def test_alpaca_py_trades_against_the_emulator() -> None:
    with EmulatorServer.run_in_thread(create_app(create_env(start=START))) as server:
        # Any: alpaca-py's results are unions with raw dicts (for raw_data=True).
        client: Any = TradingClient(KEY, SECRET, paper=True, url_override=server.url)
        assert str(client.get_account().equity) == "100000"
        market = client.submit_order(MarketOrderRequest(
            symbol="AAPL", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        assert market.status is OrderStatus.FILLED
        limit = client.submit_order(LimitOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
            limit_price=100))
        replacement = client.replace_order_by_id(limit.id, ReplaceOrderRequest(limit_price=101))
        assert str(replacement.replaces) == str(limit.id)
        client.cancel_order_by_id(replacement.id)
        statuses = {o.status for o in client.get_orders(
            GetOrdersRequest(status=QueryOrderStatus.ALL))}
        assert statuses == {OrderStatus.FILLED, OrderStatus.REPLACED, OrderStatus.CANCELED}
        assert client.get_order_by_client_id(market.client_order_id).id == market.id
        (position,) = client.get_all_positions()
        assert (position.symbol, position.qty) == ("AAPL", "2")
        assert client.get_clock().is_open
        assert client.get_asset("AAPL").symbol == "AAPL"
        assert client.get_calendar()
        with pytest.raises(APIError) as refused:
            client.submit_order(MarketOrderRequest(
                symbol="AAPL", qty=100_000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
        assert refused.value.status_code == 403
        data: Any = StockHistoricalDataClient(KEY, SECRET, url_override=server.url)
        quotes = data.get_stock_latest_quote(StockLatestQuoteRequest(
            symbol_or_symbols=["AAPL", "MSFT"]))
        assert set(quotes) == {"AAPL", "MSFT"}
        assert quotes["AAPL"].bid_price <= quotes["AAPL"].ask_price
        trades = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))
        assert trades["AAPL"].price > 0

"""Issue 19 item B on Tradier, over a real loopback socket: a place, change or cancel
answered 200 with a body that cannot be read is ambiguous (the order may exist), never
an untyped error; an unreadable read is a typed ``UnexpectedResponseError``; a 200
``errors`` body stays a plain refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from brokerlink.adapters._shared import RetryPolicy
from brokerlink.adapters.tradier import TradierBroker
from brokerlink.core.errors import (
    BrokerError,
    InsufficientFundsError,
    OrderNotFoundError,
    RequestTimeoutError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)
from brokerlink.core.models import OrderModify, OrderRequest
from tests.adapters.tradier.raw_server import ACCOUNT, ORDER_ID, RawTradier

ORDERS = f"/v1/accounts/{ACCOUNT}/orders"
ONE_ORDER = f"{ORDERS}/{ORDER_ID}"

UNREADABLE: dict[str, bytes] = {
    "empty object": b"{}",
    "order without status": b'{"order": {}}',
    "null": b"null",
    "list": b"[]",
    "empty": b"",
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"order": ' * 5_000 + b"{}" + b"}" * 5_000,
    "truncated": b'{"order": {"id": 12',
    "html": b"<html><body>Order received</body></html>",
    "not utf-8": b'{"order": {"id": 1, "status": "\xff\xfe"}}',
    "huge exponent id": b'{"order": {"id": 1e999999, "status": "ok"}}',
    "huge integer id": b'{"order": {"id": ' + b"9" * 4_000 + b', "status": "ok"}}',
    "too many digits": b'{"order": {"id": ' + b"9" * 5_000 + b', "status": "ok"}}',
    "infinite id": b'{"order": {"id": Infinity, "status": "ok"}}',
    "wrong types": b'{"order": {"id": "twelve", "status": ["ok"]}}',
}


@pytest.fixture
async def raw() -> AsyncIterator[tuple[RawTradier, TradierBroker]]:
    server = RawTradier()
    async with server.running() as url:
        broker = TradierBroker(access_token="test-token", base_url=url,
                               retry=RetryPolicy(max_attempts=1))
        async with broker:
            yield server, broker


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_placement_answer_is_ambiguous(
        raw: tuple[RawTradier, TradierBroker], body: bytes) -> None:
    server, broker = raw
    server.answer("POST", ORDERS, 200, body,
                  content_type="text/html" if body.startswith(b"<") else "application/json")
    request = OrderRequest(symbol="KO", side="buy", quantity=1)
    with pytest.raises(UnreadableAcknowledgementError) as raised:
        await broker.place_order(request)
    # Ambiguous like a timeout: the caller reconciles by client order id, never resends.
    assert isinstance(raised.value, RequestTimeoutError)
    assert raised.value.client_order_id == request.client_order_id
    assert raised.value.http_status == 200
    assert "test-token" not in str(raised.value)
    assert server.sent("POST", ORDERS) == 1


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_change_or_cancel_answer_is_ambiguous(
        raw: tuple[RawTradier, TradierBroker], body: bytes) -> None:
    server, broker = raw
    server.answer("PUT", ONE_ORDER, 200, body)
    server.answer("DELETE", ONE_ORDER, 200, body)
    with pytest.raises(UnreadableAcknowledgementError):
        await broker.modify_order(str(ORDER_ID), OrderModify(limit_price=Decimal("51")))
    with pytest.raises(UnreadableAcknowledgementError):
        await broker.cancel_order(str(ORDER_ID))
    assert (server.sent("PUT", ONE_ORDER), server.sent("DELETE", ONE_ORDER)) == (1, 1)


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_read_is_unexpected_not_ambiguous(
        raw: tuple[RawTradier, TradierBroker], body: bytes) -> None:
    server, broker = raw
    server.answer("GET", f"/v1/accounts/{ACCOUNT}/balances", 200, body)
    server.answer("GET", ORDERS, 200, body)
    with pytest.raises(UnexpectedResponseError) as balances:
        await broker.get_balances()
    assert not isinstance(balances.value, RequestTimeoutError)
    with pytest.raises(UnexpectedResponseError):
        await broker.get_order_by_client_id("bl-known")


POSITION = {"positions": {"position": {"cost_basis": 100.0, "id": 1, "quantity": 1.0,
                                       "symbol": "KO", "date_acquired":
                                           "2026-11-20T15:00:00.000Z"}}}


@pytest.mark.parametrize("quote", [
    # A price so large the position's P&L cannot be rounded to cents (was an untyped
    # decimal.InvalidOperation from the mapping).
    b'{"symbol": "KO", "last": 9E+999990}',
    # A quote time no datetime can hold (was an untyped OverflowError).
    b'{"symbol": "KO", "last": 60.0, "trade_date": 1000000000000000000000000000000}',
    b'{"symbol": "KO", "last": 60.0, "trade_date": -100000000000000000000}',
], ids=["overflowing price", "far future time", "far past time"])
async def test_absurd_numbers_are_typed(raw: tuple[RawTradier, TradierBroker],
                                        quote: bytes) -> None:
    server, broker = raw
    server.answer("GET", f"/v1/accounts/{ACCOUNT}/positions", 200, POSITION)
    server.answer("GET", "/v1/markets/quotes", 200, b'{"quotes": {"quote": ' + quote + b"}}")
    with pytest.raises(UnexpectedResponseError) as raised:
        await broker.get_positions()
    assert "not JSON" not in raised.value.message


async def test_a_200_errors_body_is_a_refusal_not_an_ambiguity(
        raw: tuple[RawTradier, TradierBroker]) -> None:
    server, broker = raw
    server.answer("POST", ORDERS, 200, {"errors": {"error": [
        "Backoffice rejected override of the order.", "DayTradingBuyingPowerExceeded"]}})
    with pytest.raises(InsufficientFundsError) as raised:
        await broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=1))
    assert not isinstance(raised.value, RequestTimeoutError)
    assert raised.value.broker_code == "DayTradingBuyingPowerExceeded"


async def test_a_readable_placement_reads_the_order_back(
        raw: tuple[RawTradier, TradierBroker]) -> None:
    server, broker = raw
    server.answer("POST", ORDERS, 200, {"order": {"id": ORDER_ID, "status": "ok"}})
    placed = await broker.place_order(OrderRequest(symbol="KO", side="buy", quantity=1,
                                                   order_type="limit", limit_price=50))
    assert (placed.order_id, placed.raw_status) == (str(ORDER_ID), "open")


async def test_an_order_id_tradier_cannot_have_is_refused_before_any_io(
        raw: tuple[RawTradier, TradierBroker]) -> None:
    server, broker = raw
    before = len(server.requests)
    for bad in ("abc", "9" * 40, "-1"):
        with pytest.raises(OrderNotFoundError):
            await broker.cancel_order(bad)
    assert len(server.requests) == before


async def test_every_failure_is_a_broker_error(raw: tuple[RawTradier, TradierBroker]) -> None:
    """Garbage on every read the interface makes: each call ends in a BrokerError."""
    server, broker = raw
    for path in (f"/v1/accounts/{ACCOUNT}/balances", f"/v1/accounts/{ACCOUNT}/positions",
                 ORDERS, ONE_ORDER, f"/v1/accounts/{ACCOUNT}/history", "/v1/markets/quotes",
                 f"/v1/accounts/{ACCOUNT}/gainloss", "/v1/user/profile"):
        server.answer("GET", path, 200, b'{"x": ' * 200 + b"1" + b"}" * 200)
    calls = [broker.get_account(), broker.get_balances(), broker.get_positions(),
             broker.get_orders(), broker.get_order(str(ORDER_ID)),
             broker.get_transactions(broker.client.now(), broker.client.now()),
             broker.get_quote("KO"), broker.get_gain_loss()]
    for call in calls:
        with pytest.raises(BrokerError):
            await call

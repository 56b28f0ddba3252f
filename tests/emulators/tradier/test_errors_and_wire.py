"""The Tradier emulator's error bodies, statuses, headers, formats and stream."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import websockets

from tests.adapters.tradier.payloads import payload
from tests.emulators.tradier.conftest import Api, body


async def test_buying_power_rejection_is_http_200_with_errors(api: Api) -> None:
    response = await api.place(**{"class": "equity"}, symbol="AAPL", side="buy",
                               quantity="1000000", type="market", duration="day")
    assert response.status_code == 200
    assert body(response) == payload("errors_one")
    assert await api.get(f"/accounts/{api.account_id}/orders") == payload("orders_null")


async def test_validation_errors_are_http_400_lists(api: Api) -> None:
    response = await api.place(**{"class": "option"}, symbol="AAPL", side="buy",
                               quantity="1", type="market", duration="day")
    assert response.status_code == 400
    errors = body(response)["errors"]["error"]
    assert isinstance(errors, list)
    assert "side is invalid for class option" in errors
    single = await api.place(**{"class": "equity"}, symbol="AAPL", side="buy",
                             quantity="1", type="limit", duration="day")
    assert single.status_code == 400
    assert isinstance(body(single)["errors"]["error"], str)


async def test_unknown_symbol_and_order(api: Api) -> None:
    response = await api.place(**{"class": "equity"}, symbol="ZZZQX", side="buy",
                               quantity="1", type="market", duration="day")
    assert response.status_code == 400
    assert body(response)["errors"]["error"].endswith("symbol not found.")
    missing = await api.http.get(f"/accounts/{api.account_id}/orders/424242")
    assert missing.status_code == 404
    assert "errors" in body(missing)


async def test_selling_more_than_held_is_a_200_rejection(api: Api) -> None:
    response = await api.place(**{"class": "equity"}, symbol="MSFT", side="sell",
                               quantity="1", type="market", duration="day")
    assert response.status_code == 200
    assert "errors" in body(response)


async def test_query_parameters_work_like_a_form(api: Api) -> None:
    response = await api.http.post(
        f"/accounts/{api.account_id}/orders",
        params={"class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "1",
                "type": "market", "duration": "day"})
    assert body(response)["order"]["status"] == "ok"


async def test_401_is_plain_text(api: Api) -> None:
    response = await api.http.get("/user/profile", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
    assert response.text == "Invalid Access Token"
    other = await api.http.get("/accounts/VA000001/balances")
    assert other.status_code == 401


async def test_xml_unless_json_is_asked_for(api: Api) -> None:
    response = await api.http.get("/user/profile", headers={"Accept": "application/xml"})
    assert response.headers["content-type"].startswith("application/xml")
    assert "<profile><account><account_number>" in response.text


async def test_numbers_are_json_numbers(api: Api) -> None:
    await api.buy("AAPL", 3)
    raw = (await api.http.get(f"/accounts/{api.account_id}/positions")).text
    assert '"quantity":3.0' in raw
    balances = (await api.get(f"/accounts/{api.account_id}/balances"))["balances"]
    assert isinstance(balances["total_cash"], Decimal)


async def test_rate_limit_headers_and_refusal(api: Api) -> None:
    response = await api.http.get(f"/accounts/{api.account_id}/balances")
    headers = response.headers
    assert headers["X-Ratelimit-Allowed"] == "120"
    used = int(headers["X-Ratelimit-Used"])
    assert int(headers["X-Ratelimit-Available"]) == 120 - used
    assert int(headers["X-Ratelimit-Expiry"]) > 10**12
    rates = api.env.rates
    rates.policy = replace(rates.policy, limits={**rates.policy.limits, "market_data": 2})
    statuses = [(await api.http.get("/markets/clock")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await api.http.get("/markets/clock")
    assert refused.headers["X-Ratelimit-Available"] == "0"
    assert (await api.http.get(f"/accounts/{api.account_id}/balances")).status_code == 200


async def test_account_stream_sends_order_events(api: Api) -> None:
    session = (await api.http.post("/accounts/events/session"))
    stream = body(session)["stream"]
    assert set(stream) == set(payload("stream_session")["stream"])
    async with websockets.connect(stream["url"]) as socket:
        await socket.send(json.dumps({"events": ["order"], "sessionid": stream["sessionid"],
                                      "excludeAccounts": []}))
        heartbeat = json.loads(await socket.recv())
        assert set(heartbeat) == set(payload("stream_heartbeat"))
        order_id = await api.buy("AAPL", 2)
        messages = [json.loads(await socket.recv(), parse_float=Decimal) for _ in range(2)]
    reference = payload("stream_order")
    assert [m["status"] for m in messages] == ["open", "filled"]
    for message in messages:
        assert set(reference) <= set(message)
        assert message["id"] == order_id
    assert messages[1]["exec_quantity"] == 2


async def test_stream_refuses_an_unknown_session(api: Api) -> None:
    async with websockets.connect(f"{api.server.ws_url}/v1/accounts/events") as socket:
        await socket.send(json.dumps({"events": ["order"], "sessionid": "nope"}))
        assert "error" in json.loads(await socket.recv())


async def test_empty_account_history_and_gainloss_are_null(api: Api) -> None:
    empty = api.env.engine.open_account(cash=Decimal(0))
    api.env.accounts.register_bearer("empty-account-token", empty, None)
    headers = {"Authorization": "Bearer empty-account-token"}
    history = await api.http.get(f"/accounts/{empty}/history", headers=headers)
    assert body(history) == {"history": "null"}
    gainloss = await api.http.get(f"/accounts/{empty}/gainloss", headers=headers)
    assert body(gainloss) == {"gainloss": "null"}


async def test_gainloss_lists_a_closed_lot(api: Api) -> None:
    await api.buy("KO", 2)
    await api.place(**{"class": "equity"}, symbol="KO", side="sell", quantity="2",
                    type="market", duration="day")
    closed = (await api.get(f"/accounts/{api.account_id}/gainloss"))["gainloss"]
    lot = closed["closed_position"]
    assert lot["symbol"] == "KO"
    assert lot["quantity"] == 2
    assert lot["gain_loss"] == lot["proceeds"] - lot["cost"]


def test_create_app_exposes_its_env() -> None:
    from brokerlink.core.enums import BrokerType
    from brokerlink.emulators.registry import load

    app = load("tradier")(strict=True, seed=9)
    assert app.state.env.broker is BrokerType.TRADIER
    assert app.state.env.strict

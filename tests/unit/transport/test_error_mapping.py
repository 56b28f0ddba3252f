"""Error mapping over a real server: the adapter's mapper first, the default as fallback."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    BearerToken,
    ErrorMapper,
    ErrorResponse,
    RetryPolicy,
    Transport,
)
from brokerlink.core.errors import (
    BrokerError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
)

from .support import RecordingSleep, Reply, ScriptedApp

pytestmark = pytest.mark.asyncio(loop_scope="module")


class AlpacaLikeMapper:
    """A miniature adapter mapper: knows one body, defers everything else."""

    def __init__(self) -> None:
        self.seen: list[ErrorResponse] = []

    def __call__(self, resp: ErrorResponse) -> BrokerError | None:
        self.seen.append(resp)
        body = resp.body
        if resp.status == 403 and isinstance(body, dict) and body.get("code") == 40310000:
            return InsufficientFundsError(
                "Not enough buying power",
                required=body.get("cost_basis"),
                available=body.get("buying_power"),
                **resp.context(),
            )
        return None


def make(base_url: str, mapper: ErrorMapper | None) -> Transport:
    return Transport(
        broker="alpaca",
        base_url=base_url,
        credentials=BearerToken(SecretStr("tok-map-0001")),
        error_mapper=mapper,
        retry=RetryPolicy(sleep=RecordingSleep(), rng=random.Random(1)),
        connection_id="c-map",
    )


async def test_custom_mapper_sees_parsed_decimal_body_and_context(
    app: ScriptedApp, base_url: str
) -> None:
    app.script(
        "POST",
        "/v2/orders",
        Reply(
            403,
            body=b'{"code":40310000,"message":"insufficient buying power",'
            b'"buying_power":176531.28,"cost_basis":"48640000"}',
            headers={"X-Request-ID": "req-403"},
        ),
    )
    mapper = AlpacaLikeMapper()
    async with make(base_url, mapper) as transport:
        with pytest.raises(InsufficientFundsError) as caught:
            await transport.request(
                "POST",
                "/v2/orders",
                operation="place_order",
                write=True,
                json={"symbol": "AAPL"},
                client_order_id="bl-x1",
            )

    (seen,) = mapper.seen
    assert (seen.status, seen.operation, seen.request_id) == (403, "place_order", "req-403")
    assert seen.client_order_id == "bl-x1"
    assert seen.connection_id == "c-map"
    assert isinstance(seen.body, dict)
    assert seen.body["buying_power"] == Decimal("176531.28")
    assert caught.value.available == Decimal("176531.28")
    assert (caught.value.broker_code, caught.value.request_id) == ("40310000", "req-403")


async def test_mapper_returning_none_falls_through_to_default(
    app: ScriptedApp, base_url: str
) -> None:
    app.script(
        "GET", "/v2/orders/abc", Reply(404, json={"code": 40410000, "message": "order not found"})
    )
    async with make(base_url, AlpacaLikeMapper()) as transport:
        with pytest.raises(OrderNotFoundError, match="order not found"):
            await transport.request("GET", "/v2/orders/abc", operation="get_order", write=False)


async def test_failing_mapper_falls_back_to_default(app: ScriptedApp, base_url: str) -> None:
    def broken(resp: ErrorResponse) -> BrokerError | None:
        raise RuntimeError("mapper bug")

    app.script("POST", "/v2/orders", Reply(422, json={"code": 42210000, "message": "bad"}))
    async with make(base_url, broken) as transport:
        with pytest.raises(InvalidOrderError):
            await transport.request("POST", "/v2/orders", operation="place_order", write=True)


async def test_unexpected_success_status_is_an_error(app: ScriptedApp, base_url: str) -> None:
    app.script("DELETE", "/v2/orders/abc", Reply(207, json={"partial": True}))
    async with make(base_url, None) as transport:
        with pytest.raises(BrokerError) as caught:
            await transport.request(
                "DELETE", "/v2/orders/abc", operation="cancel_order", write=True, expected=(204,)
            )
    assert caught.value.http_status == 207

"""``WireClient`` over a real loopback socket: every kind of unreadable body ends in the
typed error for a read (``UnexpectedResponseError``) or a write (the ambiguous
``UnreadableAcknowledgementError`` carrying the client order id), never in pydantic's,
json's or the interpreter's own exceptions; bodies are quoted redacted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import BaseModel, SecretStr, TypeAdapter

from brokerlink.adapters._shared.credentials import StaticHeaders
from brokerlink.adapters._shared.transport import Transport
from brokerlink.adapters._shared.wire_client import (
    EXCERPT_CHARS,
    MAX_JSON_DEPTH,
    BodyTooDeepError,
    DecimalText,
    WireClient,
    WireRequest,
    check_depth,
    decimal_text,
    loads_bounded,
)
from brokerlink.core.errors import (
    RequestTimeoutError,
    UnexpectedResponseError,
    UnreadableAcknowledgementError,
)
from tests.unit.kit.loopback import MALFORMED_BODIES, Answer, LoopbackServer

CANARY = "canary-secret-7Qx9"


class Thing(BaseModel):
    id: str
    qty: Decimal


class NewThing(WireRequest):
    symbol: str
    qty: DecimalText
    note: str | None = None


_THINGS = TypeAdapter(list[Thing])


class ThingClient(WireClient):
    async def get_thing(self) -> Thing:
        return await self.read("/thing", Thing, operation="get_thing")

    async def list_things(self) -> list[Thing]:
        return await self.read("/things", _THINGS, operation="list_things")

    async def place(self, request: NewThing, client_order_id: str) -> Thing:
        return await self.write("POST", "/things", Thing, operation="place_thing",
                                body=request, client_order_id=client_order_id)


def _transport(url: str) -> Transport:
    return Transport(broker="acme", base_url=url,
                     credentials=StaticHeaders({"X-Api-Key": SecretStr(CANARY)}))


async def _client_for(answer: Answer) -> AsyncIterator[tuple[ThingClient, LoopbackServer]]:
    routes = {("GET", "/thing"): answer, ("GET", "/things"): answer,
              ("POST", "/things"): answer}
    async with LoopbackServer(routes) as server:
        transport = _transport(server.url)
        try:
            yield ThingClient(transport), server
        finally:
            await transport.aclose()


@pytest.mark.parametrize("kind", sorted(MALFORMED_BODIES))
async def test_an_unreadable_read_is_an_unexpected_response(kind: str) -> None:
    async for client, _ in _client_for(Answer(200, MALFORMED_BODIES[kind])):
        for call in (client.get_thing, client.list_things):
            if kind == "list" and call == client.list_things:
                continue  # [] is a perfectly good empty list
            with pytest.raises(UnexpectedResponseError) as raised:
                await call()
            error = raised.value
            assert not isinstance(error, RequestTimeoutError)
            assert error.broker == "acme"
            assert error.http_status == 200
            assert error.retryable
            assert len(error.message) < EXCERPT_CHARS + 400


@pytest.mark.parametrize("kind", sorted(MALFORMED_BODIES))
async def test_an_unreadable_write_answer_is_ambiguous(kind: str) -> None:
    async for client, server in _client_for(Answer(200, MALFORMED_BODIES[kind])):
        with pytest.raises(UnreadableAcknowledgementError) as raised:
            await client.place(NewThing(symbol="KO", qty=Decimal("2.50")), "cid-1")
        error = raised.value
        assert isinstance(error, RequestTimeoutError)  # reconcile, never resend
        assert error.client_order_id == "cid-1"
        assert "cid-1" in error.message
        assert "do not resend" in error.message
        assert server.count("POST", "/things") == 1  # sent once, never retried


async def test_the_excerpt_is_redacted_and_short() -> None:
    page = f"<html><body>key {CANARY} {'x' * 5000}</body></html>".encode()
    async for client, _ in _client_for(Answer(200, page, "text/html")):
        with pytest.raises(UnexpectedResponseError) as read:
            await client.get_thing()
        with pytest.raises(UnreadableAcknowledgementError) as write:
            await client.place(NewThing(symbol="KO", qty=Decimal(1)), "cid-2")
        for error in (read.value, write.value):
            assert CANARY not in str(error)
            assert CANARY not in repr(error)
            assert "<html><body>key" in error.message
            assert "x" * (EXCERPT_CHARS + 1) not in error.message


async def test_a_readable_answer_is_parsed_with_exact_decimals() -> None:
    body = json.dumps({"id": "t1", "qty": 0.1}).encode()
    async for client, _ in _client_for(Answer(200, body)):
        thing = await client.get_thing()
        assert thing == Thing(id="t1", qty=Decimal("0.1"))
        placed = await client.place(NewThing(symbol="KO", qty=Decimal("2.50")), "cid-3")
        assert placed.qty == Decimal("0.1")


def test_request_models_send_decimals_as_plain_text_and_omit_unset_fields() -> None:
    assert NewThing(symbol="KO", qty=Decimal("2.50")).to_wire() == {"symbol": "KO",
                                                                    "qty": "2.5"}
    assert NewThing(symbol="KO", qty=Decimal("1E+1")).to_wire()["qty"] == "10"
    with pytest.raises(ValueError, match="extra"):
        NewThing(symbol="KO", qty=Decimal(1), typo=1)  # type: ignore[call-arg]
    assert decimal_text(Decimal("0.00000100")) == "0.000001"
    with pytest.raises(ValueError, match="cannot send"):
        decimal_text(Decimal("NaN"))


def test_depth_bound() -> None:
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    check_depth(ok)
    with pytest.raises(BodyTooDeepError):
        check_depth(b"[" + ok + b"]")
    # Brackets inside strings, escaped quotes included, do not count.
    quoted = b'["\\"' + b"[" * 500 + b'", "\\\\", {"a": "' + b"{" * 500 + b'"}]'
    assert loads_bounded(quoted)[2] == {"a": "{" * 500}
    # Unbalanced runs are refused before the parser could recurse through them.
    for body in (b"[" * 10_000, b'{"a":' * 10_000, b"[" * 10_000 + b"}" * 10_000):
        with pytest.raises(BodyTooDeepError):
            loads_bounded(body)
    # A long, shallow page is fine.
    page = b"[" + b",".join([b'{"id":"x","legs":[{"a":[1]}]}'] * 5000) + b"]"
    assert len(loads_bounded(page)) == 5000

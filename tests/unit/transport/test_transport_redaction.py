"""Over a real server: planted secrets never reach exceptions, logs or audit events."""

from __future__ import annotations

import logging
import random

import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    REDACTED,
    MemoryAuditSink,
    RequestAuditEvent,
    RetryPolicy,
    StaticHeaders,
    Transport,
)
from brokerlink.core.errors import BrokerError, InvalidOrderError

from .support import RecordingSleep, Reply, ScriptedApp, closed_port_url

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY_ID = "PKPLANTEDKEYID0001"
SECRET = "planted-secret-value-0002"
QUERY_TOKEN = "planted-query-token-0003"
PLANTED = (KEY_ID, SECRET, QUERY_TOKEN)


def _everything_said(error: BaseException, audit: MemoryAuditSink, log_text: str) -> str:
    chain: list[str] = []
    current: BaseException | None = error
    while current is not None:
        # The httpx cause is ours to check too: it is what a traceback would print.
        chain += [str(current), repr(current), repr(current.args)]
        current = current.__cause__
    events = [repr(event) for event in audit.events]
    return "\n".join([*chain, *events, log_text])


def make(base_url: str, audit: MemoryAuditSink) -> Transport:
    return Transport(
        broker="alpaca",
        base_url=base_url,
        credentials=StaticHeaders(
            {"APCA-API-KEY-ID": SecretStr(KEY_ID), "APCA-API-SECRET-KEY": SecretStr(SECRET)}
        ),
        audit=audit,
        retry=RetryPolicy(sleep=RecordingSleep(), rng=random.Random(5)),
        connection_id="conn-secret",
    )


async def test_planted_secrets_never_leak_from_an_error_response(
    app: ScriptedApp, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A broker that echoes the request's credentials back in its error body.
    echoed = (
        f'{{"message": "bad request from key {KEY_ID}", "secret": "{SECRET}", '
        f'"token": "{QUERY_TOKEN}", "code": 42210000}}'
    ).encode()
    app.script("GET", "/v2/orders", Reply(422, body=echoed), Reply(500, body=echoed))
    audit = MemoryAuditSink()
    caplog.set_level(logging.DEBUG, logger="brokerlink.transport")
    async with make(base_url, audit) as transport:
        with pytest.raises(InvalidOrderError) as caught:
            await transport.request(
                "GET",
                "/v2/orders",
                operation="get_orders",
                write=False,
                params={"access_token": QUERY_TOKEN, "symbol": "AAPL"},
            )

    # The secrets really were on the wire, so the test would catch a leak.
    (seen,) = app.requests
    assert seen.headers["apca-api-secret-key"] == SECRET
    assert QUERY_TOKEN in seen.query
    said = _everything_said(caught.value, audit, caplog.text)
    for secret in PLANTED:
        assert secret not in said
    assert "42210000" in str(caught.value)
    (event,) = audit.events
    assert event.request_summary == {"params": {"access_token": REDACTED, "symbol": "AAPL"}}
    assert "?" not in event.path


async def test_planted_secrets_never_leak_from_transport_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    audit = MemoryAuditSink()
    caplog.set_level(logging.DEBUG, logger="brokerlink.transport")
    async with make(closed_port_url(), audit) as transport:
        with pytest.raises(BrokerError) as caught:
            await transport.request(
                "POST",
                "/v2/orders",
                operation="place_order",
                write=True,
                json={"symbol": "AAPL", "note": f"ref {SECRET}", "api_secret": SECRET},
                params={"token": QUERY_TOKEN},
            )
    said = _everything_said(caught.value, audit, caplog.text)
    for secret in PLANTED:
        assert secret not in said
    (event,) = audit.events
    assert event.request_summary["json"] == {
        "symbol": "AAPL",
        "note": f"ref {REDACTED}",
        "api_secret": REDACTED,
    }


class ExplodingSink:
    async def record(self, event: RequestAuditEvent) -> None:
        raise RuntimeError(f"audit store down; last header {SECRET}")


async def test_failing_audit_sink_does_not_break_the_request(
    app: ScriptedApp, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app.script("GET", "/v2/clock", Reply(json={"is_open": True}))
    transport = Transport(
        broker="alpaca",
        base_url=base_url,
        credentials=StaticHeaders({"APCA-API-SECRET-KEY": SecretStr(SECRET)}),
        audit=ExplodingSink(),
    )
    caplog.set_level(logging.DEBUG, logger="brokerlink.transport")
    async with transport:
        response = await transport.request("GET", "/v2/clock", operation="get_clock", write=False)
    assert response.status_code == 200
    assert "audit sink failed" in caplog.text
    assert SECRET not in caplog.text

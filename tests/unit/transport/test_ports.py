"""Credential sources, audit events and URL handling, over a real loopback server."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    AuditSink,
    BearerToken,
    CredentialSource,
    MemoryAuditSink,
    NullAuditSink,
    RetryPolicy,
    StaticHeaders,
    Transport,
)

from .support import RecordingSleep, Reply, ScriptedApp

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_credential_sources_build_headers_and_never_refresh() -> None:
    static = StaticHeaders(
        {"APCA-API-KEY-ID": SecretStr("key-id-1"), "APCA-API-SECRET-KEY": SecretStr("sec-2")}
    )
    bearer = BearerToken(SecretStr("tok-3"))
    assert await static.auth_headers() == {
        "APCA-API-KEY-ID": "key-id-1",
        "APCA-API-SECRET-KEY": "sec-2",
    }
    assert await bearer.auth_headers() == {"Authorization": "Bearer tok-3"}
    assert not await static.on_unauthorized()
    assert not await bearer.on_unauthorized()
    assert isinstance(static, CredentialSource)
    assert isinstance(bearer, CredentialSource)
    assert "tok-3" not in repr(bearer)


async def test_audit_event_per_logical_call(app: ScriptedApp, base_url: str) -> None:
    app.script("POST", "/v2/orders", Reply(json={"id": "o-1"}, headers={"X-Request-Id": "rq-7"}))
    audit = MemoryAuditSink()
    assert isinstance(audit, AuditSink)
    assert isinstance(NullAuditSink(), AuditSink)
    transport = Transport(
        broker="alpaca",
        base_url=base_url + "/",
        credentials=BearerToken(SecretStr("tok-audit-1")),
        audit=audit,
        connection_id="conn-a",
        retry=RetryPolicy(sleep=RecordingSleep()),
        default_headers={"X-Client": "brokerlink-tests"},
    )
    async with transport:
        await transport.request(
            "post",
            "v2/orders",
            operation="place_order",
            write=True,
            json={"symbol": "AAPL", "qty": "1"},
            client_order_id="bl-aa",
        )

    (event,) = audit.events
    assert event.broker == "alpaca"
    assert event.connection_id == "conn-a"
    assert (event.operation, event.method, event.path) == ("place_order", "POST", "/v2/orders")
    assert (event.status, event.outcome, event.attempts) == (200, "ok", 1)
    assert (event.request_id, event.client_order_id) == ("rq-7", "bl-aa")
    assert event.request_summary == {"json": {"symbol": "AAPL", "qty": "1"}}
    assert isinstance(event.latency_ms, Decimal)
    assert event.latency_ms >= 0
    assert event.at.tzinfo is UTC
    assert event.write
    (seen,) = app.requests
    assert seen.headers["x-client"] == "brokerlink-tests"


async def test_absolute_path_is_refused(base_url: str) -> None:
    transport = Transport(
        broker="alpaca", base_url=base_url, credentials=BearerToken(SecretStr("tok-abs-1"))
    )
    async with transport:
        with pytest.raises(ValueError, match="relative"):
            await transport.request(
                "GET", "https://elsewhere.example/v2/x", operation="get_x", write=False
            )

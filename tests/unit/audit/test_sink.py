"""AuditLogSink records transport events as ``request.<operation>``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from brokerlink.audit.sink import AuditLogSink
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import open_audit_log
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database


@dataclass(frozen=True)
class FakeRequestAuditEvent:
    """The transport's event shape, duplicated so audit/ stays independent of adapters/."""

    connection_id: str | None
    broker: str
    operation: str
    method: str
    path: str
    request_summary: Mapping[str, Any]
    status: int | None
    latency_ms: Decimal
    outcome: str
    request_id: str | None
    client_order_id: str | None
    at: datetime


async def test_sink_appends_redacted_request_events(database: Database, vault: Vault) -> None:
    log = await open_audit_log(database, vault)
    sink = AuditLogSink(log)
    event = FakeRequestAuditEvent(
        connection_id="c1", broker="alpaca", operation="place_order", method="post",
        path="/v2/orders?access_token=leak", status=200, latency_ms=Decimal("12.5"),
        request_summary={"symbol": "AAPL", "qty": "10", "authorization": "Bearer leak"},
        outcome="ok", request_id="req-1", client_order_id="bl-1", at=utc_now())
    await sink.record(event)
    [stored] = await log.recent(1)
    assert stored.action == "request.place_order"
    assert (stored.connection_id, stored.broker, stored.outcome) == ("c1", "alpaca", "ok")
    detail = json.loads(stored.detail)
    assert detail["path"] == "/v2/orders"
    assert detail["method"] == "POST"
    assert detail["latency_ms"] == "12.5"
    assert detail["request"]["authorization"] == "[redacted]"
    assert "leak" not in stored.detail
    assert (await log.verify()).ok

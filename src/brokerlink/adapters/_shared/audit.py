"""The audit hook: one event per logical broker call, redacted before it leaves.

The transport builds a ``RequestAuditEvent`` for every ``request`` (after all attempts)
and hands it to an ``AuditSink``. The durable, hash-chained log in ``brokerlink.audit``
implements the sink; this module only defines the port and two trivial sinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class RequestAuditEvent:
    """What happened on one logical call to a broker.

    ``path`` carries no query string; parameters and bodies appear only redacted in
    ``request_summary``. ``outcome`` is ``"ok"`` or the name of the raised exception's class.
    ``latency_ms`` covers all attempts, including waits between them; ``attempts`` counts
    the HTTP attempts made (0 if none was). ``at`` is when the call started, aware UTC.
    """

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
    attempts: int = 1
    write: bool = False


@runtime_checkable
class AuditSink(Protocol):
    """Receives audit events. May raise: the transport logs the failure and carries on,
    because a failing audit store must not turn a filled order into an error."""

    async def record(self, event: RequestAuditEvent) -> None:
        """Store ``event``."""
        ...


class NullAuditSink:
    """Discards every event; the transport's default when no sink is wired."""

    async def record(self, event: RequestAuditEvent) -> None:
        """Do nothing."""


@dataclass
class MemoryAuditSink:
    """Keeps events in ``events`` in arrival order; for tests and diagnostics."""

    events: list[RequestAuditEvent] = field(default_factory=list)

    async def record(self, event: RequestAuditEvent) -> None:
        """Append ``event``."""
        self.events.append(event)


__all__ = ["AuditSink", "MemoryAuditSink", "NullAuditSink", "RequestAuditEvent"]

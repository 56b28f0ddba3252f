"""AuditLogSink: the transport's audit hook, writing into the hash-chained log.

The transport (``adapters/_shared/audit.py``) calls ``await sink.record(event)``
after every broker request. To keep imports running downward, ``audit/`` never
imports ``adapters/``: any object with the attributes of ``RequestAuditEventLike``
is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from brokerlink.audit.log import AuditLog
from brokerlink.audit.store import AuditEventRecord


class RequestAuditEventLike(Protocol):
    """The shape of the transport's ``RequestAuditEvent`` (read-only attributes)."""

    @property
    def connection_id(self) -> str | None: ...
    @property
    def broker(self) -> Any: ...
    @property
    def operation(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def request_summary(self) -> Mapping[str, Any]: ...
    @property
    def status(self) -> int | None: ...
    @property
    def latency_ms(self) -> float | int | Decimal | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...


class AuditLogSink:
    """Records each broker request as ``action="request.<operation>"``.

    The query string is dropped from ``path`` (it can carry codes or tokens) and the
    request summary goes through the log's redaction pass.
    """

    def __init__(self, log: AuditLog, *, actor: str = "service") -> None:
        self._log = log
        self._actor = actor

    def __repr__(self) -> str:
        return f"AuditLogSink(actor={self._actor!r})"

    async def record(self, event: RequestAuditEventLike) -> None:
        """Append ``event`` to the audit log.

        Raises what ``AuditLog.append`` raises (``AuditIntegrityError``,
        ``StorageError``): the caller decides whether a failed audit fails the request.
        """
        await self.record_event(event)

    async def record_event(self, event: RequestAuditEventLike) -> AuditEventRecord:
        """``record`` returning the stored event (for tests and callers that want it)."""
        broker = event.broker.value if isinstance(event.broker, Enum) else event.broker
        latency = event.latency_ms
        detail: dict[str, Any] = {
            "method": event.method.upper(),
            "path": event.path.split("?", 1)[0],
            "request": dict(event.request_summary),
            "status": event.status,
            "latency_ms": str(latency) if isinstance(latency, Decimal) else latency,
            "request_id": event.request_id,
            "client_order_id": event.client_order_id,
        }
        # Optional extras of the transport's event (attempt count, write flag).
        for extra in ("attempts", "write"):
            if hasattr(event, extra):
                detail[extra] = getattr(event, extra)
        return await self._log.append(
            f"request.{event.operation}", actor=self._actor, outcome=event.outcome,
            connection_id=event.connection_id, broker=None if broker is None else str(broker),
            detail=detail, at=event.at)

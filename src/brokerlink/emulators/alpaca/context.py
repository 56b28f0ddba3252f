"""Per-request plumbing of the Alpaca emulator: who is calling, and how to answer.

Authentication follows ``REFERENCE.md`` section 2: ``APCA-API-KEY-ID`` +
``APCA-API-SECRET-KEY`` headers, or ``Authorization: Bearer <token>``. Every answer
carries ``X-Request-ID`` and the ``X-RateLimit-*`` headers Alpaca sends (a fixed
one-minute window per account, 200 requests; the emulator reports, it does not refuse:
inject a ``rate_limit`` fault to test 429 handling).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from brokerlink.core.enums import OrderStatus
from brokerlink.core.models import Order
from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.jsonio import json_response

RATE_LIMIT_PER_MINUTE = 200


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class AlpacaContext:
    """Shared by every Alpaca route of one app."""

    env: EmulatorEnv
    _windows: dict[str, _Window] = field(default_factory=dict)

    def account_for(self, request: Request) -> str:
        """The engine account the request's credentials trade. Raises
        ``EmulatorAuthError`` (answered 401 ``{"message": "unauthorized."}``)."""
        headers = request.headers
        key_id = headers.get("apca-api-key-id")
        secret = headers.get("apca-api-secret-key")
        if key_id is not None or secret is not None:
            account = self.env.accounts.account_for_api_key(key_id or "", secret or "")
        else:
            scheme, _, token = (headers.get("authorization") or "").partition(" ")
            if scheme.lower() != "bearer":
                raise EmulatorAuthError("no credentials")
            account = self.env.accounts.account_for_bearer(token.strip())
        self._count(account)
        return account

    def _count(self, account_id: str) -> None:
        now = time.monotonic()
        window = self._windows.get(account_id)
        if window is None or now - window.started >= 60:
            window = self._windows[account_id] = _Window(now)
        window.count += 1

    def headers(self, account_id: str | None) -> dict[str, str]:
        headers = {"X-Request-ID": uuid.uuid4().hex}
        window = self._windows.get(account_id or "")
        if window is not None:
            reset = time.time() + max(0.0, 60 - (time.monotonic() - window.started))
            headers.update({
                "X-RateLimit-Limit": str(RATE_LIMIT_PER_MINUTE),
                "X-RateLimit-Remaining": str(max(0, RATE_LIMIT_PER_MINUTE - window.count)),
                "X-RateLimit-Reset": str(math.ceil(reset)),
            })
        return headers

    def respond(self, account_id: str | None, content: Any, status: int = 200, *,
                decimals_as_numbers: bool = False) -> Response:
        """``content`` as JSON: decimals as strings (trading API) or as numbers (the
        market-data API's style)."""
        return json_response(content, status, self.headers(account_id),
                             decimals_as_numbers=decimals_as_numbers)

    def no_content(self, account_id: str) -> Response:
        return Response(status_code=204, headers=self.headers(account_id))

    def is_queued(self, order: Order) -> bool:
        """A NEW order that cannot trade in the current session: Alpaca shows it as
        ``accepted`` until its session starts."""
        engine = self.env.engine
        return order.status is OrderStatus.NEW and not engine.calendar.is_open(
            engine.now(), extended_hours=order.extended_hours)

"""Per-request plumbing of the Alpaca emulator: who is calling, and how to answer.

Authentication follows ``REFERENCE.md`` section 2: ``APCA-API-KEY-ID`` +
``APCA-API-SECRET-KEY`` headers, or ``Authorization: Bearer <token>``. Every answer
carries ``X-Request-ID`` and the ``X-RateLimit-*`` headers Alpaca sends. Each
authenticated request is charged to its account's window in the shared rate window
(``env.rates``, 200 a minute, ``spec.py``); the 201st in a minute is refused with
Alpaca's 429 (a ``rate_limit`` fault injects one without counting).
"""

from __future__ import annotations

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
from brokerlink.emulators._shared.ratelimit import RateState


@dataclass
class AlpacaContext:
    """Shared by every Alpaca route of one app."""

    env: EmulatorEnv
    _rates: dict[str, RateState] = field(default_factory=dict)

    def account_for(self, request: Request) -> str:
        """The engine account the request's credentials trade, charged to its rate
        window. Raises ``EmulatorAuthError`` (answered 401 ``{"message":
        "unauthorized."}``) or ``RateLimited`` (Alpaca's 429)."""
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
        # The latest state per account gives every answer its headers; one entry per
        # account, like the window itself.
        self._rates[account] = self.env.rates.charge(account, request.method,
                                                     request.url.path)
        return account

    def headers(self, account_id: str | None) -> dict[str, str]:
        return {"X-Request-ID": uuid.uuid4().hex,
                **self.env.rates.headers(self._rates.get(account_id or ""))}

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

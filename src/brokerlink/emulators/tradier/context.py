"""Per-request plumbing of the Tradier emulator: bearer auth, account checks, charging
each token's rate window (the shared ``env.rates`` under Tradier's policy, ``spec.py``)
and its headers, form/query parameters, and answering in JSON or XML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators.tradier.errors import TradierHTTPError, errors_body
from brokerlink.emulators.tradier.state import TradierState
from brokerlink.emulators.tradier.wire import respond

__all__ = ["TradierContext", "TradierHTTPError", "params_of"]

@dataclass
class TradierContext:
    """Everything a Tradier route needs, reachable as ``app.state.tradier``."""

    env: EmulatorEnv
    state: TradierState = field(default_factory=TradierState)

    def authenticate(self, request: Request) -> str:
        """The account behind the request's bearer token; charges its rate-limit bucket.
        Raises ``EmulatorAuthError`` (401) or ``RateLimited`` (Tradier's 429)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise EmulatorAuthError("missing bearer token")
        account_id = self.env.accounts.account_for_bearer(token)
        rates = self.env.rates
        request.state.ratelimit = rates.headers(
            rates.charge(token, request.method, request.url.path))
        return account_id

    def account(self, request: Request, account_id: str) -> str:
        """Authenticate and check the path's account belongs to the token."""
        own = self.authenticate(request)
        if account_id != own:
            raise EmulatorAuthError("account not owned by this token")
        return own

    def ok(self, request: Request, payload: Mapping[str, Any], status: int = 200) -> Response:
        headers: dict[str, str] = getattr(request.state, "ratelimit", {})
        return respond(request, payload, status, headers)

    def fail(self, request: Request, error: TradierHTTPError) -> Response:
        return self.ok(request, errors_body(*error.messages), error.status)


async def params_of(request: Request) -> dict[str, str]:
    """Query parameters merged with a form-encoded body (Tradier accepts either; the
    body wins). Indexed keys such as ``side[0]`` are kept as they are."""
    merged = dict(request.query_params)
    raw = await request.body()
    if raw:
        merged.update(parse_qsl(raw.decode(), keep_blank_values=True))
    return merged


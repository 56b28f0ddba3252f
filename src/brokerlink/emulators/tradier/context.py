"""Per-request plumbing of the Tradier emulator: bearer auth, account checks, Tradier's
rate-limit windows and headers, form/query parameters, and answering in JSON or XML."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators.tradier.state import TradierState
from brokerlink.emulators.tradier.wire import errors_body, respond

WINDOW_SECONDS = 60.0

LIMITS: dict[str, int] = {"standard": 120, "market_data": 120, "trading": 60}
"""Production limits per access token and minute (REFERENCE.md section 6)."""


class TradierHTTPError(Exception):
    """Answer with ``{"errors": {"error": ...}}`` and ``status`` (200 for Tradier's
    downstream rejections, which arrive with a success status)."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages


class RateLimited(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("rate limit exceeded")
        self.headers = headers


@dataclass(slots=True)
class _Window:
    started: float
    used: int = 0


@dataclass
class RateWindows:
    """Tradier's fixed one-minute windows per token and bucket, starting at the first
    request (wall time: rate limits are real time even when the market clock is not)."""

    limits: dict[str, int] = field(default_factory=lambda: dict(LIMITS))
    _windows: dict[tuple[bytes, str], _Window] = field(default_factory=dict)

    def charge(self, token: str, bucket: str) -> dict[str, str]:
        """Count one request; return the ``X-Ratelimit-*`` headers. Raises
        ``RateLimited`` (with the headers) once the window is used up."""
        key = (hashlib.sha256(token.encode()).digest(), bucket)
        now = time.time()
        window = self._windows.get(key)
        if window is None or now >= window.started + WINDOW_SECONDS:
            window = _Window(now)
            self._windows[key] = window
        allowed = self.limits[bucket]
        window.used += 1
        headers = {
            "X-Ratelimit-Allowed": str(allowed),
            "X-Ratelimit-Used": str(min(window.used, allowed)),
            "X-Ratelimit-Available": str(max(allowed - window.used, 0)),
            "X-Ratelimit-Expiry": str(int((window.started + WINDOW_SECONDS) * 1000)),
        }
        if window.used > allowed:
            raise RateLimited(headers)
        return headers


def bucket_for(method: str, path: str) -> str:
    if path.startswith("/v1/markets"):
        return "market_data"
    if method in ("POST", "PUT", "DELETE") and "/orders" in path:
        return "trading"
    return "standard"


@dataclass
class TradierContext:
    """Everything a Tradier route needs, reachable as ``app.state.tradier``."""

    env: EmulatorEnv
    state: TradierState = field(default_factory=TradierState)
    rates: RateWindows = field(default_factory=RateWindows)

    def authenticate(self, request: Request) -> str:
        """The account behind the request's bearer token; charges its rate-limit bucket.
        Raises ``EmulatorAuthError`` (401) or ``RateLimited`` (429)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise EmulatorAuthError("missing bearer token")
        account_id = self.env.accounts.account_for_bearer(token)
        request.state.ratelimit = self.rates.charge(
            token, bucket_for(request.method, request.url.path))
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


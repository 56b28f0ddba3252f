"""One rate window for every emulator, enforcing the broker's documented limit.

A broker's emulator package describes its limit as a ``RateLimitPolicy``: requests per
window per bucket (``limits``), the window length, which bucket a request falls in
(``bucket_for(method, path)``), the headers the broker sends on every answer
(``headers(state)``) and its 429 answer (``rejected_body``, a JSON value, or a ``str``
sent as ``text/plain``). Windows are fixed, start at a key's first request and run on
wall time (rate limits are real time even when the market clock is frozen). The key
is what the broker counts by (an account, an access token); it is
hashed, never stored.

``RateWindow.charge(key, method, path)`` counts one request and returns its
``RateState``; once the bucket is used up it raises ``RateLimited`` carrying the state,
which the emulator app answers with the broker's 429 (``create_emulator_app``). A load
test that is not about rate limits may set ``env.rates.enforce = False``; the headers
are sent either way.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RateLimitPolicy", "RateLimited", "RateState", "RateWindow"]


@dataclass(frozen=True, slots=True)
class RateState:
    """One bucket's window after a request: ``limit``, ``used`` so far (this one
    included) and when the window ``resets`` (epoch seconds)."""

    bucket: str
    limit: int
    used: int
    resets: float

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window resets (at least 1)."""
        return max(1, math.ceil(self.resets - time.time()))


def _one_bucket(method: str, path: str) -> str:
    return "default"


def _no_headers(state: RateState) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """A broker's documented rate limit (see the module docstring)."""

    limits: Mapping[str, int]
    window_seconds: float = 60.0
    bucket_for: Callable[[str, str], str] = _one_bucket
    headers: Callable[[RateState], Mapping[str, str]] = _no_headers
    rejected_body: Any = "Too Many Requests"
    retry_after_header: bool = False
    """Whether the 429 carries ``Retry-After`` (only where the broker documents it)."""

    def __post_init__(self) -> None:
        if not self.limits or any(limit < 1 for limit in self.limits.values()):
            raise ValueError("every bucket needs a limit of at least 1")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")


UNLIMITED = RateLimitPolicy(limits={"default": 1_000_000_000})
"""A policy that never refuses (apps built without a broker spec)."""


class RateLimited(Exception):
    """A request over its bucket's limit; ``state`` says which and until when."""

    def __init__(self, state: RateState, policy: RateLimitPolicy) -> None:
        super().__init__(f"rate limit exceeded ({state.bucket}: {state.limit})")
        self.state = state
        self.policy = policy

    def headers(self) -> dict[str, str]:
        headers = dict(self.policy.headers(self.state))
        if self.policy.retry_after_header:
            headers["Retry-After"] = str(self.state.retry_after)
        return headers


@dataclass(slots=True)
class _Window:
    started: float
    used: int = 0


@dataclass
class RateWindow:
    """Fixed windows per (key, bucket) under one ``RateLimitPolicy``."""

    policy: RateLimitPolicy = UNLIMITED
    enforce: bool = True
    _windows: dict[tuple[bytes, str], _Window] = field(default_factory=dict)

    def charge(self, key: str, method: str, path: str) -> RateState:
        """Count one request by ``key``. Raises ``RateLimited`` when its bucket is used
        up (and enforcement is on)."""
        bucket = self.policy.bucket_for(method.upper(), path)
        limit = self.policy.limits.get(bucket) or min(self.policy.limits.values())
        now = time.time()
        window_key = (hashlib.sha256(key.encode()).digest(), bucket)
        window = self._windows.get(window_key)
        if window is None or now >= window.started + self.policy.window_seconds:
            window = self._windows[window_key] = _Window(now)
        window.used += 1
        state = RateState(bucket, limit, window.used,
                          window.started + self.policy.window_seconds)
        if state.exceeded and self.enforce:
            raise RateLimited(state, self.policy)
        return state

    def headers(self, state: RateState | None) -> dict[str, str]:
        """The broker's rate headers for ``state`` (none before any charge)."""
        return dict(self.policy.headers(state)) if state is not None else {}

    def reset(self) -> None:
        """Forget every window (as if a minute had passed for everyone)."""
        self._windows.clear()

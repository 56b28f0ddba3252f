"""When and how long to wait before repeating a *read*. Writes are never retried.

Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and Jitter"):
spreading retries uniformly over ``[0, cap]`` avoids synchronised retry storms when many
connections see the same outage.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a read is attempted in all and how long to wait between attempts.

    ``max_attempts`` counts the first attempt (4 means up to 3 retries). ``rng`` and
    ``sleep`` are injectable so tests can fix the jitter and record delays instead of
    sleeping. A server's ``Retry-After`` longer than ``max_retry_after`` is not waited out:
    the ``RateLimitError`` is raised with ``retry_after`` so the caller decides.
    Raises ``ValueError`` for nonsensical settings.
    """

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Sleep = field(default=asyncio.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based):
        uniform in ``[0, min(max_delay, base_delay * 2**(attempt-1))]``."""
        exponent = max(0, attempt - 1)
        # Cap the exponent so a large attempt number cannot overflow the float.
        cap = min(self.max_delay, self.base_delay * 2 ** min(exponent, 62))
        return self.rng.uniform(0, cap)

    def delay_for(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before the next attempt: the backoff, or the server's ``retry_after``
        when that is larger."""
        delay = self.backoff(attempt)
        if retry_after is not None and retry_after > delay:
            return retry_after
        return delay

    def should_wait_out(self, retry_after: float | None) -> bool:
        """False if the server asked for a longer pause than this policy will sit through."""
        return retry_after is None or retry_after <= self.max_retry_after


__all__ = ["RetryPolicy"]

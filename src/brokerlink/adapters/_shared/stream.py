"""The life cycle every broker's order websocket shares.

Open with ``async with``, iterate for ``OrderUpdate`` s, ``close`` when done. A dropped
connection is counted in ``reconnects``, reported to the ``on_status`` listener, and
reopened by the next read. Reopening waits a capped, jittered exponential backoff
(``Backoff``): the wait doubles with each consecutive failure, up to ``cap``, and the
streak resets once a connection has stayed up ``healthy_after`` seconds, so a broker that
keeps dropping is not hammered and one that dropped once is rejoined at once.

Each broker's stream supplies only what differs: ``_open`` (one attempt to connect, sign
in and subscribe) and how to turn frames into updates (``__anext__``, built on
``_next_frame``). Every broker returns its stream from ``order_updates()``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import websockets
from websockets.asyncio.client import ClientConnection

from brokerlink.core.errors import BrokerConnectionError
from brokerlink.core.events import StatusListener

logger = logging.getLogger("brokerlink.adapters.stream")

Sleep = Callable[[float], Awaitable[None]]

#: Failures of one attempt to open a stream that are worth another attempt. Anything
#: else (``AuthError`` for refused credentials, a ``BrokerError`` from the handshake)
#: propagates at once: retrying would not help.
RETRYABLE_OPEN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    websockets.InvalidHandshake,
    websockets.ConnectionClosed,
)


@dataclass(frozen=True)
class Backoff:
    """Capped, jittered exponential backoff for reopening a stream.

    Before the n-th consecutive reopen (n >= 1) the stream waits
    ``ceiling * (1 - jitter + jitter * r)`` with ``ceiling = min(cap, base * 2 ** (n - 1))``
    and ``r`` uniform in [0, 1): with the default ``jitter`` of 0.5 a wait is between half
    and all of its ceiling, so waits still grow while streams dropped together spread out.
    ``max_attempts`` consecutive failed opens raise ``BrokerConnectionError``.
    """

    base: float = 0.1
    cap: float = 5.0
    jitter: float = 0.5
    max_attempts: int = 8
    healthy_after: float = 30.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("Backoff needs 0 < base <= cap")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff jitter must be within [0, 1]")
        if self.max_attempts < 1:
            raise ValueError("Backoff max_attempts must be at least 1")

    def ceiling(self, streak: int) -> float:
        """The most the ``streak``-th consecutive reopen waits (0 for streak 0)."""
        if streak <= 0:
            return 0.0
        # min() before the power would overflow for a long streak; 2 ** 60 is plenty.
        return min(self.cap, self.base * float(2 ** min(streak - 1, 60)))

    def delay(self, streak: int, draw: float) -> float:
        """The wait before the ``streak``-th consecutive reopen, ``draw`` in [0, 1)."""
        ceiling = self.ceiling(streak)
        return ceiling * (1 - self.jitter + self.jitter * draw)


class WebsocketOrderStream(ABC):
    """Connection state, backoff, status reporting and closing for one order stream.

    ``listening`` is set while the subscription is live; ``reconnects`` counts drops;
    ``delays`` keeps the last waits before reopening (newest last), for diagnostics.
    ``jitter_source`` (draws in [0, 1)), ``sleep`` and ``clock`` (monotonic seconds) are
    injectable so tests control jitter and time.

    Subclasses implement ``_open`` and ``__anext__``, the latter built on
    ``_next_frame``; a subclass whose subscription is only known to be live later (no
    acknowledgement) calls ``_went_up`` itself and passes ``up_on_open=False``.
    """

    def __init__(self, *, description: str, backoff: Backoff | None = None,
                 jitter_source: Callable[[], float] | None = None,
                 sleep: Sleep | None = None,
                 clock: Callable[[], float] | None = None,
                 up_on_open: bool = True) -> None:
        self.reconnects = 0
        self.listening = asyncio.Event()
        self.delays: list[float] = []
        self.backoff = backoff or Backoff()
        self._description = description
        self._ws: ClientConnection | None = None
        self._closed = False
        self._status: StatusListener | None = None
        # None means the real thing; tests pass their own.
        self._draw = jitter_source or random.random
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock = clock or time.monotonic
        self._up_on_open = up_on_open
        self._streak = 0  # consecutive reopens without a healthy connection between
        self._up_since: float | None = None

    def on_status(self, listener: StatusListener | None) -> None:
        """Call ``listener(True)`` each time the subscription is live and
        ``listener(False)`` on every drop (see ``brokerlink.core.events``)."""
        self._status = listener

    async def __aenter__(self) -> Self:
        await self._connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the websocket; idempotent."""
        self._closed = True
        self.listening.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    def __aiter__(self) -> Self:
        return self

    async def _open(self) -> ClientConnection:
        """One attempt to connect, sign in and subscribe; returns the live connection.

        Raise one of ``RETRYABLE_OPEN_ERRORS`` for a failure worth another attempt
        (closing any half-open connection first), or ``AuthError``/``BrokerError`` to
        give up at once. Subclasses that override ``_connect`` instead need not
        implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _open")

    async def _connect(self) -> None:
        """Open the stream, retrying with backoff; leaves the connection in ``_ws``.

        Raises ``BrokerConnectionError`` after ``backoff.max_attempts`` consecutive
        failed attempts, and whatever ``_open`` raises that is not retryable."""
        failures = 0
        while True:
            if self._streak:
                delay = self.backoff.delay(self._streak, self._draw())
                self.delays = [*self.delays[-15:], delay]
                logger.info("%s: reopening in %.3fs", self._description, delay)
                await self._sleep(delay)
            if self._closed:
                raise StopAsyncIteration
            try:
                ws = await self._open()
            except RETRYABLE_OPEN_ERRORS as exc:
                failures += 1
                self._streak += 1
                if failures >= self.backoff.max_attempts:
                    raise BrokerConnectionError(
                        f"cannot open the {self._description} after {failures} attempts: "
                        f"{type(exc).__name__}") from exc
                continue
            self._ws = ws
            self._up_since = self._clock()
            if self._up_on_open:
                self._went_up()
            return

    @abstractmethod
    async def __anext__(self) -> object:
        """The next update; reconnects transparently. Raises ``StopAsyncIteration``
        after ``close``."""

    async def _next_frame(self) -> str | bytes | None:
        """The next raw frame, reconnecting first if the last read dropped; ``None``
        right after a drop. Raises ``StopAsyncIteration`` once the stream is closed."""
        if self._ws is None:
            if self._closed:
                raise StopAsyncIteration
            await self._connect()
        ws = self._ws
        if ws is None:
            raise RuntimeError("_connect returned without a connection")
        try:
            return await ws.recv()
        except websockets.ConnectionClosed:
            if self._closed:
                raise StopAsyncIteration from None
            self._went_down()
            return None

    def _went_up(self) -> None:
        self.listening.set()
        if self._status is not None:
            self._status(True)

    def _went_down(self) -> None:
        logger.warning("%s dropped; reconnecting", self._description)
        up_for = self._clock() - self._up_since if self._up_since is not None else 0.0
        # A connection that stayed up long enough was healthy: rejoin at once. One that
        # dropped soon after opening counts as another failure in the streak.
        self._streak = 0 if up_for >= self.backoff.healthy_after else self._streak + 1
        self._up_since = None
        self.listening.clear()
        self._ws = None
        self.reconnects += 1
        if self._status is not None:
            self._status(False)


__all__ = ["RETRYABLE_OPEN_ERRORS", "Backoff", "Sleep", "WebsocketOrderStream"]

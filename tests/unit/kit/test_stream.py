"""The shared stream life cycle over a real loopback websocket: reopening waits a
capped, jittered exponential backoff, the streak resets after a healthy connection, and
``max_attempts`` failed opens end in ``BrokerConnectionError``. Time and jitter are
injected: no test sleeps."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import Server, ServerConnection, serve

from brokerlink.adapters._shared.stream import Backoff, WebsocketOrderStream
from brokerlink.core.errors import BrokerConnectionError

DRAWS = (0.0, 0.5, 0.99, 0.25)


class FrameStream(WebsocketOrderStream):
    """The smallest real stream: each frame is an update."""

    def __init__(self, url: str, **options: object) -> None:
        super().__init__(description="test stream", **options)  # type: ignore[arg-type]
        self.url = url
        self.opens = 0

    async def _open(self) -> ClientConnection:
        self.opens += 1
        return await websockets.connect(self.url, open_timeout=5, ping_interval=None)

    async def __anext__(self) -> str:
        while True:
            raw = await self._next_frame()
            if raw is not None:
                return raw if isinstance(raw, str) else raw.decode()


class Recorder:
    """Injected ``sleep``, jitter draws and clock."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.now = 0.0
        self._draws: Iterator[float] = itertools.cycle(DRAWS)
        self.drawn: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def draw(self) -> float:
        value = next(self._draws)
        self.drawn.append(value)
        return value

    def clock(self) -> float:
        return self.now

    def options(self, backoff: Backoff) -> dict[str, object]:
        return {"backoff": backoff, "sleep": self.sleep, "jitter_source": self.draw,
                "clock": self.clock}


@pytest.fixture
async def one_frame_server() -> AsyncIterator[str]:
    """Each connection gets one numbered frame, then the server closes it."""
    counter = itertools.count(1)

    async def handler(ws: ServerConnection) -> None:
        await ws.send(f"frame-{next(counter)}")
        await ws.close()

    server: Server
    async with serve(handler, "127.0.0.1", 0) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        yield f"ws://{host}:{port}"


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}"  # nothing listens there any more: connect is refused


def test_backoff_is_exponential_capped_and_jittered() -> None:
    backoff = Backoff(base=0.1, cap=1.0, jitter=0.5)
    assert [backoff.ceiling(n) for n in range(7)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.delay(3, 0.0) == pytest.approx(0.2)  # at least half the ceiling
    assert backoff.delay(3, 0.999999) == pytest.approx(0.4, rel=1e-5)
    assert backoff.delay(10_000, 0.5) == pytest.approx(0.75)  # capped, no overflow
    assert Backoff(base=1, cap=1, jitter=0).delay(5, 0.9) == 1
    for bad in ({"base": 0}, {"cap": 0.01}, {"jitter": 2}, {"max_attempts": 0}):
        with pytest.raises(ValueError, match="Backoff"):
            Backoff(**bad)


async def test_failed_opens_wait_growing_jittered_delays_then_give_up() -> None:
    rec = Recorder()
    backoff = Backoff(base=0.1, cap=0.3, max_attempts=5)
    stream = FrameStream(_closed_port_url(), **rec.options(backoff))
    with pytest.raises(BrokerConnectionError, match="after 5 attempts"):
        async with stream:
            pass
    assert stream.opens == 5
    ceilings = [0.1, 0.2, 0.3, 0.3]  # doubling, then capped
    assert rec.slept == pytest.approx([c * (0.5 + 0.5 * d) for c, d in zip(
        ceilings, rec.drawn, strict=True)])
    assert stream.delays == rec.slept


async def test_quick_drops_back_off_and_a_healthy_connection_resets(
        one_frame_server: str) -> None:
    rec = Recorder()
    statuses: list[bool] = []
    backoff = Backoff(base=0.1, cap=5.0, healthy_after=30.0)
    async with FrameStream(one_frame_server, **rec.options(backoff)) as stream:
        stream.on_status(statuses.append)
        assert await anext(stream) == "frame-1"
        # Dropped at once after opening: each reopen waits longer.
        assert await anext(stream) == "frame-2"
        assert await anext(stream) == "frame-3"
        assert rec.slept == pytest.approx([0.1 * (0.5 + 0.5 * DRAWS[0]),
                                           0.2 * (0.5 + 0.5 * DRAWS[1])])
        # This connection stays up past healthy_after before dropping: rejoin at once.
        rec.now += 31.0
        assert await anext(stream) == "frame-4"
        assert len(rec.slept) == 2
        # The streak starts over: the next quick drop waits the base delay again.
        assert await anext(stream) == "frame-5"
        assert rec.slept[2] == pytest.approx(0.1 * (0.5 + 0.5 * DRAWS[2]))
        assert stream.reconnects == 4
        assert stream.listening.is_set()
    assert statuses == [False, True] * 4
    assert not stream.listening.is_set()
    await stream.close()  # idempotent

"""Per-call overhead of ``AlpacaBroker`` over a bare ``httpx`` call, on the same endpoint.

Measures ``get_positions()`` (``GET /v2/positions``, five positions held) and
``place_order()`` (``POST /v2/orders``, a market order that fills) against the baseline
a hand-written client would pay at minimum: ``httpx.AsyncClient`` sending the same request
(the same JSON body for the order) and ``json.loads`` on the answer. The raw client sends
through the same wire as the adapters (``AiohttpTransport``: aiohttp's pool under httpx),
so the ratio is the adapter's own work; httpx's default pool (httpcore) would cost both
sides about 0.4 ms more per call. Target: the adapter at most 1.25x the raw call's
median time per call.

Both sides run in one process, one event loop, against one Alpaca emulator served by
uvicorn in that same loop (``async with EmulatorServer``), each through its own single
pooled keep-alive connection, on the same account. The emulator runs in the loop rather
than in a thread because a threaded server adds GIL hand-offs between the two threads
(up to the 5 ms switch interval) whose noise is larger than the overhead being measured;
in one loop a call's time is client work plus server work plus loop scheduling, and the
server part is the same for both sides. The ratio is therefore diluted by the server's
time (as it would be by a real broker's latency); the report also gives the difference
in microseconds, which is the adapter's own cost per call.

Each side builds its request inside the timed region (the raw body dict with a fresh
client order id; our ``OrderRequest``, validated). The two loops are interleaved call by
call (alternating which side goes first) after a warm-up, so both share the machine's
noise; the figures are medians. The emulator injects no faults, and the bench strips its
``X-RateLimit-*`` headers: the emulator counts calls against Alpaca's 200/minute window
and the adapter, honouring ``Remaining: 0``, would otherwise pause for up to a minute
mid-run (the raw baseline never looks at them). The adapter's own client-side limiter is
set high enough not to wait but still runs per call.

The emulator helpers here (``bench_app``, ``emulator_process``, ``open_account``) are
shared with ``bench.alpaca_sdk``.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m bench.adapter_overhead``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI

from bench.child import child_process, until_stdin_closes
from brokerlink.adapters._shared.aiohttp_transport import AiohttpTransport
from brokerlink.adapters._shared.transport import shared_ssl_context
from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.core.enums import OrderSide, OrderStatus
from brokerlink.core.models import OrderRequest
from brokerlink.emulators import EmulatorServer, env_of
from brokerlink.emulators._shared.faults import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
)
from brokerlink.emulators.alpaca.app import create_app

HELD = ("AAPL", "MSFT", "NVDA", "KO", "PEP")
"""Positions the benchmark account holds while ``get_positions`` is timed."""

UNLIMITED = 1_000_000
"""Client-side rate limit (per minute) for benchmark brokers: never waits."""


# --- shared with bench.alpaca_sdk ------------------------------------------------------


def unlimited(app: FastAPI) -> FastAPI:
    """Emulator ``app`` with its rate window not enforced: it counts and reports, but
    never answers 429 (a benchmark measures the client, not the broker's limit)."""
    env_of(app).rates.enforce = False
    return app


def without_rate_limit_headers(app: ASGIApp) -> ASGIApp:
    """``app`` with ``X-RateLimit-*`` removed from every response, so no client is
    throttled by the emulator's per-account window during a benchmark (with ``unlimited``
    the window never refuses either)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_unlimited(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not bytes(k).lower().startswith(b"x-ratelimit-")]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_unlimited)

    return wrapped


def with_latency(app: ASGIApp, seconds: float) -> ASGIApp:
    """``app`` answering every broker (non-admin) request ``seconds`` later, without
    blocking the server: a stand-in for the network distance to a real broker."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).startswith("/_emulator"):
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return wrapped


def bench_app(latency_ms: float = 0) -> ASGIApp:
    """A fresh Alpaca emulator (market open, no faults) without rate-limit headers,
    optionally ``latency_ms`` away (see ``with_latency``)."""
    app: ASGIApp = without_rate_limit_headers(unlimited(create_app(seed=11)))
    return with_latency(app, latency_ms / 1000) if latency_ms > 0 else app


def serve_until_stdin_closes(latency_ms: float = 0) -> None:
    """Serve ``bench_app`` in this process: print its URL, stop when stdin closes."""

    async def serve() -> None:
        async with EmulatorServer(bench_app(latency_ms)) as server:
            print(server.url, flush=True)
            await until_stdin_closes()

    asyncio.run(serve())


@contextlib.contextmanager
def emulator_process(latency_ms: float = 0) -> Iterator[str]:
    """A fresh ``bench_app`` emulator served by a child Python process (``bench.child``)
    for the duration of the block; yields its URL. Raises ``RuntimeError`` if it does
    not start."""
    code = ("from bench.adapter_overhead import serve_until_stdin_closes as serve; "
            f"serve({float(latency_ms)!r})")
    with child_process(code) as url:
        if not url.startswith("http://"):
            raise RuntimeError(f"the emulator process did not start (said {url!r})")
        yield url


def bench_config(url: str) -> AlpacaConfig:
    """``AlpacaConfig.emulator(url)`` whose client-side limiter never waits."""
    return AlpacaConfig.emulator(url).model_copy(update={"rate_limit": UNLIMITED})


@dataclass(frozen=True)
class Keys:
    account_id: str
    key_id: str
    secret: str

    def headers(self) -> dict[str, str]:
        return {"APCA-API-KEY-ID": self.key_id, "APCA-API-SECRET-KEY": self.secret}

    def auth(self) -> AlpacaAuth:
        return AlpacaAuth(key_id=self.key_id, secret_key=self.secret)


async def open_account(admin: httpx.AsyncClient, cash: Decimal = Decimal(10) ** 7) -> Keys:
    """A new emulator account through the admin API. Raises ``httpx.HTTPStatusError``."""
    response = await admin.post("/_emulator/accounts", json={"cash": str(cash)})
    response.raise_for_status()
    body = response.json()
    return Keys(str(body["account_id"]), str(body["api_key_id"]), str(body["api_secret"]))


async def buy(client: httpx.AsyncClient, keys: Keys, symbols: tuple[str, ...],
              qty: int = 10) -> None:
    """Market-buy ``qty`` of each symbol over the wire. Raises ``RuntimeError`` unless
    every order fills."""
    for symbol in symbols:
        response = await client.post("/v2/orders", headers=keys.headers(), json={
            "symbol": symbol, "qty": str(qty), "side": "buy", "type": "market",
            "time_in_force": "day"})
        if response.status_code != 200 or response.json()["status"] != "filled":
            raise RuntimeError(f"setup order for {symbol} failed: {response.text}")


def median_us(samples: list[int]) -> float:
    """Median of nanosecond samples, in microseconds."""
    return statistics.median(samples) / 1000


@dataclass(frozen=True)
class Comparison:
    """Median per-call times of one operation, ours against a baseline."""

    operation: str
    calls: int
    ours_us: float
    baseline_us: float
    ours_cpu_us: float | None = None
    baseline_cpu_us: float | None = None
    """Client CPU per call (only meaningful when the server runs in another process)."""

    @property
    def ratio(self) -> float:
        return self.ours_us / self.baseline_us

    def line(self, baseline: str) -> str:
        text = (f"  {self.operation:<21} ours {self.ours_us:6.0f} us  {baseline} "
                f"{self.baseline_us:6.0f} us  ratio {self.ratio:4.2f}x  "
                f"({self.ours_us - self.baseline_us:+5.0f} us)")
        if self.ours_cpu_us is not None and self.baseline_cpu_us is not None:
            text += (f"  client CPU ours {self.ours_cpu_us:5.0f} us, {baseline} "
                     f"{self.baseline_cpu_us:5.0f} us")
        return text


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    started = time.perf_counter_ns()
    result = await call()
    return time.perf_counter_ns() - started, result


# --- this benchmark --------------------------------------------------------------------


@dataclass(frozen=True)
class OverheadResult:
    positions: Comparison
    orders: Comparison
    target: float = 1.25

    def report(self) -> str:
        verdict = " ".join(
            f"{c.operation} {'meets' if c.ratio <= self.target else 'misses'} it;"
            for c in (self.positions, self.orders))
        return "\n".join([
            f"adapter overhead (AlpacaBroker vs raw httpx + json.loads, same emulator and "
            f"wire, {self.positions.calls} calls each, medians):",
            self.positions.line("raw"),
            self.orders.line("raw"),
            f"  target <= {self.target:.2f}x: {verdict}"])


def _order_body(side: str) -> dict[str, str]:
    return {"symbol": "AAPL", "qty": "1", "side": side, "type": "market",
            "time_in_force": "day", "client_order_id": str(uuid.uuid4())}


async def measure(calls: int = 600, warmup: int = 50) -> OverheadResult:
    """Time ``calls`` interleaved calls per side and operation after ``warmup`` each.
    Raises ``RuntimeError`` if a call answers wrongly (an order not filled)."""
    async with EmulatorServer(bench_app()) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        keys = await open_account(admin)
        await buy(admin, keys, HELD)
        # The same wire as the adapter (aiohttp's pool under httpx, one connection), so the
        # ratio is the adapter's own work, not a difference between HTTP stacks.
        wire = AiohttpTransport(ssl_context=shared_ssl_context(), max_connections=1)
        async with httpx.AsyncClient(base_url=server.url, headers=keys.headers(),
                                     transport=wire) as raw, \
                AlpacaBroker(keys.auth(), config=bench_config(server.url)) as broker:

            async def raw_positions() -> object:
                response = await raw.get("/v2/positions")
                if response.status_code != 200:
                    raise RuntimeError(f"raw GET /v2/positions: {response.status_code}")
                return json.loads(response.content)

            async def our_positions() -> object:
                return await broker.get_positions()

            positions = await _interleave("get_positions", raw_positions, our_positions,
                                          calls, warmup)
            held = await broker.get_positions()
            if sorted(p.symbol for p in held) != sorted(HELD):
                raise RuntimeError(f"unexpected positions: {held}")

            # Alternate buying and selling one share so positions stay the same.
            sides = iter(["buy", "sell"] * (calls + warmup + 1) * 2)

            async def raw_order() -> object:
                response = await raw.post("/v2/orders", json=_order_body(next(sides)))
                body = json.loads(response.content)
                if response.status_code != 200 or body["status"] != "filled":
                    raise RuntimeError(f"raw order not filled: {response.text}")
                return body

            async def our_order() -> object:
                side = OrderSide.BUY if next(sides) == "buy" else OrderSide.SELL
                request = OrderRequest(symbol="AAPL", side=side, quantity=Decimal(1))
                result = await broker.place_order(request)
                if result.status is not OrderStatus.FILLED:
                    raise RuntimeError(f"order not filled: {result}")
                return result

            orders = await _interleave("place_order (market)", raw_order, our_order,
                                       calls, warmup)
    return OverheadResult(positions, orders)


async def _interleave(operation: str, raw: Callable[[], Awaitable[object]],
                      ours: Callable[[], Awaitable[object]], calls: int,
                      warmup: int) -> Comparison:
    for _ in range(warmup):
        await raw()
        await ours()
    raw_ns: list[int] = []
    our_ns: list[int] = []
    for i in range(calls):
        # Alternate who goes first so neither side always follows the other's garbage.
        pair = ((raw, raw_ns), (ours, our_ns)) if i % 2 == 0 else \
            ((ours, our_ns), (raw, raw_ns))
        for call, samples in pair:
            elapsed, _ = await timed(call)
            samples.append(elapsed)
    return Comparison(operation, calls, median_us(our_ns), median_us(raw_ns))


if __name__ == "__main__":
    print(asyncio.run(measure()).report())

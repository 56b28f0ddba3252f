"""``AlpacaBroker`` against Alpaca's official SDK (alpaca-py), on the same emulator.

Both sides talk to one Alpaca emulator that runs in a child Python process
(``bench.adapter_overhead.emulator_process``), like a real broker: alpaca-py is
synchronous (``requests``) so the server cannot share its thread, and a server thread in
the client's process (``EmulatorServer.run_in_thread``) makes the two share one GIL,
which penalises whichever client keeps running Python while the server works: the async
client's ``socket.send`` then waits for the GIL (about 1 ms per call in profiles), the
blocking ``requests`` client does not. ``BENCH_SERVER=thread`` runs the same benchmark
with the threaded server instead. Measured:

1. **Per call**: the same sequence, call for call, on both sides (each on its own
   account): get the account, the positions, place a market order (fills; buys and sells
   alternate), place a limit order far below the market (stays open), list open orders,
   get that order by id, cancel it. Each side builds its request objects inside the timed
   region (``OrderRequest`` / ``MarketOrderRequest``). Iterations alternate which side goes
   first; figures are median wall-clock microseconds per call, and median client CPU per
   call (this process only, so the server's work is not in it). Target: ours at least as
   fast.
2. **100 accounts aggregated**: 100 accounts opened through the admin API, each holding
   three positions. Ours: 100 ``AlpacaBroker`` instances (``connect``, then account and
   positions together) run concurrently with ``asyncio.gather``; alpaca-py: one
   ``TradingClient`` per account, looped over sequentially as its synchronous API does.
   Timed cold (new clients, connect included; ours sends 3 requests per account because
   ``connect`` loads the account, alpaca-py 2) and warm (the same clients again). Target:
   ours at least 5x faster. On loopback each request costs the emulator ~1-1.5 ms of CPU
   and either client about as much, so concurrency can at best overlap the two (about 2x
   on 2 cores); the run is repeated with the emulator answering 20 ms late (a non-blocking
   ``asyncio.sleep`` per broker request, standing in for the network distance to Alpaca),
   which is where concurrency pays.

As in ``bench.adapter_overhead``, the emulator injects no faults and its ``X-RateLimit-*``
headers are stripped (alpaca-py ignores them; the adapter would pause at ``Remaining: 0``
after 200 calls per account per minute). About 55 s on a 2-core machine.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m bench.alpaca_sdk``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide as SdkSide
from alpaca.trading.enums import QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from bench.adapter_overhead import (
    Comparison,
    Keys,
    bench_app,
    bench_config,
    buy,
    emulator_process,
    median_us,
    open_account,
)
from brokerlink.adapters.alpaca import AlpacaBroker
from brokerlink.core.enums import OrderSide, OrderStatus, OrderType
from brokerlink.core.models import OrderRequest
from brokerlink.emulators import EmulatorServer

HELD = ("AAPL", "MSFT", "KO")
SERVER = os.environ.get("BENCH_SERVER", "process")
FAR_BELOW = Decimal(1)
"""Limit price for the order that must stay open (every emulated stock trades above it)."""

FAR_MS = 20.0
"""Simulated distance to the broker for the second aggregation run (a typical round trip
to Alpaca from the same continent)."""

OPERATIONS = ("get_account", "get_positions", "place_order (market)",
              "place_order (limit)", "get_orders (open)", "get_order", "cancel_order")


class Sdk:
    """alpaca-py's ``TradingClient`` behind typed methods: the SDK is untyped here
    (``ignore_missing_imports``), so its values are turned into plain ``str`` at once."""

    def __init__(self, keys: Keys, url: str) -> None:
        self._client: Any = TradingClient(keys.key_id, keys.secret, paper=True,
                                          url_override=url)

    def account_equity(self) -> str:
        return str(self._client.get_account().equity)

    def position_symbols(self) -> list[str]:
        return [str(p.symbol) for p in self._client.get_all_positions()]

    def market(self, side: str) -> str:
        """Place a one-share AAPL market order; its status."""
        order = self._client.submit_order(MarketOrderRequest(
            symbol="AAPL", qty=1, side=SdkSide(side), time_in_force=TimeInForce.DAY))
        return str(order.status.value)

    def limit(self) -> str:
        """Place a resting one-share AAPL limit buy; its id."""
        order = self._client.submit_order(LimitOrderRequest(
            symbol="AAPL", qty=1, side=SdkSide.BUY, time_in_force=TimeInForce.DAY,
            limit_price=float(FAR_BELOW)))
        return str(order.id)

    def open_order_ids(self) -> list[str]:
        orders = self._client.get_orders(GetOrdersRequest(
            status=QueryOrderStatus.OPEN, limit=500, direction=Sort.DESC))
        return [str(o.id) for o in orders]

    def order_status(self, order_id: str) -> str:
        return str(self._client.get_order_by_id(order_id).status.value)

    def cancel(self, order_id: str) -> None:
        self._client.cancel_order_by_id(order_id)


def _emulator(latency_ms: float = 0) -> contextlib.AbstractContextManager[str]:
    if SERVER == "thread":
        return _threaded(latency_ms)
    return emulator_process(latency_ms)


@contextlib.contextmanager
def _threaded(latency_ms: float) -> Iterator[str]:
    with EmulatorServer.run_in_thread(bench_app(latency_ms)) as server:
        yield server.url


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"wrong result: {what}")


# --- 1. per call ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallsResult:
    iterations: int
    comparisons: tuple[Comparison, ...]

    def report(self) -> str:
        slower = [c.operation for c in self.comparisons if c.ratio > 1]
        verdict = "ours is at least as fast on every call" if not slower else \
            f"ours is slower on: {', '.join(slower)}"
        return "\n".join([
            f"AlpacaBroker vs alpaca-py {_sdk_version()} (same emulator, in a {SERVER}, "
            f"{self.iterations} iterations of the sequence, median per call):",
            *(c.line("alpaca-py") for c in self.comparisons),
            f"  target ours <= alpaca-py per call: {verdict}"])


def _sdk_version() -> str:
    from importlib.metadata import version

    return version("alpaca-py")


class Samples:
    """Per operation: wall-clock and client-CPU nanoseconds of each call."""

    def __init__(self) -> None:
        self.wall: dict[str, list[int]] = {name: [] for name in OPERATIONS}
        self.cpu: dict[str, list[int]] = {name: [] for name in OPERATIONS}

    def add(self, name: str, wall: int, cpu: int) -> None:
        self.wall[name].append(wall)
        self.cpu[name].append(cpu)


async def _our_sequence(broker: AlpacaBroker, i: int, times: Samples) -> None:
    async def step(name: str, call: Any) -> Any:
        cpu, started = time.process_time_ns(), time.perf_counter_ns()
        result = await call()
        times.add(name, time.perf_counter_ns() - started, time.process_time_ns() - cpu)
        return result

    account = await step("get_account", broker.get_account)
    _check(account.account_id != "", "account")
    positions = await step("get_positions", broker.get_positions)
    _check(len(positions) == len(HELD), f"positions {positions}")
    side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
    market = await step("place_order (market)", lambda: broker.place_order(
        OrderRequest(symbol="AAPL", side=side, quantity=Decimal(1))))
    _check(market.status is OrderStatus.FILLED, f"market order {market}")
    limit = await step("place_order (limit)", lambda: broker.place_order(OrderRequest(
        symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(1), order_type=OrderType.LIMIT,
        limit_price=FAR_BELOW)))
    _check(limit.order_id is not None and limit.status.is_open, f"limit order {limit}")
    order_id = str(limit.order_id)
    open_orders = await step("get_orders (open)", lambda: broker.get_orders(OrderStatus.NEW))
    _check([o.order_id for o in open_orders] == [order_id], f"open orders {open_orders}")
    order = await step("get_order", lambda: broker.get_order(order_id))
    _check(order.order_id == order_id, "get_order")
    canceled = await step("cancel_order", lambda: broker.cancel_order(order_id))
    _check(canceled, "cancel")


def _sdk_sequence(sdk: Sdk, i: int, times: Samples) -> None:
    def step(name: str, call: Callable[[], Any]) -> Any:
        cpu, started = time.process_time_ns(), time.perf_counter_ns()
        result = call()
        times.add(name, time.perf_counter_ns() - started, time.process_time_ns() - cpu)
        return result

    _check(step("get_account", sdk.account_equity) != "", "account")
    _check(len(step("get_positions", sdk.position_symbols)) == len(HELD), "positions")
    side = "buy" if i % 2 == 0 else "sell"
    _check(step("place_order (market)", lambda: sdk.market(side)) == "filled", "market order")
    order_id: str = step("place_order (limit)", sdk.limit)
    _check(step("get_orders (open)", sdk.open_order_ids) == [order_id], "open orders")
    _check(step("get_order", lambda: sdk.order_status(order_id)) in ("new", "accepted"),
           "get_order")
    step("cancel_order", lambda: sdk.cancel(order_id))


async def measure_calls(iterations: int = 150, warmup: int = 20) -> CallsResult:
    """The per-call comparison (see the module docstring). Raises ``RuntimeError`` if a
    call answers wrongly on either side."""
    with _emulator() as url:
        async with httpx.AsyncClient(base_url=url) as admin:
            ours_keys, sdk_keys = await open_account(admin), await open_account(admin)
            await buy(admin, ours_keys, HELD)
            await buy(admin, sdk_keys, HELD)
        sdk = Sdk(sdk_keys, url)
        ours, theirs = Samples(), Samples()
        async with AlpacaBroker(ours_keys.auth(), config=bench_config(url)) as broker:
            for i in range(warmup):
                await _our_sequence(broker, i, Samples())
                _sdk_sequence(sdk, i, Samples())
            for i in range(iterations):
                if i % 2 == 0:
                    await _our_sequence(broker, i, ours)
                    _sdk_sequence(sdk, i, theirs)
                else:
                    _sdk_sequence(sdk, i, theirs)
                    await _our_sequence(broker, i, ours)
    return CallsResult(iterations, tuple(
        Comparison(name, iterations, median_us(ours.wall[name]), median_us(theirs.wall[name]),
                   *_client_cpu(ours.cpu[name], theirs.cpu[name]))
        for name in OPERATIONS))


def _client_cpu(ours: list[int], theirs: list[int]) -> tuple[float | None, float | None]:
    # With a server thread, this process's CPU time includes the server's work.
    if SERVER == "thread":
        return None, None
    return median_us(ours), median_us(theirs)


# --- 2. 100 accounts --------------------------------------------------------------------


@dataclass(frozen=True)
class AccountsResult:
    accounts: int
    rounds: int
    sdk_rounds: int
    latency_ms: float
    load: float
    """The 1-minute load average when the run started: other processes on a 2-core
    machine take the second core that the concurrent side needs."""
    ours_cold_s: float
    sdk_cold_s: float
    ours_warm_s: float
    sdk_warm_s: float
    target: float = 5.0

    def report(self) -> str:
        cold = self.sdk_cold_s / self.ours_cold_s
        warm = self.sdk_warm_s / self.ours_warm_s
        where = f"emulator {self.latency_ms:g} ms away" if self.latency_ms else "loopback"
        bound = "" if self.latency_ms else (" (on loopback the emulator's own time per "
                                            "request bounds it; see the docstring)")
        return "\n".join([
            f"{self.accounts} accounts, account + positions each, {where} (ours concurrent, "
            f"median of {self.rounds}; alpaca-py sequential, median of {self.sdk_rounds}; "
            f"load average {self.load:.1f}):",
            f"  cold (new clients, connect)  ours {self.ours_cold_s * 1000:7.0f} ms   "
            f"alpaca-py {self.sdk_cold_s * 1000:7.0f} ms   ours {cold:4.1f}x faster",
            f"  warm (same clients again)    ours {self.ours_warm_s * 1000:7.0f} ms   "
            f"alpaca-py {self.sdk_warm_s * 1000:7.0f} ms   ours {warm:4.1f}x faster",
            f"  target >= {self.target:.0f}x: "
            f"{'met' if min(cold, warm) >= self.target else 'not met'}{bound}"])


async def _our_fetch(broker: AlpacaBroker) -> None:
    account, positions = await asyncio.gather(broker.get_account(), broker.get_positions())
    _check(account.account_id == broker.account_id and len(positions) == len(HELD),
           f"account {broker.account_id}: {len(positions)} positions")


async def _our_round(all_keys: list[Keys], url: str) -> tuple[float, float]:
    config = bench_config(url)
    brokers = [AlpacaBroker(keys.auth(), config=config) for keys in all_keys]

    async def cold(broker: AlpacaBroker) -> None:
        await broker.connect()
        await _our_fetch(broker)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(cold(b) for b in brokers))
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(_our_fetch(b) for b in brokers))
        warm_s = time.perf_counter() - started
    finally:
        await asyncio.gather(*(b.disconnect() for b in brokers))
    return cold_s, warm_s


def _sdk_round(all_keys: list[Keys], url: str) -> tuple[float, float]:
    def fetch(sdk: Sdk) -> None:
        _check(sdk.account_equity() != "" and len(sdk.position_symbols()) == len(HELD),
               "alpaca-py account")

    started = time.perf_counter()
    clients = []
    for keys in all_keys:
        sdk = Sdk(keys, url)
        fetch(sdk)
        clients.append(sdk)
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    for sdk in clients:
        fetch(sdk)
    return cold_s, time.perf_counter() - started


async def measure_accounts(accounts: int = 100, rounds: int = 3, *, sdk_rounds: int = 3,
                           latency_ms: float = 0, warmup: bool = True) -> AccountsResult:
    """The 100-account aggregation (see the module docstring): ``rounds`` of ours and
    ``sdk_rounds`` of alpaca-py, alternating, after an optional warm-up round of each;
    medians reported. The emulator answers ``latency_ms`` late. Raises ``RuntimeError``
    if any account reads wrongly."""
    load = os.getloadavg()[0]
    with _emulator(latency_ms) as url:
        async with httpx.AsyncClient(base_url=url) as admin:
            all_keys = [await open_account(admin, Decimal(100_000)) for _ in range(accounts)]
            for keys in all_keys:
                await buy(admin, keys, HELD, qty=2)
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        if warmup:  # imports, pydantic schemas, first sockets
            await _our_round(all_keys, url)
            _sdk_round(all_keys, url)
        for i in range(max(rounds, sdk_rounds)):
            sdk_first = i % 2 == 1
            if sdk_first and len(theirs) < sdk_rounds:
                theirs.append(_sdk_round(all_keys, url))
            if len(ours) < rounds:
                ours.append(await _our_round(all_keys, url))
            if not sdk_first and len(theirs) < sdk_rounds:
                theirs.append(_sdk_round(all_keys, url))
    return AccountsResult(
        accounts, rounds, sdk_rounds, latency_ms, load,
        statistics.median(c for c, _ in ours), statistics.median(c for c, _ in theirs),
        statistics.median(w for _, w in ours), statistics.median(w for _, w in theirs))


# --- both -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SdkResult:
    calls: CallsResult
    accounts: AccountsResult
    accounts_far: AccountsResult

    def report(self) -> str:
        return "\n".join(r.report() for r in (self.calls, self.accounts, self.accounts_far))


async def measure() -> SdkResult:
    """Every comparison, one after the other (about 50 s)."""
    calls = await measure_calls()
    accounts = await measure_accounts()
    # alpaca-py's time here is mostly the fixed waits, so one round of it is enough.
    far = await measure_accounts(rounds=3, sdk_rounds=1, latency_ms=FAR_MS, warmup=False)
    return SdkResult(calls, accounts, far)


if __name__ == "__main__":
    print(asyncio.run(measure()).report())

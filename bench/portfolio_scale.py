"""The consolidated portfolio over 1,000 stored connections, in one run.

What ``brokerlink portfolio`` reads (``cli.portfolio.read_portfolio``: every connection's
positions and balances concurrently, consolidated by symbol and valued in USD), on a
``BrokerManager`` over a ``ConnectionService`` on a fresh SQLite database in a
throwaway ``BROKERLINK_HOME`` (file key provider, as the manager tests set it up). The
connections are stored through ``add_broker``, one in three each: paper
(``always_open``), Alpaca and Tradier, the last two by API key/token against the local
emulators (lenient: every new key opens its own funded account). Every account holds
two of eight symbols, so each read must return 2N holdings in eight lines and N valued
accounts; any connection that errors, or a count that is off, raises ``RuntimeError``.
``read_timeout`` is 300 s so that no connection times out.

Timed, on one manager:

* **cold**: the first read, which opens every stored connection (secrets unsealed from
  the vault) and connects it (Alpaca loads the account, Tradier the profile). Paper
  connections are open already: the manager keeps the paper account it creates in
  ``add_broker``. This read is also the warm-up.
* **warm**: the median of ``rounds`` further reads (wall time, and this process's CPU
  time over it).
* **sum of per-connection times**: then one connection at a time, its positions and
  then its balances, on the very broker objects the manager holds
  (``BrokerManager.broker``), the times added up. Consolidation and valuation are not
  in it: they are not per-connection work.

Target: the warm read under 2 s for 1,000 connections on a 2-core machine; sum / wall
is what the concurrent fan-out gains over reading one connection after another.

As shipped, every broker request is appended to the hash-chained audit log before the
call returns (``AuditLogSink``: a serialised SQLite write transaction and the
checkpoint file each time), as in ``brokerlink portfolio``. A diagnostic then repeats
the warm reads and the sum on the same manager with those appends skipped
(``BenchService.audit_requests = False``; the adapters still build each event), to show
how much of the time is the audit log. Only the first figures are the product's.

The emulators run in a child Python process by default (``--server process``), as a
real broker runs elsewhere: on loopback they spend about as much CPU per request as the
client, and sharing its core would add that to every figure. ``--server loop`` serves
them in the client's event loop instead. They keep idle connections 75 s
(``KeepAliveServer``) and never refuse or throttle: their rate windows are not enforced
(``unlimited``) and every ``X-RateLimit-*``/``X-Ratelimit-*`` header is stripped,
so the adapters' client-side buckets (which cap their tokens at what the server says is
left) never pause; each connection sends about 20 requests in the whole run, inside
those buckets' full bursts (Alpaca 200, Tradier 120 per minute). Orders that give the
accounts their positions are setup, not measured: emulator accounts buy over raw HTTP
(so their brokers stay unopened until the cold read), paper ones through a submitter
that goes straight to the broker (the journal's durable write-ahead is not measured
here). Setup stores with request auditing off; it takes about 15 ms of CPU per
``add_broker``.

Paper accounts are stored in the database (a read first checks the stored version).
The first call a minute or more after a paper account's market last moved catches it
up with the wall clock (every price steps, the account is saved: about 7-15 ms for a
lag of a minute to an hour), at most once a minute per account. Setup moves each paper
market an hour ahead (``PAPER_AHEAD``), which also builds its price walks, so that no
read in the run pays a catch-up: otherwise it would land in whichever phase crosses
the minute. A portfolio refreshed every minute would pay it on top of these figures.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m bench.portfolio_scale
[--connections N] [--server process|loop] [--rounds R] [--no-diagnostic]``; about
100 s for 1,000 connections, most of it the audited reads and storing the connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import httpx
import uvicorn
from pydantic import SecretStr

from bench.adapter_overhead import unlimited, without_rate_limit_headers
from bench.child import child_process, until_stdin_closes
from brokerlink.adapters._shared import AuditSink, RequestAuditEvent
from brokerlink.adapters.paper import PaperSettings
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.bootstrap import (
    AuditLog,
    Vault,
    connection_stores,
    load_vault,
    open_audit_log,
)
from brokerlink.cli.demo import demo_home
from brokerlink.core.enums import BrokerType, OrderSide, OrderStatus
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import BrokerCredentials, OrderRequest, OrderResult
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators._shared.faults import ASGIApp
from brokerlink.emulators.alpaca.app import create_app as alpaca_app
from brokerlink.emulators.tradier.app import create_app as tradier_app
from brokerlink.manager.aggregate import ConsolidatedView, consolidate
from brokerlink.manager.connections import ConnectionService
from brokerlink.manager.manager import BrokerManager
from brokerlink.manager.valuation import PortfolioValue, value_portfolio
from brokerlink.storage.engine import Database, open_database

KINDS = ("paper", "alpaca", "tradier")
SYMBOLS = ("AAPL", "MSFT", "NVDA", "KO", "PEP", "JPM", "XOM", "SPY")
HELD = 2
"""Positions per account: symbols ``i`` and ``i + 3`` (mod 8) for connection ``i``."""

QUANTITY = 3
TARGET_SECONDS = 2.0
READ_TIMEOUT = 300.0
"""Seconds each connection gets per read: far above any pass, so none times out."""

ADD_BATCH = 10
"""Connections added concurrently (an add is ~15 ms of CPU: overlap gains little)."""

ORDER_CONCURRENCY = 32
PAPER_AHEAD = timedelta(hours=1)
"""How far setup moves each paper account's market ahead of the wall clock, so that no
read in the run catches it up (see the module docstring): longer than any run."""

Server = Literal["process", "loop"]


# --- shared with bench.idle_memory -------------------------------------------------------


def private_home() -> contextlib.AbstractContextManager[Path]:
    """A throwaway ``BROKERLINK_HOME`` with the file key provider and none of the
    caller's brokerlink settings (the demo's): a benchmark must never touch the real
    database or the OS keyring."""
    return demo_home(None)


class BenchService(ConnectionService):
    """The product's ``ConnectionService``, except that while ``audit_requests`` is
    False the request audit sink it gives adapters drops events instead of appending
    them to the audit log (the adapters still build them)."""

    def __init__(self, database: Database, vault: Vault, audit: AuditLog, *,
                 actor: str) -> None:
        super().__init__(database, vault, audit, actor=actor,
                         **connection_stores(database, vault))
        self.audit_requests = True

    @property
    def audit_sink(self) -> AuditSink:
        return _SwitchedSink(super().audit_sink, self)


class _SwitchedSink:
    def __init__(self, inner: AuditSink, service: BenchService) -> None:
        self._inner = inner
        self._service = service

    async def record(self, event: RequestAuditEvent) -> None:
        if self._service.audit_requests:
            await self._inner.record(event)


@contextlib.asynccontextmanager
async def store(directory: Path) -> AsyncIterator[tuple[Database, Vault, AuditLog]]:
    """The SQLite database in ``directory`` (created and migrated on first use), its
    vault (key file in the home's ``keys``) and audit log (checkpoint mirror beside the
    database, so several databases can be open at once), as ``ConnectionService`` takes
    them; closed afterwards."""
    database = await open_database(f"sqlite+aiosqlite:///{directory}/brokerlink.db")
    try:
        vault = await load_vault(database, FileKeyProvider())
        audit = await open_audit_log(database, vault,
                                    checkpoint_path=directory / "audit.checkpoint")
        try:
            yield database, vault, audit
        finally:
            await audit.aclose()
    finally:
        await database.aclose()


class DirectSubmitter:
    """``OrderSubmitter`` sending setup orders straight to the broker (no journal)."""

    async def submit(self, *, connection_id: str, account_id: str, broker: BrokerInterface,
                     order: OrderRequest, idempotency_key: str | None = None) -> OrderResult:
        return await broker.place_order(order)


def emulator_apps() -> dict[str, ASGIApp]:
    """Fresh Alpaca and Tradier emulators (market open, no faults) that never refuse or
    throttle: their rate windows are not enforced and every rate-limit header is
    stripped (see the module docstring)."""
    return {"alpaca": without_rate_limit_headers(unlimited(alpaca_app(seed=11))),
            "tradier": without_rate_limit_headers(unlimited(tradier_app(seed=12)))}


class KeepAliveServer(EmulatorServer):
    """An ``EmulatorServer`` keeping idle connections 75 s, like a real broker's front
    end. uvicorn's default, 5 s, equals httpx's client-side expiry: the two race, and a
    read sent on a connection the server is closing fails once and is retried after a
    random back-off, which lands in the figures as noise."""

    def _config(self) -> uvicorn.Config:
        config = super()._config()
        config.timeout_keep_alive = 75
        return config


@contextlib.asynccontextmanager
async def emulators_in_loop() -> AsyncIterator[dict[str, str]]:
    """``emulator_apps`` served in this event loop; yields their URLs by name."""
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for name, app in emulator_apps().items():
            urls[name] = (await stack.enter_async_context(KeepAliveServer(app))).url
        yield urls


def serve_until_stdin_closes() -> None:
    """Serve ``emulator_apps`` in this process: print their URLs (one JSON line), stop
    when stdin closes."""

    async def serve() -> None:
        async with emulators_in_loop() as urls:
            print(json.dumps(urls), flush=True)
            await until_stdin_closes()

    asyncio.run(serve())


@contextlib.contextmanager
def emulators_process() -> Iterator[dict[str, str]]:
    """``emulator_apps`` served by a child Python process for the block; yields their
    URLs. Raises ``RuntimeError`` if it does not start."""
    code = "from bench.portfolio_scale import serve_until_stdin_closes as s; s()"
    with child_process(code) as line:
        try:
            urls = json.loads(line)
        except ValueError as exc:
            raise RuntimeError(f"the emulator process did not start (said {line!r})") from exc
        yield {str(k): str(v) for k, v in urls.items()}


@contextlib.asynccontextmanager
async def emulators(server: Server) -> AsyncIterator[dict[str, str]]:
    if server == "loop":
        async with emulators_in_loop() as urls:
            yield urls
    else:
        with emulators_process() as urls:
            yield urls


@dataclass(frozen=True)
class Stored:
    """One stored connection and what the bench needs to give it positions."""

    connection_id: str
    kind: str
    index: int
    secret: str
    """Alpaca key secret or Tradier token ("" for paper)."""

    @property
    def key(self) -> str:
        return f"PKBENCH{self.index:07d}"

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(SYMBOLS[(self.index + k * 3) % len(SYMBOLS)] for k in range(HELD))


def credentials_for(kind: str, index: int, urls: dict[str, str]
                    ) -> tuple[BrokerCredentials | None, str]:
    """The credentials connection ``index`` of ``kind`` signs in with, and its secret."""
    if kind == "alpaca":
        secret = f"bench-secret-{index:07d}"
        return BrokerCredentials(broker=BrokerType.ALPACA, api_key=SecretStr(
            f"PKBENCH{index:07d}"), api_secret=SecretStr(secret), base_url=urls["alpaca"]), secret
    if kind == "tradier":
        token = f"bench-token-{index:07d}"
        return BrokerCredentials(broker=BrokerType.TRADIER, access_token=SecretStr(token),
                                 base_url=urls["tradier"]), token
    return None, ""


async def add_connections(manager: BrokerManager, urls: dict[str, str], count: int, *,
                          kinds: tuple[str, ...] = KINDS, first: int = 0) -> list[Stored]:
    """Store ``count`` connections through ``add_broker``, cycling through ``kinds``,
    ``ADD_BATCH`` at a time; their keys are numbered from ``first``."""
    async def add(index: int) -> Stored:
        kind = kinds[(index - first) % len(kinds)]
        credentials, secret = credentials_for(kind, index, urls)
        if kind == "paper":
            connection_id = await manager.add_broker(
                "paper", settings=PaperSettings(cash=Decimal(100_000), market="always_open"))
        else:
            connection_id = await manager.add_broker(kind, credentials)
        return Stored(connection_id, kind, index, secret)

    stored: list[Stored] = []
    for start in range(first, first + count, ADD_BATCH):
        batch = range(start, min(first + count, start + ADD_BATCH))
        stored += await asyncio.gather(*(add(i) for i in batch))
    return stored


async def give_positions(manager: BrokerManager, urls: dict[str, str],
                         stored: list[Stored]) -> None:
    """Buy ``QUANTITY`` of each of its symbols in every account. Emulator accounts buy
    over raw HTTP (so their brokers stay unopened until the cold read), paper ones
    through the manager. Raises ``RuntimeError`` if an order is refused."""
    records = {r.id: r for r in await manager.connections.list()}
    limit = asyncio.Semaphore(ORDER_CONCURRENCY)
    async with httpx.AsyncClient(timeout=60) as client:

        async def buy(conn: Stored, symbol: str) -> None:
            async with limit:
                if conn.kind == "paper":
                    placed = await manager.place_order(OrderRequest(
                        symbol=symbol, side=OrderSide.BUY, quantity=Decimal(QUANTITY)),
                        connection_id=conn.connection_id)
                    ok = placed.result is not None and placed.result.status is OrderStatus.FILLED
                    text = repr(placed.result)
                elif conn.kind == "alpaca":
                    response = await client.post(f"{urls['alpaca']}/v2/orders", headers={
                        "APCA-API-KEY-ID": conn.key, "APCA-API-SECRET-KEY": conn.secret},
                        json={"symbol": symbol, "qty": str(QUANTITY), "side": "buy",
                              "type": "market", "time_in_force": "day"})
                    ok = response.status_code == 200 and response.json()["status"] == "filled"
                    text = response.text
                else:
                    account = records[conn.connection_id].account_ids[0]
                    response = await client.post(
                        f"{urls['tradier']}/v1/accounts/{account}/orders",
                        headers={"Authorization": f"Bearer {conn.secret}",
                                 "Accept": "application/json"},
                        data={"class": "equity", "symbol": symbol, "side": "buy",
                              "quantity": str(QUANTITY), "type": "market", "duration": "day"})
                    ok = response.status_code == 200 and "errors" not in response.json()
                    text = response.text
            if not ok:
                raise RuntimeError(f"setup order {symbol} for {conn.kind} {conn.index} "
                                   f"failed: {text[:300]}")

        await asyncio.gather(*(buy(conn, symbol) for conn in stored for symbol in conn.symbols))


@runtime_checkable
class MarketMover(Protocol):
    """A broker whose simulated market can be moved forward (a simulated account)."""

    async def advance(self, delta: timedelta) -> None: ...


async def move_paper_markets(manager: BrokerManager, delta: timedelta) -> int:
    """Move the simulated market of every stored paper account ``delta`` forward (its
    prices step: the engine builds a price walk per instrument on the first step);
    returns how many moved."""
    moved = 0
    for record in await manager.connections.list():
        if record.broker == BrokerType.PAPER.value:
            broker = await manager.broker(record.id)
            if isinstance(broker, MarketMover):
                await broker.advance(delta)
                moved += 1
    return moved


# --- this benchmark ----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    positions: ConsolidatedView
    value: PortfolioValue


async def read_portfolio(manager: BrokerManager) -> Snapshot:
    """What ``brokerlink portfolio`` reads (``cli.portfolio.read_portfolio``), on an
    open manager."""
    positions, balances = await asyncio.gather(manager.get_all_positions(),
                                               manager.get_all_balances())
    value = await value_portfolio(balances, manager.fx, manager.base_currency)
    return Snapshot(consolidate(positions), value)


def check(snapshot: Snapshot, stored: list[Stored]) -> None:
    """Raise ``RuntimeError`` unless every connection answered with its positions."""
    errors = {**snapshot.positions.errors, **snapshot.value.errors}
    if errors:
        first = next(iter(errors.items()))
        raise RuntimeError(f"{len(errors)} of {len(stored)} connections failed, e.g. "
                           f"{first[0]}: {type(first[1]).__name__}: {first[1]}")
    holdings = sum(len(line.holdings) for line in snapshot.positions.lines)
    symbols = {s for conn in stored for s in conn.symbols}
    if holdings != HELD * len(stored) or {
            line.symbol for line in snapshot.positions.lines} != symbols:
        raise RuntimeError(f"expected {HELD * len(stored)} holdings in {len(symbols)} lines, "
                           f"got {holdings} in {len(snapshot.positions.lines)}")
    if len(snapshot.value.lines) != len(stored) or snapshot.value.total <= 0:
        raise RuntimeError(f"valued {len(snapshot.value.lines)} accounts of {len(stored)}, "
                           f"total {snapshot.value.total}")


async def _timed_read(manager: BrokerManager, stored: list[Stored]) -> tuple[float, float]:
    """Wall and CPU seconds of one checked read."""
    cpu, started = time.process_time(), time.perf_counter()
    snapshot = await read_portfolio(manager)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    check(snapshot, stored)
    return elapsed, cpu


@dataclass(frozen=True)
class Phase:
    """One set of reads of every connection, in seconds; ``per_connection`` by kind."""

    label: str
    cold_s: float | None
    warm_s: tuple[float, ...]
    warm_cpu_s: tuple[float, ...]
    per_connection: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def warm_median_s(self) -> float:
        return statistics.median(self.warm_s)

    @property
    def sum_s(self) -> float:
        return sum(sum(times) for times in self.per_connection.values())

    @property
    def ratio(self) -> float:
        return self.sum_s / self.warm_median_s

    def lines(self, target: float) -> list[str]:
        warm = self.warm_median_s
        kinds = ", ".join(f"{kind} {statistics.median(times) * 1000:.1f} ms"
                          for kind, times in self.per_connection.items())
        lines = [f"  {self.label}:"]
        if self.cold_s is not None:
            lines.append(f"    cold: first read, opening and connecting   {self.cold_s:6.2f} s")
        rounds = "" if len(self.warm_s) == 1 else \
            f", median of {', '.join(f'{w:.2f}' for w in self.warm_s)}"
        return [*lines,
                f"    warm: wall time of one read                 {warm:6.2f} s (client "
                f"CPU {statistics.median(self.warm_cpu_s):.2f} s{rounds})",
                f"    sum of per-connection times, one at a time  {self.sum_s:6.2f} s "
                f"(median {kinds})",
                f"    sum / wall {self.ratio:.1f}x; target wall < {target:g} s warm: "
                f"{'met' if warm < target else 'NOT met'}"]


async def measure_phase(manager: BrokerManager, stored: list[Stored], label: str, *,
                        rounds: int, cold: bool) -> Phase:
    """With ``cold``, time the first read (it opens and connects every connection and
    is the warm-up); else read once untimed. Then ``rounds`` timed reads, then each
    connection on its own. Raises ``RuntimeError`` if a read misses a connection or a
    position."""
    if cold:
        cold_s: float | None = (await _timed_read(manager, stored))[0]
    else:
        cold_s = None
        await _timed_read(manager, stored)
    warm = [await _timed_read(manager, stored) for _ in range(rounds)]
    per_connection: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for conn in stored:
        broker = await manager.broker(conn.connection_id)
        started = time.perf_counter()
        positions = await broker.get_positions()
        await broker.get_balances()
        per_connection[conn.kind].append(time.perf_counter() - started)
        if len(positions) != HELD:
            raise RuntimeError(f"{conn.kind} {conn.index}: {len(positions)} positions")
    return Phase(label, cold_s, tuple(w for w, _ in warm), tuple(c for _, c in warm),
                 {kind: tuple(times) for kind, times in per_connection.items() if times})


@dataclass(frozen=True)
class PortfolioScaleResult:
    connections: int
    server: Server
    load: float
    """1-minute load average when the run started: on 2 cores another busy process
    takes the core the emulator (or the SQLite thread) would use."""
    setup_s: float
    audited: Phase
    unaudited: Phase | None
    target_s: float = TARGET_SECONDS

    def report(self) -> str:
        where = "a child process" if self.server == "process" else "the client's event loop"
        per_kind = ", ".join(f"{len(t)} {k}" for k, t in self.audited.per_connection.items())
        lines = [
            f"consolidated portfolio (what `brokerlink portfolio` reads) over "
            f"{self.connections} connections ({per_kind}; {HELD * self.connections} "
            f"holdings, 0 errors), emulators in {where}, load average {self.load:.1f} "
            f"(setup {self.setup_s:.0f} s):",
            *self.audited.lines(self.target_s)]
        if self.unaudited is not None:
            lines += self.unaudited.lines(self.target_s)
            share = 1 - self.unaudited.warm_median_s / self.audited.warm_median_s
            lines.append(f"  appending each request to the audit log is {share:.0%} of the "
                         "warm wall time")
        return "\n".join(lines)


async def measure(connections: int = 1000, *, server: Server = "process", rounds: int = 1,
                  diagnostic_rounds: int = 3, diagnostic: bool = True) -> PortfolioScaleResult:
    """Store ``connections`` connections and time the portfolio read over them as
    shipped, then (``diagnostic``) without request auditing; see the module docstring.
    Raises ``RuntimeError`` if any connection errors or a position is missing."""
    load = os.getloadavg()[0]
    with private_home() as home:
        async with emulators(server) as urls, store(home) as parts:
            service = BenchService(*parts, actor="bench")
            manager = BrokerManager(service, journal=DirectSubmitter(),
                                    read_timeout=READ_TIMEOUT)
            async with manager:
                started = time.perf_counter()
                # Setup is not measured: spare it the per-request audit appends.
                service.audit_requests = False
                stored = await add_connections(manager, urls, connections)
                await give_positions(manager, urls, stored)
                await move_paper_markets(manager, PAPER_AHEAD)
                setup = time.perf_counter() - started
                service.audit_requests = True
                audited = await measure_phase(manager, stored,
                                              "as shipped (every request audited)",
                                              rounds=rounds, cold=True)
                quiet: Phase | None = None
                if diagnostic:
                    service.audit_requests = False
                    quiet = await measure_phase(
                        manager, stored,
                        "diagnostic, not the product: audit log appends skipped",
                        rounds=diagnostic_rounds, cold=False)
    return PortfolioScaleResult(connections, server, load, setup, audited, quiet)


def main() -> None:
    parser = argparse.ArgumentParser(description="Consolidated portfolio over many "
                                                 "connections: wall time vs the sum.")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--server", choices=("process", "loop"), default="process")
    parser.add_argument("--rounds", type=int, default=3, help="warm reads timed, audited")
    parser.add_argument("--no-diagnostic", action="store_true",
                        help="skip the reads without request auditing")
    args = parser.parse_args()
    server: Server = "loop" if args.server == "loop" else "process"
    print(asyncio.run(measure(args.connections, server=server, rounds=args.rounds,
                              diagnostic=not args.no_diagnostic)).report())


if __name__ == "__main__":
    main()

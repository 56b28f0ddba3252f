"""Memory held per opened, connected, idle connection inside a ``BrokerManager``.

Four kinds: paper, Alpaca, Tradier, and the three mixed. Each has its own SQLite
database in a throwaway ``BROKERLINK_HOME`` (set up as in ``bench.portfolio_scale``)
holding ``WARMUP`` + N connections stored with ``add_broker``. The figure is what a
``BrokerManager`` over a plain ``ConnectionService`` keeps once it has opened and
connected every connection (``BrokerManager.broker``, one at a time) and then read all
their balances (``get_all_balances``): per connection, its broker, its idle keep-alive
socket in its own ``httpx`` pool (one pool per connection: rate limits and credentials
are per connection) and the manager's bookkeeping.

* **traced** (the figure the target is about): ``tracemalloc``'s traced memory after
  those reads minus before them (both after ``gc.collect()``), over the connections
  opened: the Python objects they keep alive. The manager, its database, vault and
  audit log are open before the baseline; a separate warm-up manager has opened a few
  connections of each kind first, so one-time costs (imports, validators, the shared
  TLS context, statement caches) are not counted.
* **RSS**: measured in a fresh child process, which is also what stores the
  connections: the growth of its resident set while storing and opening N connections
  after ``WARMUP`` of the same kind (paper markets moved, see below), over N. A fresh
  process, because memory freed by earlier work (other benchmarks in ``bench.run``)
  would be reused and hide growth; all four managers stay open to its end for the same
  reason. Coarse: it includes allocator slack and SQLite's page cache growing with the
  rows, and to store faster the child's service skips the request audit appends
  (``BenchService``).

Paper accounts are measured as they are once their market has moved: a stored paper
account's market catches up with the wall clock on the first call a minute or more
after it last moved, and the engine builds a price walk (each with its own
``random.Random``) for every instrument on its first price step, so any paper
connection older than a minute holds them (in its first minute it holds far less). The
child moves each paper market a minute (``PaperBroker.advance``) right after opening
it, rather than wait; the parent restores them in that state.

The emulators run in another child process, so their accounts are not in either
measurement. A kind over target is profiled: ``PROFILE_SAMPLE`` of its connections are
opened again in a fresh manager with deep tracebacks, and what they keep is attributed
to the innermost brokerlink line on each allocation's stack (``--profile`` does it for
every kind).

Target: under 100 KiB per idle connection.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m bench.idle_memory
[-n N] [--profile]``; about 60 s with the default N = 150.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.portfolio_scale import (
    KINDS,
    READ_TIMEOUT,
    BenchService,
    add_connections,
    emulators_process,
    move_paper_markets,
    private_home,
    store,
)
from brokerlink.bootstrap import connection_service
from brokerlink.manager.manager import BrokerManager

TARGET_KIB = 100.0
MOVE = timedelta(minutes=1)
"""How far each paper market moves: one price step, as a catch-up after a minute."""
WARMUP = 6
"""Connections stored and opened before the measured ones, per kind (2 each in the mix)."""

PROFILE_FRAMES = 30
"""Stack depth kept when profiling: deep enough to reach brokerlink from inside httpx."""

PROFILE_SAMPLE = 12
"""Connections opened (one at a time) in a profiling pass."""

SCENARIOS: dict[str, tuple[str, ...]] = {
    "paper": ("paper",), "alpaca": ("alpaca",), "tradier": ("tradier",), "mix": KINDS}


@dataclass(frozen=True)
class Contributor:
    where: str
    """The innermost brokerlink line on the allocations' stack (else the allocation's)."""
    kib: float
    """Per connection."""


@dataclass(frozen=True)
class KindMemory:
    kind: str
    connections: int
    traced_kib: float
    rss_kib: float | None
    top: tuple[Contributor, ...] = ()


@dataclass(frozen=True)
class IdleMemoryResult:
    kinds: tuple[KindMemory, ...]
    seconds: float
    target_kib: float = TARGET_KIB

    def report(self) -> str:
        lines = [f"memory per idle connection inside a BrokerManager (opened, connected, "
                 f"keep-alive socket pooled; traced over {self.kinds[0].connections} per "
                 f"kind, RSS in a fresh process; {self.seconds:.0f} s):"]
        for kind in self.kinds:
            rss = "  n/a" if kind.rss_kib is None else f"{kind.rss_kib:5.0f}"
            verdict = "met" if kind.traced_kib < self.target_kib else "NOT met"
            lines.append(f"  {kind.kind:<8} traced {kind.traced_kib:5.1f} KiB   RSS {rss} KiB"
                         f"   target < {self.target_kib:g} KiB: {verdict}")
            if kind.top:
                lines.append("           largest: " + "; ".join(
                    f"{c.where} {c.kib:.1f}" for c in kind.top) + " (KiB)")
        return "\n".join(lines)


def rss_bytes() -> int | None:
    """This process's resident set size, or None where ``/proc`` is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _short(filename: str) -> str:
    for marker in ("/src/brokerlink/", "/site-packages/", "/bench/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


def _site(trace: tracemalloc.Traceback) -> str:
    # The innermost brokerlink frame is the product's line behind the allocation,
    # however deep in a library it happened (frames run oldest first).
    for frame in reversed(trace):
        if "/src/brokerlink/" in frame.filename:
            return f"{_short(frame.filename)}:{frame.lineno}"
    frame = trace[-1]
    return f"{_short(frame.filename)}:{frame.lineno}"


def contributors(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, count: int,
                 top: int = 4) -> tuple[Contributor, ...]:
    """Where the memory added between the snapshots was allocated, largest first."""
    ignore = (tracemalloc.Filter(False, tracemalloc.__file__),)
    sites: dict[str, int] = {}
    for stat in after.filter_traces(ignore).compare_to(before.filter_traces(ignore),
                                                       "traceback"):
        key = _site(stat.traceback)
        sites[key] = sites.get(key, 0) + stat.size_diff
    ranked = sorted(sites.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return tuple(Contributor(where, size / count / 1024) for where, size in ranked)


async def _open_all(manager: BrokerManager, expected: int, what: str, *,
                    only: int | None = None) -> None:
    """Open and connect every stored connection, then read all their balances through
    the manager (which notes each connection's health); with ``only``, open the first
    ``only`` and read each one's balances. Raises ``RuntimeError`` unless all
    ``expected`` answer."""
    # One at a time: opening hundreds at once queues them all on the database pool
    # (5 + 10 connections), and under tracemalloc's deep tracebacks some wait past its
    # 30 s checkout timeout.
    for record in (await manager.connections.list())[:only]:
        broker = await manager.broker(record.id)
        if only is not None:
            await broker.get_balances()
    if only is not None:
        return
    balances = await manager.get_all_balances()
    if balances.errors or len(balances.items) != expected:
        raise RuntimeError(f"{what}: {len(balances.items)} of {expected} answered; "
                           f"errors {dict(balances.errors)}")


# --- the child process: store the connections, measure RSS ------------------------------


async def _prepare(home: Path, urls: dict[str, str], connections: int
                   ) -> dict[str, float | None]:
    rss: dict[str, float | None] = {}
    # Everything stays open to the end: memory one kind freed would be reused by the
    # next and hide its growth.
    async with contextlib.AsyncExitStack() as stack:
        for number, (kind, kinds) in enumerate(SCENARIOS.items()):
            service = BenchService(*await stack.enter_async_context(store(home / kind)),
                                   actor="bench")
            # Storing is the slow part and the RSS figure is coarse anyway: spare it the
            # audit log appends (the adapters hold the same sink objects either way).
            service.audit_requests = False
            manager = await stack.enter_async_context(
                BrokerManager(service, read_timeout=READ_TIMEOUT))
            first = number * 1_000_000
            await add_connections(manager, urls, WARMUP, kinds=kinds, first=first)
            await _open_all(manager, WARMUP, kind)
            await move_paper_markets(manager, MOVE)
            gc.collect()
            before = rss_bytes()
            await add_connections(manager, urls, connections, kinds=kinds,
                                  first=first + WARMUP)
            await _open_all(manager, WARMUP + connections, kind)
            await move_paper_markets(manager, MOVE)
            gc.collect()
            after = rss_bytes()
            rss[kind] = None if before is None or after is None else \
                (after - before) / connections / 1024
    return rss


def prepare_main() -> None:
    """Child entry point: ``argv`` = home, emulator URLs (JSON), N. Prints the RSS
    growth per connection by kind as one JSON line."""
    home, urls, connections = Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(_prepare(home, urls, connections))), flush=True)


def prepare_in_child(home: Path, urls: dict[str, str], connections: int
                     ) -> dict[str, float | None]:
    """Run ``prepare_main`` in a fresh Python process; its RSS figures. Raises
    ``RuntimeError`` if it fails."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    command = [sys.executable, "-c", "from bench.idle_memory import prepare_main; "
               "prepare_main()", str(home), json.dumps(urls), str(connections)]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"storing the connections failed: {done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1]) if lines else {}
    return {str(k): None if v is None else float(v) for k, v in figures.items()}


# --- this process: traced memory ---------------------------------------------------------


async def _traced(home: Path, kind: str, count: int) -> float:
    """KiB per connection that opening the ``count`` connections of ``kind`` keeps."""
    async with store(home / kind) as parts:
        service = connection_service(*parts, actor="bench")
        async with BrokerManager(service, read_timeout=READ_TIMEOUT) as manager:
            await service.list()  # the database pool's connections are open before
            gc.collect()
            tracemalloc.start(1)
            try:
                before = tracemalloc.get_traced_memory()[0]
                await _open_all(manager, count, kind)
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
    return (after - before) / count / 1024


async def _profiled(home: Path, kind: str) -> tuple[Contributor, ...]:
    """Where opening ``PROFILE_SAMPLE`` connections of ``kind`` allocates what they keep."""
    async with store(home / kind) as parts:
        service = connection_service(*parts, actor="bench")
        async with BrokerManager(service, read_timeout=READ_TIMEOUT) as manager:
            await service.list()
            gc.collect()
            tracemalloc.start(PROFILE_FRAMES)
            try:
                first = tracemalloc.take_snapshot()
                await _open_all(manager, PROFILE_SAMPLE, kind, only=PROFILE_SAMPLE)
                gc.collect()
                last = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
    return contributors(first, last, PROFILE_SAMPLE)


async def measure(connections: int = 150, *, profile: bool | None = None
                  ) -> IdleMemoryResult:
    """Per-connection memory of ``WARMUP + connections`` idle connections per kind (see
    the module docstring), attributed to brokerlink lines for every kind (``profile``),
    for those over target (``None``) or none (``False``). Raises ``RuntimeError`` if a
    connection fails to open."""
    started = time.perf_counter()
    results: list[KindMemory] = []
    with private_home() as home, emulators_process() as urls:
        rss = prepare_in_child(home, urls, connections)
        async with store(home / "warmup") as parts:
            service = connection_service(*parts, actor="bench")
            async with BrokerManager(service, read_timeout=READ_TIMEOUT) as manager:
                await add_connections(manager, urls, WARMUP, first=9_000_000)
                await _open_all(manager, WARMUP, "warm-up")
                await move_paper_markets(manager, MOVE)
        count = WARMUP + connections
        for kind in SCENARIOS:
            traced = await _traced(home, kind, count)
            # Deep tracebacks make every allocation several times slower: attribution
            # runs on a sample, in a pass of its own, and the figure above stands.
            wanted = profile or (profile is None and traced >= TARGET_KIB)
            top = await _profiled(home, kind) if wanted else ()
            results.append(KindMemory(kind, count, traced, rss.get(kind), top))
    return IdleMemoryResult(tuple(results), time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description="Memory per idle connection.")
    parser.add_argument("-n", "--connections", type=int, default=150,
                        help="measured connections per kind and in the mix (a multiple of 3)")
    parser.add_argument("--profile", action="store_true",
                        help="attribute the memory to brokerlink lines (slower)")
    args = parser.parse_args()
    print(asyncio.run(measure(args.connections, profile=args.profile or None)).report())


if __name__ == "__main__":
    main()

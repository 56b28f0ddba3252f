"""``brokerlink sync``: keep every stored connection's positions, balances and orders
current, once (a summary) or live (``--watch``, until Ctrl-C).

Mount with ``app.command()(sync.sync)``; it runs ``BrokerManager.start_sync``, so the
order journal follows the sync too. Latency in ``--watch`` is fill-to-local-position in
wall time, from the broker's fill timestamp; connections to a local emulator run on its
virtual clock, so their broker timestamps are not trusted and no latency is shown for
them (see ``brokerlink.manager.latency``).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from brokerlink.bootstrap import ConnectionRecord, open_manager
from brokerlink.cli.app import refuse
from brokerlink.cli.render import balances_table, money, number, positions_table, wide_console
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import AccountBalances, Order, Position
from brokerlink.manager.sync import SyncEngine
from brokerlink.manager.sync_events import (
    DriftRepair,
    StreamNotice,
    SyncEvent,
    SyncSubscription,
)
from brokerlink.manager.sync_state import SyncedState


def sync(
    watch: Annotated[bool, typer.Option(
        "--watch", help="Keep syncing and print every change with its latency until "
        "Ctrl-C.")] = False,
    duration: Annotated[float | None, typer.Option(
        "--duration", min=0.1, help="With --watch: stop after this many seconds.")] = None,
) -> None:
    """Keep every connection's positions, balances and open orders in sync.

    From each broker's stream where it has one, else by polling within its rate limit.
    """
    console = wide_console()
    try:
        asyncio.run(_sync(console, watch=watch, duration=duration))
    except KeyboardInterrupt:
        console.print("stopped")
    except BrokerError as exc:
        raise refuse(f"sync failed: {exc}") from exc


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


async def _sync(console: Console, *, watch: bool, duration: float | None) -> None:
    async with await open_manager(actor=_actor()) as manager:
        records = {r.id: r for r in await manager.connections.list()}
        if not records:
            console.print("no connections to sync: add one with `brokerlink connect`")
            return
        # Starting reads every connection once; without --watch that read is the sync.
        live = await manager.start_sync(subscribe=watch)
        for cid, error in live.skipped.items():
            console.print(f"[yellow]skipped[/yellow] {cid} ({records[cid].label}): "
                          f"{type(error).__name__}: {error.message}")
        if not watch:
            _print_summary(console, live.engine, live.engine.states(), records)
            return
        assert live.events is not None  # noqa: S101  (subscribe=watch)
        await _watch(console, live.engine, live.events, records, duration)


async def _watch(console: Console, engine: SyncEngine, events: SyncSubscription,
                 records: dict[str, ConnectionRecord], duration: float | None) -> None:
    try:
        for cid in engine.connection_ids:
            console.print(f"syncing {cid} ({records[cid].label}): "
                          f"{engine.state(cid).mode.value}, poll every "
                          f"{engine.poll_interval(cid):.1f}s when needed")
        console.print("watching; Ctrl-C to stop")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                async for event in events:
                    console.print(render_event(event, records))
    finally:
        # Still running here (Ctrl-C cancels into this block): the summary shows
        # each connection's live mode, not "stopped".
        events.close()
        _print_summary(console, engine, engine.states(), records)


def render_event(event: SyncEvent, records: dict[str, ConnectionRecord] | None = None) -> str:
    """One line for a sync event: time, connection, kind, source, what changed, and the
    latency when the event completed a measurement."""
    record = (records or {}).get(event.connection_id)
    where = record.label if record is not None else event.connection_id
    line = (f"{event.as_of:%H:%M:%S} {where} {event.kind.value} ({event.source.value}) "
            f"{_describe(event.payload)}")
    if event.latency is not None:
        line += f"  latency {event.latency * 1000:.0f}ms"
    return line


def _describe(payload: object) -> str:
    if isinstance(payload, Order):
        return (f"{payload.symbol} {payload.side.value} {number(payload.filled_quantity)}/"
                f"{number(payload.quantity)} {payload.status.value} [{payload.order_id[:8]}]")
    if isinstance(payload, Position):
        return f"{payload.symbol} {number(payload.quantity)} @ {money(payload.average_cost)}"
    if isinstance(payload, AccountBalances):
        return f"cash {money(payload.cash)} buying power {money(payload.buying_power)}"
    if isinstance(payload, DriftRepair):
        return f"{payload.area} {payload.key}: {payload.local or '-'} -> {payload.broker or '-'}"
    if isinstance(payload, StreamNotice):
        return f"{payload.reason} (reconnects {payload.reconnects})"
    return ""


def _print_summary(console: Console, engine: SyncEngine, states: dict[str, SyncedState],
                   records: dict[str, ConnectionRecord]) -> None:
    table = Table(title="Sync")
    for column in ("Connection", "Broker", "Mode", "Positions", "Open orders", "Cash",
                   "Repairs", "Latency"):
        table.add_column(column)
    for cid, state in states.items():
        record = records[cid]
        stats = engine.latency.stats(connection_id=cid)
        table.add_row(cid, record.broker, state.mode.value, str(len(state.positions)),
                      str(len(state.open_orders)),
                      money(state.balances.cash) if state.balances else "unknown",
                      str(state.repairs), stats.describe() if stats.count else "-")
    console.print(table)
    console.print(positions_table((records[cid].broker, p) for cid, s in states.items()
                                  for p in s.positions.values()))
    console.print(balances_table((records[cid].broker, s.balances) for cid, s in states.items()
                                 if s.balances is not None))

"""``brokerlink demo``: several brokerage accounts used as one portfolio, in seconds.

Everything runs in a brokerlink home of its own (a temporary directory unless
``--home`` names one), with its own SQLite database, vault key file and audit log, so
nothing of the user's is read or changed. The brokers come from the registries, never
by name: every installed broker with an emulator and an OAuth sign-in, and every
broker that signs in with no credentials (a simulated account). The demo:

1. starts each such broker's emulator on loopback;
2. connects each through its real OAuth flow (authorization code with PKCE and a
   single-use state, the callback taken by a one-shot loopback receiver, tokens sealed
   in the vault), beside the simulated accounts;
3. starts the live sync (each broker's stream, polling as fallback), with the order
   journal following it;
4. places orders with best execution, printing why each went where it did;
5. shows the consolidated portfolio, moves the markets, prints the sync's changes as
   they arrive, and shows the portfolio again;
6. ends with ``brokerlink audit verify`` over the demo's audit log (``app.demo``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr
from rich.console import Console

from brokerlink.adapters import registry
from brokerlink.adapters._shared.spec import BrokerSpec, CredentialKind
from brokerlink.bootstrap import (
    DATABASE_SCHEMA_ENV,
    DATABASE_URL_ENV,
    MASTER_KEY_ENV,
    NEW_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    PREVIOUS_MASTER_KEY_ENV,
    PROVIDER_ENV,
    ConnectionRecord,
    OAuthClientCredentials,
    open_manager,
)
from brokerlink.cli import render
from brokerlink.cli.connections import consent_locally
from brokerlink.cli.sync import render_event
from brokerlink.core.enums import BrokerType, OrderSide, OrderStatus, OrderType, TimeInForce
from brokerlink.core.models import OrderRequest, Position
from brokerlink.emulators import registry as emulators
from brokerlink.manager.journal import OrderJournal
from brokerlink.manager.manager import BrokerManager, LiveSync, Placement
from brokerlink.manager.sync_events import SyncEvent, SyncEventKind
from brokerlink.paths import HOME_ENV

DEMO_SEED = 42
CENT = Decimal("0.01")
ACTOR = "cli:demo"
STREAM_WAIT = 5.0
SIMULATED_SETTINGS: dict[str, Any] = {"cash": Decimal(100_000), "seed": DEMO_SEED,
                                      "market": "always_open"}
"""What the demo asks of a simulated account, where its settings model takes it: the
market always open, so every order fills whenever the demo runs."""
LIVE_WAIT = 15.0
"""Seconds the demo waits for the sync to show a fill: far more than it takes."""


@contextlib.contextmanager
def demo_home(home: Path | None) -> Iterator[Path]:
    """Point brokerlink at ``home`` (or a new temporary directory, removed afterwards)
    with the key-file vault and none of the caller's brokerlink settings, and restore the
    environment on exit: the demo (and the benchmarks) never touch the user's database,
    keyring or audit log."""
    names = (HOME_ENV, PROVIDER_ENV, DATABASE_URL_ENV, DATABASE_SCHEMA_ENV, MASTER_KEY_ENV,
             PREVIOUS_MASTER_KEY_ENV, PASSPHRASE_ENV, NEW_PASSPHRASE_ENV)
    saved = {name: os.environ.get(name) for name in names}
    with contextlib.ExitStack() as stack:
        path = home or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="brokerlink-demo-")))
        for name in names:
            os.environ.pop(name, None)
        os.environ[HOME_ENV] = str(path)
        os.environ[PROVIDER_ENV] = "file"
        try:
            yield path
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@runtime_checkable
class PriceSetter(Protocol):
    """A broker whose prices the demo can move directly (a simulated account)."""

    async def set_price(self, symbol: str, price: Decimal) -> None: ...


def emulated_brokers() -> list[BrokerSpec]:
    """Installed brokers with an emulator here and an OAuth sign-in, by name."""
    with_emulator = set(emulators.names())
    return [spec for spec in registry.specs()
            if spec.broker_type.value in with_emulator
            and spec.credential(CredentialKind.OAUTH) is not None]


def simulated_brokers() -> list[BrokerSpec]:
    """Installed brokers that sign in with no credentials (simulated accounts)."""
    return [spec for spec in registry.specs()
            if spec.credential(CredentialKind.NONE) is not None]


@dataclass(frozen=True, slots=True)
class Venue:
    """One demo connection: its stored record and, for an emulator, its admin URL."""

    record: ConnectionRecord
    admin_url: str | None


async def run_demo(console: Console) -> None:
    """Run the demo in the current brokerlink home (see ``demo_home``), printing as it
    goes. Raises ``BrokerError`` only on a bug: every order it places is valid and
    funded."""
    # Entered in this order so the manager (and its sync) closes before the emulators.
    async with _emulators(console) as urls, \
            await open_manager(actor=ACTOR, read_timeout=10.0) as manager:
        console.rule("[bold]1. Connect the accounts")
        venues = await _connect_all(console, manager, urls)
        console.print(render.connections_table(await manager.connections.list()))

        console.rule("[bold]2. Live sync: streams first, polling as fallback")
        live = await manager.start_sync(subscribe=True)
        await _streams_up(live)
        for cid in live.engine.connection_ids:
            state = live.engine.state(cid)
            console.print(f"{venues[cid].record.label}: {state.mode.value}; "
                          f"{len(state.positions)} positions, cash "
                          f"{render.money(state.balances.cash if state.balances else None)}")

        console.rule("[bold]3. Orders through best execution (--broker auto)")
        placements = await _place_orders(console, manager, venues)

        console.rule("[bold]4. One portfolio")
        await _show_portfolio(console, manager)

        console.rule("[bold]5. The market moves; the sync follows")
        resting = placements[-1]
        await _fill_resting(console, manager, venues, resting, live)
        await _show_portfolio(console, manager)
        await _show_journal(console, manager, live)
        await manager.stop_sync()


@asynccontextmanager
async def _emulators(console: Console) -> AsyncIterator[dict[BrokerType, str]]:
    """Every emulated broker's emulator on loopback, each with a market of its own."""
    async with AsyncExitStack() as stack:
        urls: dict[BrokerType, str] = {}
        for offset, spec in enumerate(emulated_brokers(), start=1):
            kind = spec.broker_type
            app = emulators.load(kind.value)(seed=DEMO_SEED + offset)
            server = await stack.enter_async_context(emulators.EmulatorServer(app))
            console.print(f"{kind.value} emulator at {server.url}")
            urls[kind] = server.url
        yield urls


async def _connect_all(console: Console, manager: BrokerManager,
                       urls: dict[BrokerType, str]) -> dict[str, Venue]:
    # The emulators publish a sandbox OAuth app, as a broker's developer portal would.
    sandbox = emulators.SANDBOX_CLIENT
    client = OAuthClientCredentials(sandbox.client_id, SecretStr(sandbox.client_secret or ""))
    venues: dict[str, Venue] = {}
    for kind, url in urls.items():
        # consent_locally stands in for the user's browser (the emulator consents).
        record = await manager.connections.add_with_oauth(
            kind, client=client, open_url=consent_locally, base_url=url,
            label=f"{kind.value} (demo)")
        console.print(f"{kind.value}: signed in with OAuth (PKCE, single-use state) -> "
                      f"{record.id}, account {', '.join(record.account_ids)}")
        venues[record.id] = Venue(record, url)
    for spec in simulated_brokers():
        fields = spec.settings_model.model_fields
        settings = spec.settings_model.model_validate(
            {name: value for name, value in SIMULATED_SETTINGS.items() if name in fields})
        name = spec.broker_type.value
        added = await manager.add_broker(name, settings=settings, label=f"{name} (demo)")
        record = await manager.connections.get(added)
        console.print(f"{name}: a simulated account -> {added}, account "
                      f"{', '.join(record.account_ids)}")
        venues[added] = Venue(record, None)
    return venues


RESTING = "XOM"


async def _demo_orders(manager: BrokerManager) -> list[OrderRequest]:
    """Market buys (each account quotes some symbols cheapest), a sell (routed only where
    the shares are held) and, last, a resting limit buy 2% under the lowest ask across
    the accounts, filled later, when the market moves."""
    quotes = await manager.get_quotes(RESTING)
    ask = min(q.value.ask or q.value.last or Decimal(100) for q in quotes.items)
    return [
        OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(10)),
        OrderRequest(symbol="MSFT", side=OrderSide.BUY, quantity=Decimal(5)),
        OrderRequest(symbol="GOOGL", side=OrderSide.BUY, quantity=Decimal(8)),
        OrderRequest(symbol="KO", side=OrderSide.BUY, quantity=Decimal(25)),
        OrderRequest(symbol="SPY", side=OrderSide.BUY, quantity=Decimal("2.5")),
        OrderRequest(symbol="AAPL", side=OrderSide.SELL, quantity=Decimal(4)),
        OrderRequest(symbol=RESTING, side=OrderSide.BUY, quantity=Decimal(20),
                     order_type=OrderType.LIMIT,
                     limit_price=(ask * Decimal("0.98")).quantize(CENT),
                     time_in_force=TimeInForce.GTC),
    ]


async def _streams_up(live: LiveSync) -> None:
    """Wait (briefly) until every connection's stream is up, so the demo shows each one
    in its steady mode; a stream that takes longer just leaves polling in charge."""
    assert live.events is not None  # noqa: S101  (started with subscribe=True)
    waiting = set(live.engine.connection_ids)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STREAM_WAIT):
            while waiting:
                event = await live.events.get()
                if event.kind is SyncEventKind.STREAM_UP:
                    waiting.discard(event.connection_id)


async def _place_orders(console: Console, manager: BrokerManager,
                        venues: dict[str, Venue]) -> list[Placement]:
    placements = []
    for number, order in enumerate(await _demo_orders(manager)):
        placement = await manager.place_order(order, idempotency_key=f"demo-{number}")
        placements.append(placement)
        # Routed automatically with the market open: a plan and a broker's answer.
        assert placement.plan is not None  # noqa: S101
        assert placement.result is not None  # noqa: S101
        if number == 0:
            # The whole ranking once; then the winner's reasons per order.
            console.print(render.execution_plan_table(placement.plan))
        chosen = placement.plan.require()
        price = f" @ {render.money(order.limit_price)}" if order.limit_price else ""
        console.print(
            f"placed {order.side.value} {render.number(order.quantity)} {order.symbol} "
            f"{order.order_type.value}{price} -> [bold]{chosen.label}[/bold]: "
            f"{placement.result.status.value}; {'; '.join(chosen.reasons)}")
    # A chosen connection, as with --broker CONNECTION_ID (the last emulated one): the
    # same symbol now sits in two accounts, and the portfolio shows it as one line with
    # both holdings.
    chosen_id = [cid for cid, v in venues.items() if v.admin_url is not None][-1]
    order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(2))
    placement = await manager.place_order(order, connection_id=chosen_id,
                                          idempotency_key="demo-chosen")
    assert placement.result is not None  # noqa: S101  (sent with the market open)
    console.print(f"placed buy 2 AAPL market -> [bold]{venues[chosen_id].record.label}"
                  f"[/bold] (chosen by hand): {placement.result.status.value}")
    # Sent again with the same idempotency key (a retry after a crash, say): the
    # journal answers with the first result and nothing reaches the broker.
    at_broker = len(await (await manager.broker(chosen_id)).get_orders())
    again = await manager.place_order(order, connection_id=chosen_id,
                                      idempotency_key="demo-chosen")
    assert again.result is not None  # noqa: S101
    after = len(await (await manager.broker(chosen_id)).get_orders())
    console.print(f"the same again with its idempotency key: order {again.result.order_id}"
                  f" {'(the first one)' if again.result == placement.result else '(NEW!)'}"
                  f"; orders at the broker: {at_broker} before, {after} after")
    return placements


async def _show_portfolio(console: Console, manager: BrokerManager) -> None:
    view = await manager.consolidated_positions()
    value = await manager.get_total_portfolio_value()
    console.print(render.consolidated_positions_table(view.lines))
    console.print(render.account_values_table(value))
    console.print(f"[bold]Total value: {render.money(value.total)} "
                  f"{value.base_currency}[/bold]")


async def _fill_resting(console: Console, manager: BrokerManager, venues: dict[str, Venue],
                        resting: Placement, live: LiveSync) -> None:
    """Move the resting limit order's price through its limit at its venue, then print
    the sync's events until the new position shows."""
    assert live.events is not None  # noqa: S101  (started with subscribe=True)
    assert resting.plan is not None  # noqa: S101  (routed automatically)
    assert resting.plan.order.limit_price is not None  # noqa: S101  (a limit order)
    symbol, limit = resting.plan.order.symbol, resting.plan.order.limit_price
    price = (limit * Decimal("0.99")).quantize(CENT)
    venue = venues[resting.connection_id]
    console.print(f"{symbol} trades down to {render.money(price)} at {venue.record.label}, "
                  f"through the resting limit of {render.money(limit)}:")
    # Only what happens from here on: earlier events were the orders just shown.
    while live.events.pending:
        await live.events.get()
    live.engine.mark_fill(resting.connection_id, symbol)
    if venue.admin_url is not None:
        async with httpx.AsyncClient(base_url=venue.admin_url) as admin:
            response = await admin.post("/_emulator/prices",
                                        json={"symbol": symbol, "price": str(price)})
            response.raise_for_status()
    else:
        simulated = await manager.broker(resting.connection_id)
        assert isinstance(simulated, PriceSetter)  # noqa: S101  (no admin URL: simulated)
        await simulated.set_price(symbol, price)
    records = {cid: v.record for cid, v in venues.items()}

    def shows_fill(event: SyncEvent) -> bool:
        return (event.kind is SyncEventKind.POSITION
                and event.connection_id == resting.connection_id
                and isinstance(event.payload, Position) and event.payload.symbol == symbol)

    async with asyncio.timeout(LIVE_WAIT):
        async for event in live.events:
            if event.connection_id == resting.connection_id:
                console.print(f"  {render_event(event, records)}")
            if shows_fill(event):
                break


async def _show_journal(console: Console, manager: BrokerManager, live: LiveSync) -> None:
    """The write-ahead journal, kept current by the sync: every intent and its status."""
    if live.feed is not None:
        await live.feed.drain()
    journal = manager.journal
    assert isinstance(journal, OrderJournal)  # noqa: S101  (the manager's default)
    intents = await journal.intents()
    settled = sum(1 for i in intents if i.status is OrderStatus.FILLED)
    console.print(f"Order journal: {len(intents)} intents, {settled} filled, "
                  f"{sum(1 for i in intents if i.in_flight)} in flight; "
                  f"{live.feed.applied if live.feed else 0} updates from the live sync")

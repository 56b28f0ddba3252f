"""``brokerlink demo``: the main job, end to end, in seconds.

Opens a paper account on the simulation engine and places orders of several types;
starts the Alpaca and Tradier emulators on loopback and trades through the real
adapters over HTTP, each in its broker's own wire format; lets the markets run; then
prints what a user would check across all three: accounts, balances, positions,
orders and the paper account's transaction ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from rich.console import Console

from brokerlink.adapters.paper import PaperBroker
from brokerlink.adapters.registry import create_broker
from brokerlink.cli import render
from brokerlink.core.enums import BrokerType, OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import BrokerError
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import OrderRequest
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators import registry as emulators
from brokerlink.sim.calendar import ExchangeCalendar
from brokerlink.sim.engine import SimEngine

DEMO_SEED = 42
CENT = Decimal("0.01")
MARKET_RUN = timedelta(hours=3)


def latest_session_start(now: datetime | None = None) -> datetime:
    """Thirty minutes after the most recent regular open at or before ``now``."""
    calendar = ExchangeCalendar()
    moment = now or datetime.now(UTC)
    opens = calendar.next_open(moment - timedelta(days=7))
    while (following := calendar.next_open(opens)) <= moment:
        opens = following
    return opens + timedelta(minutes=30)


async def run_demo(console: Console) -> None:
    """Run the demo, printing as it goes. Raises ``BrokerError`` only on a bug: every
    order it places is valid and funded."""
    engine = SimEngine(seed=DEMO_SEED, start=latest_session_start())
    events = engine.subscribe()
    async with AsyncExitStack() as stack:
        paper = await stack.enter_async_context(PaperBroker(engine, cash=Decimal(100_000)))
        console.rule("[bold]brokerlink demo: a paper account on the simulated NYSE")
        console.print(f"Market time {engine.now():%Y-%m-%d %H:%M} UTC, session "
                      f"[bold]{engine.session().value}[/bold]")
        await _place_all(console, paper, await _paper_orders(engine, paper))

        console.rule("[bold]Alpaca and Tradier, through their local emulators")
        emulated = await stack.enter_async_context(_emulated_brokers(console))
        for name, broker, _ in emulated:
            console.print(f"[bold]{name}[/bold]")
            await _place_all(console, broker, _emulated_orders())

        console.print(f"\nThe markets run for {MARKET_RUN.seconds // 3600} hours...")
        await paper.advance(MARKET_RUN)
        for _, _, admin_url in emulated:
            async with httpx.AsyncClient(base_url=admin_url) as admin:
                response = await admin.post("/_emulator/clock/advance",
                                            json={"seconds": MARKET_RUN.total_seconds()})
                response.raise_for_status()

        brokers: list[tuple[str, BrokerInterface]] = [("paper", paper)]
        brokers += [(name, broker) for name, broker, _ in emulated]
        await _show(console, brokers)
        start = engine.now() - timedelta(days=1)
        ledger = await paper.get_transactions(start, engine.now())
        console.print(render.transactions_table(("paper", t) for t in ledger))
        seen = 0
        while events.get_nowait() is not None:
            seen += 1
        events.close()
        console.print(f"{seen} paper order and cash events streamed; paper market time now "
                      f"{engine.now():%Y-%m-%d %H:%M} UTC.")


async def _paper_orders(engine: SimEngine, broker: BrokerInterface) -> list[OrderRequest]:
    nvda = (await broker.get_quote("NVDA")).last or Decimal(100)
    aapl = (await broker.get_quote("AAPL")).last or Decimal(100)
    option = _nearest_call(engine, "AAPL")
    return [
        OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(20)),
        OrderRequest(symbol="SPY", side=OrderSide.BUY, quantity=Decimal("2.5")),
        OrderRequest(symbol="MSFT", side=OrderSide.BUY, quantity=Decimal(10)),
        OrderRequest(symbol="NVDA", side=OrderSide.BUY, quantity=Decimal(15),
                     order_type=OrderType.LIMIT,
                     limit_price=(nvda * Decimal("0.99")).quantize(CENT),
                     time_in_force=TimeInForce.GTC),
        OrderRequest(symbol="AAPL", side=OrderSide.SELL, quantity=Decimal(20),
                     order_type=OrderType.STOP,
                     stop_price=(aapl * Decimal("0.95")).quantize(CENT),
                     time_in_force=TimeInForce.GTC),
        OrderRequest(symbol="MSFT", side=OrderSide.SELL, quantity=Decimal(10),
                     order_type=OrderType.TRAILING_STOP, trail_percent=Decimal("1.5"),
                     time_in_force=TimeInForce.GTC),
        OrderRequest(symbol=option, side=OrderSide.BUY_TO_OPEN, quantity=Decimal(1),
                     order_type=OrderType.LIMIT, limit_price=_option_limit(engine, option)),
    ]


def _emulated_orders() -> list[OrderRequest]:
    return [
        OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(10)),
        OrderRequest(symbol="KO", side=OrderSide.BUY, quantity=Decimal(25)),
        OrderRequest(symbol="JPM", side=OrderSide.BUY, quantity=Decimal(5),
                     order_type=OrderType.LIMIT, limit_price=Decimal("1.00"),
                     time_in_force=TimeInForce.GTC),
    ]


@asynccontextmanager
async def _emulated_brokers(
    console: Console,
) -> AsyncIterator[list[tuple[str, BrokerInterface, str]]]:
    """Alpaca and Tradier emulators on loopback, each with a connected adapter.

    The emulators accept any well-formed credentials and open a funded account for
    them, so the demo signs in with made-up keys and a made-up token."""
    logins = {
        "alpaca": {"api_key": "PKDEMO0000000001", "api_secret": "demo-secret"},
        "tradier": {"access_token": "demo-access-token"},
    }
    async with AsyncExitStack() as stack:
        connected: list[tuple[str, BrokerInterface, str]] = []
        for offset, (name, login) in enumerate(logins.items(), start=1):
            # A seed of its own per broker: separate markets and account numbers.
            app = emulators.load(name)(seed=DEMO_SEED + offset)
            server = await stack.enter_async_context(EmulatorServer(app))
            broker = create_broker(BrokerType.parse(name), emulator_url=server.url, **login)
            await stack.enter_async_context(broker)
            account = await broker.get_account()
            console.print(f"{name} emulator at {server.url}: account {account.account_id}")
            connected.append((name, broker, server.url))
        yield connected


async def _place_all(console: Console, broker: BrokerInterface,
                     orders: list[OrderRequest]) -> None:
    for request in orders:
        try:
            result = await broker.place_order(request)
        except BrokerError as exc:
            console.print(f"[red]refused[/red] {request.side.value} {request.symbol}: {exc}")
            continue
        console.print(f"placed {request.side.value:>11} {request.quantity:>4} "
                      f"{request.instrument_symbol:<21} {request.order_type.value:<13} -> "
                      f"[bold]{result.status.value}[/bold]")


async def _show(console: Console, brokers: list[tuple[str, BrokerInterface]]) -> None:
    accounts = [await broker.get_account() for _, broker in brokers]
    balances = [(name, await broker.get_balances()) for name, broker in brokers]
    positions = [(name, p) for name, broker in brokers for p in await broker.get_positions()]
    orders = [(name, o) for name, broker in brokers for o in await broker.get_orders()]
    console.print(render.accounts_table(accounts))
    console.print(render.balances_table(balances))
    console.print(render.positions_table(positions))
    console.print(render.orders_table(orders))


def _nearest_call(engine: SimEngine, underlying: str) -> str:
    today = engine.now().date()
    spot = engine.quote(underlying).last or Decimal(0)
    calls = [c for c in engine.universe.option_chain(underlying, today)
             if c.option_type is not None and c.option_type.value == "call"
             and c.expiration is not None and c.expiration > today + timedelta(days=7)]
    best = min(calls, key=lambda c: (c.expiration, abs((c.strike or spot) - spot)))
    return best.symbol


def _option_limit(engine: SimEngine, symbol: str) -> Decimal:
    quote = engine.quote(symbol)
    return (quote.ask or Decimal(1)) + Decimal("0.05")

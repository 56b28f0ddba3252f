"""``brokerlink demo``: the main job on the paper broker, end to end, in seconds.

Opens a paper account on the simulation engine, places orders of several types,
lets the simulated market run through part of a session, and prints what a user
would check: accounts, balances, positions, orders and the transaction ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rich.console import Console

from brokerlink.adapters.paper import PaperBroker
from brokerlink.cli import render
from brokerlink.core.enums import OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import OrderRequest
from brokerlink.sim.calendar import ExchangeCalendar
from brokerlink.sim.engine import SimEngine

DEMO_SEED = 42
CENT = Decimal("0.01")


def latest_session_start(now: datetime | None = None) -> datetime:
    """Thirty minutes after the most recent regular open at or before ``now``."""
    calendar = ExchangeCalendar()
    moment = now or datetime.now(UTC)
    opens = calendar.next_open(moment - timedelta(days=7))
    while (following := calendar.next_open(opens)) <= moment:
        opens = following
    return opens + timedelta(minutes=30)


async def run_demo(console: Console) -> None:
    """Run the paper demo, printing as it goes. Raises ``BrokerError`` only on a bug:
    every order it places is valid and funded."""
    engine = SimEngine(seed=DEMO_SEED, start=latest_session_start())
    events = engine.subscribe()
    async with PaperBroker(engine, cash=Decimal(100_000)) as broker:
        console.rule("[bold]brokerlink demo: a paper account on the simulated NYSE")
        console.print(f"Market time {engine.now():%Y-%m-%d %H:%M} UTC, session "
                      f"[bold]{engine.session().value}[/bold]")
        nvda = (await broker.get_quote("NVDA")).last or Decimal(100)
        msft = (await broker.get_quote("MSFT")).last or Decimal(100)
        aapl = (await broker.get_quote("AAPL")).last or Decimal(100)
        option = _nearest_call(engine, "AAPL")
        orders = [
            OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal(20)),
            OrderRequest(symbol="SPY", side=OrderSide.BUY, quantity=Decimal("2.5")),
            OrderRequest(symbol="MSFT", side=OrderSide.BUY, quantity=Decimal(10)),
            OrderRequest(symbol="NVDA", side=OrderSide.BUY, quantity=Decimal(15),
                         order_type=OrderType.LIMIT, limit_price=(nvda * Decimal("0.99"))
                         .quantize(CENT), time_in_force=TimeInForce.GTC),
            OrderRequest(symbol="AAPL", side=OrderSide.SELL, quantity=Decimal(20),
                         order_type=OrderType.STOP, stop_price=(aapl * Decimal("0.95"))
                         .quantize(CENT), time_in_force=TimeInForce.GTC),
            OrderRequest(symbol="MSFT", side=OrderSide.SELL, quantity=Decimal(10),
                         order_type=OrderType.TRAILING_STOP, trail_percent=Decimal("1.5"),
                         time_in_force=TimeInForce.GTC),
            OrderRequest(symbol=option, side=OrderSide.BUY_TO_OPEN, quantity=Decimal(1),
                         order_type=OrderType.LIMIT, limit_price=_option_limit(engine, option)),
        ]
        for request in orders:
            try:
                result = await broker.place_order(request)
            except BrokerError as exc:
                console.print(f"[red]refused[/red] {request.side.value} {request.symbol}: {exc}")
                continue
            console.print(f"placed {request.side.value:>11} {request.quantity:>4} "
                          f"{request.instrument_symbol:<21} {request.order_type.value:<13} -> "
                          f"[bold]{result.status.value}[/bold]")
        console.print(f"\nThe market runs for three hours (MSFT last {msft}, NVDA last {nvda})...")
        await broker.advance(timedelta(hours=3))
        account = await broker.get_account()
        balances = await broker.get_balances()
        positions = await broker.get_positions()
        all_orders = await broker.get_orders()
        start = engine.now() - timedelta(days=1)
        ledger = await broker.get_transactions(start, engine.now())
        name = broker.broker_type.value
        console.print(render.accounts_table([account]))
        console.print(render.balances_table([(name, balances)]))
        console.print(render.positions_table((name, p) for p in positions))
        console.print(render.orders_table((name, o) for o in all_orders))
        console.print(render.transactions_table((name, t) for t in ledger))
        seen = 0
        while events.get_nowait() is not None:
            seen += 1
        events.close()
        console.print(f"{seen} order and cash events streamed; market time now "
                      f"{engine.now():%Y-%m-%d %H:%M} UTC.")


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

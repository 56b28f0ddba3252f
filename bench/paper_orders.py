"""Orders placed and filled per second through the paper broker's public async API.

The baseline loop builds the same ``OrderRequest`` models and nothing else, in the
same run, so the ratio shows what placing and filling costs on top of validation.
Run: ``make bench`` (all benchmarks) or ``.venv/bin/python bench/paper_orders.py``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from brokerlink import OrderRequest, OrderSide, OrderStatus
from brokerlink.adapters.paper import PaperBroker

SYMBOLS = ("AAPL", "MSFT", "NVDA", "KO", "PEP", "JPM", "XOM", "SPY")
# Displayed size at one quote is used up by the orders that take it, so market time
# moves on (one price step) every this many orders, as it would between real orders.
ORDERS_PER_MINUTE = 100


@dataclass(frozen=True)
class PaperResult:
    orders: int
    baseline_seconds: float
    broker_seconds: float

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.broker_seconds

    @property
    def baseline_per_second(self) -> float:
        return self.orders / self.baseline_seconds

    def report(self) -> str:
        return (f"paper broker: {self.orders_per_second:,.0f} market orders placed and filled "
                f"per second (market time moving a minute every {ORDERS_PER_MINUTE} orders); "
                f"baseline (building the requests only) "
                f"{self.baseline_per_second:,.0f}/s; cost ratio "
                f"{self.broker_seconds / self.baseline_seconds:.1f}x")


def _request(i: int) -> OrderRequest:
    # Alternate buy and sell so positions stay small and every order fills.
    side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
    return OrderRequest(symbol=SYMBOLS[(i // 2) % len(SYMBOLS)], side=side, quantity=Decimal(1))


async def measure(orders: int = 20_000) -> PaperResult:
    started = time.perf_counter()
    for i in range(orders):
        _request(i)
    baseline = time.perf_counter() - started

    broker = PaperBroker(cash=Decimal(10) ** 9, market="always_open", seed=1)
    async with broker:
        started = time.perf_counter()
        for i in range(orders):
            if i % ORDERS_PER_MINUTE == 0:
                await broker.advance(timedelta(minutes=1))
            result = await broker.place_order(_request(i))
            if result.status is not OrderStatus.FILLED:
                raise RuntimeError(f"order {i} did not fill: {result}")
        elapsed = time.perf_counter() - started
    return PaperResult(orders, baseline, elapsed)


if __name__ == "__main__":
    print(asyncio.run(measure()).report())

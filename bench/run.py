"""Run every benchmark and print its ratios. Each measures against a baseline taken
in the same process and run, so the figures compare like with like.

Run: ``make bench`` (``python bench/run.py``) or ``.venv/bin/python -m bench.run``;
about four and a half minutes on a 2-core machine, nearly two of them the 1,000-connection
portfolio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def main() -> None:
    from bench import (
        adapter_overhead,
        alpaca_sdk,
        idle_memory,
        paper_orders,
        portfolio_scale,
    )

    print((await paper_orders.measure()).report())
    print((await adapter_overhead.measure()).report())
    print((await alpaca_sdk.measure()).report())
    print((await portfolio_scale.measure()).report())
    print((await idle_memory.measure()).report())


if __name__ == "__main__":
    # As a script (``python bench/run.py``) only bench/ is on the path: add the checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    asyncio.run(main())

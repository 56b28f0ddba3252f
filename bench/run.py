"""Run every benchmark and print its ratios. Each measures against a baseline taken
in the same process and run, so the figures compare like with like."""

from __future__ import annotations

import asyncio

from bench import paper_orders


async def main() -> None:
    print((await paper_orders.measure()).report())


if __name__ == "__main__":
    asyncio.run(main())

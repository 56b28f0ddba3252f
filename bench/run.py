"""Run every benchmark and print its ratios. Each measures against a baseline taken
in the same process and run, so the figures compare like with like.

Each benchmark runs in a fresh Python process of its own, one after another: what one
leaves on the heap (the paper benchmark's hundreds of thousands of orders, say) would
otherwise make the garbage collector slower in the next, and its figures would depend
on the order they ran in. A benchmark that fails stops the run with its exit status.

Run: ``make bench`` (``python bench/run.py``) or ``.venv/bin/python -m bench.run``;
about five minutes on a 2-core machine, nearly two of them the 1,000-connection
portfolio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]

BENCHMARKS = ("cli_startup", "paper_orders", "adapter_overhead", "alpaca_sdk",
              "portfolio_scale", "idle_memory")
"""Modules of ``bench``, in the order they run; each prints its own report."""


def main() -> int:
    for name in BENCHMARKS:
        finished = subprocess.run([sys.executable, "-m", f"bench.{name}"],  # noqa: S603
                                  cwd=CHECKOUT, check=False)
        if finished.returncode != 0:
            print(f"bench.{name} failed (exit status {finished.returncode})", file=sys.stderr)
            return finished.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SIGKILL during order submission, 15 times (50 under ``make stress``): after every
kill, reconcile leaves no orphaned intent and the emulator holds no duplicate order.

An intent the killed worker left in flight that the emulator has not placed is proved
by the journal's resend under the same client order id (Alpaca refuses a client order id
it has seen, so the emulator keeps at most one order): it ends placed, or found.

The worker (``kill_worker.py``) journals to a SQLite file and sends to the Alpaca
emulator served by this test's loop. The next worker is started while the current one
runs, so Python's start-up and imports overlap instead of adding up.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from brokerlink.bootstrap import order_journal
from brokerlink.storage.engine import open_database
from tests.integration.journal.rigs import emulator_accounts
from tests.suite import sized

ITERATIONS = sized(15, 50)
ACCOUNTS = sized(5, 10)   # Alpaca's emulator allows 200 requests a minute per account
WORKER = Path(__file__).with_name("kill_worker.py")
ROOT = Path(__file__).resolve().parents[3]


async def _spawn() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.stress
async def test_sigkill_mid_submission_leaves_nothing_orphaned(tmp_path: Path) -> None:
    started = time.perf_counter()
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    dice = random.Random(20261124)
    database = await open_database(url)
    async with emulator_accounts(alpaca=ACCOUNTS) as accounts:
        brokers = {f"{a.connection_id}:{a.account_id}": a.broker for a in accounts}
        journal = order_journal(database)
        upcoming = await _spawn()
        busy_kills = 0
        try:
            for run in range(ITERATIONS):
                account = accounts[run % ACCOUNTS]
                worker, upcoming = upcoming, await _spawn()
                assert worker.stdin is not None
                assert worker.stdout is not None
                worker.stdin.write(json.dumps({
                    "database_url": url, "url": account.credentials["url"],
                    "key_id": account.credentials["api_key_id"],
                    "secret": account.credentials["api_secret"],
                    "account_id": account.account_id,
                    "connection_id": account.connection_id, "run": run}).encode() + b"\n")
                await worker.stdin.drain()
                assert (await worker.stdout.readline()).strip() == b"ready"
                # The random kill point is the test's input, not a synchronisation wait.
                await asyncio.sleep(dice.uniform(0.0, 0.25))
                worker.send_signal(signal.SIGKILL)
                await worker.wait()
                busy_kills += bool(await worker.stdout.read())  # it had sent orders
                # Let the server finish requests whose bytes reached it before the kill:
                # a broker has the same window, which is why reconcile runs at start-up.
                await asyncio.sleep(0.05)
                report = await journal.reconcile(brokers)
                assert report.clean, report
                assert not [i for i in await journal.intents() if i.in_flight]
        finally:
            upcoming.kill()
            await upcoming.wait()
        intents = await journal.intents()
        for account in accounts:
            placed = await account.placed()
            coids = Counter(coid for coid, _ in placed.values())
            assert not [c for c, n in coids.items() if n > 1]
            mine = [i for i in intents if i.connection_id == account.connection_id]
            journaled = {i.broker_order_id: i for i in mine if i.broker_order_id}
            assert set(journaled) == set(placed)
            for order_id, (coid, _) in placed.items():
                assert journaled[order_id].client_order_id == coid
            for intent in mine:
                if intent.broker_order_id is None:
                    assert intent.not_sent or intent.error_type is not None
                    assert intent.client_order_id not in coids
    await database.aclose()
    print(f"\n{ITERATIONS} kills, {len(intents)} intents "
          f"({sum(1 for i in intents if i.not_sent)} never sent, "
          f"{sum(1 for i in intents if i.resolution == 'resend')} placed by a same-id "
          "resend), "
          f"{time.perf_counter() - started:.1f}s")
    assert busy_kills > ITERATIONS // 2   # most kills hit a worker busy submitting

"""2,000 orders through the Alpaca and Tradier emulators (12 and 6 accounts) with about
10% injected faults on order placement: 5xx, 429, resets and accept-then-drop.

The emulators enforce the brokers' real per-account rate limits (Alpaca 200 requests a
minute, Tradier 60 orders a minute), so the orders are spread over enough accounts to
stay inside them: a 429 here is only ever an injected one.

Afterwards: zero duplicates at the brokers, zero lost intents, and the journal agrees
with the brokers order by order. Stream drops are the sync tests' business.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from brokerlink.core.enums import OrderSide, OrderStatus
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import OrderRequest, OrderResult
from brokerlink.manager.journal import OrderJournal
from brokerlink.storage.engine import Database
from tests.integration.journal.rigs import ORDER_PATHS, Account, emulator_accounts

ORDERS = 2_000
CONCURRENCY = 24
SYMBOLS = ("AAPL", "MSFT", "SPY", "QQQ", "AMZN", "NVDA")
# Tradier's raw statuses for the ones market orders end in.
TRADIER_STATUS = {"filled": OrderStatus.FILLED, "open": OrderStatus.NEW,
                  "pending": OrderStatus.PENDING_NEW, "rejected": OrderStatus.REJECTED,
                  "canceled": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED,
                  "partially_filled": OrderStatus.PARTIALLY_FILLED}
FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "error", "status": 500, "probability": 0.025},
    {"kind": "error", "status": 503, "probability": 0.02},
    {"kind": "rate_limit", "probability": 0.02, "retry_after": 0},
    {"kind": "reset", "probability": 0.015},
    {"kind": "drop_after", "probability": 0.025},
)


def _account_for(index: int, alpaca: list[Account], tradier: list[Account]) -> Account:
    # About 12% of orders go to Tradier: 240 over 6 accounts stays under 60 a minute.
    if index % 25 < 3:
        return tradier[(index // 25) % len(tradier)]
    return alpaca[index % len(alpaca)]


async def _install_faults(accounts: list[Account]) -> None:
    done: set[str] = set()
    for account in accounts:
        if account.kind in done:
            continue
        done.add(account.kind)
        for rule in FAULTS:
            await account.fault(method="POST", path=ORDER_PATHS[account.kind], **rule)


async def test_two_thousand_orders_under_faults(database: Database) -> None:
    started = time.perf_counter()
    async with emulator_accounts(alpaca=12, tradier=6) as accounts:
        alpaca = [a for a in accounts if a.kind == "alpaca"]
        tradier = [a for a in accounts if a.kind == "tradier"]
        await _install_faults(accounts)
        journal = OrderJournal(database)
        gate = asyncio.Semaphore(CONCURRENCY)
        outcomes: Counter[str] = Counter()
        replies: dict[str, OrderResult | str] = {}

        async def one(index: int) -> None:
            account = _account_for(index, alpaca, tradier)
            order = OrderRequest(symbol=SYMBOLS[index % len(SYMBOLS)], side=OrderSide.BUY,
                                 quantity=1 + index % 3)
            key = f"k{index}" if index % 2 == 0 else None
            async with gate:
                try:
                    result = await journal.submit(
                        connection_id=account.connection_id, account_id=account.account_id,
                        broker=account.broker, order=order, idempotency_key=key)
                except BrokerError as exc:
                    outcomes[type(exc).__name__] += 1
                    if key:
                        replies[key] = type(exc).__name__
                    return
            outcomes["ok"] += 1
            if key:
                replies[key] = result

        await asyncio.gather(*(one(i) for i in range(ORDERS)))
        sent_at = time.perf_counter()

        # Every keyed order again, still under faults: identical replies, nothing sent.
        before = {a.connection_id: len(await a.placed()) for a in accounts}

        async def again(index: int) -> None:
            account = _account_for(index, alpaca, tradier)
            order = OrderRequest(symbol=SYMBOLS[index % len(SYMBOLS)], side=OrderSide.BUY,
                                 quantity=1 + index % 3)
            async with gate:
                try:
                    reply: OrderResult | str = await journal.submit(
                        connection_id=account.connection_id, account_id=account.account_id,
                        broker=account.broker, order=order, idempotency_key=f"k{index}")
                except BrokerError as exc:
                    reply = type(exc).__name__
            assert reply == replies[f"k{index}"]

        await asyncio.gather(*(again(i) for i in range(0, ORDERS, 2)))
        assert {a.connection_id: len(await a.placed()) for a in accounts} == before

        for account in accounts:
            await account.clear_faults()
        report = await journal.reconcile({a.connection_id: a.broker for a in accounts})
        assert report.clean, report

        intents = await journal.intents()
        assert len(intents) == ORDERS                       # zero lost intents
        assert not [i for i in intents if i.in_flight]
        by_connection: dict[str, list[Any]] = {}
        for intent in intents:
            by_connection.setdefault(intent.connection_id, []).append(intent)
        total_at_brokers = 0
        for account in accounts:
            placed = await account.placed()
            total_at_brokers += len(placed)
            coids = Counter(coid for coid, _ in placed.values())
            assert not [c for c, n in coids.items() if n > 1]   # zero duplicates
            mine = by_connection[account.connection_id]
            journaled = {i.broker_order_id: i for i in mine if i.broker_order_id}
            assert set(journaled) == set(placed)
            for order_id, (coid, raw) in placed.items():
                intent = journaled[order_id]
                assert intent.client_order_id == coid
                status = (OrderStatus(raw) if account.kind == "alpaca"
                          else TRADIER_STATUS[raw])
                assert intent.status is status
            for intent in mine:
                if intent.broker_order_id is None:
                    assert intent.status is OrderStatus.REJECTED
                    assert intent.client_order_id not in coids
        assert total_at_brokers == outcomes["ok"]
    faulted = ORDERS - outcomes["ok"]
    print(f"\n{ORDERS} orders: {dict(outcomes)}; {faulted} refused or not sent; "
          f"send phase {sent_at - started:.1f}s, total {time.perf_counter() - started:.1f}s")
    assert 0.03 * ORDERS < faulted < 0.15 * ORDERS

"""Orders through the Alpaca and Tradier emulators with about 10% injected faults: on
order placement 5xx, 429, resets and accept-then-drop; on the order streams skipped
messages and a few disconnects. The live sync keeps the journal current all along.

About a quarter of the orders change status after the submit reply: limit buys rest
below the market, then fill when the test moves prices through the emulators' admin API
or are canceled at the broker (through the adapter, behind the journal's back); a few
rest to the end. Only the sync tells the journal: a ``SyncEngine`` streams every account
and a ``JournalFeed`` writes each order it publishes into the journal, wired as
``BrokerManager.start_sync`` does. A tenth of the stream messages are skipped
(``stream_skip``: the socket stays open, the client is told nothing), so some changes
never arrive by stream. The sync's follow-up reads (after stream fills) repair some;
one explicit reconcile per connection at the end repairs the rest.

The orders come in three waves; once all of a wave's orders are answered, prices move
to fill its resting buys while the next wave is being sent. An order whose "new" and
fill messages were both skipped, and that no read saw resting, still reaches the
journal: a read publishes every closed order the sync has not seen closed yet. The
cancels come last, once no read is running or due: only the final reconcile can
repair a cancel whose message was skipped.

The emulators enforce the brokers' real per-account rate limits: the Alpaca emulator
reports its window (200 requests a minute; the adapter pauses when it runs out), the
Tradier emulator refuses beyond 60 orders and 120 other requests a minute. Tradier is
the tight one: each order there costs two of those reads besides the order itself (the
adapter reads a placed order back, and its stream fetches each order it first hears
of). So the orders are spread over enough accounts (about 110 per Alpaca account, 24
per Tradier account), and the sync may spend a tenth of each budget on its own reads (a
full read at most every 9 s on Alpaca, 15 s on Tradier; no periodic reconcile): a 429
here is only ever an injected one, which the test checks.

An order whose write was ambiguous and that the broker cannot yet prove it never
placed (Tradier; or Alpaca when the journal's same-id resend failed too) stays unknown:
the brokers may still place it. Before the final reconcile the journal's clock moves
past the late-order window (the faults are cleared, nothing is held), so a lookup that
still finds nothing then proves "not sent".

Afterwards: zero duplicates at the brokers, zero lost intents, and the journal agrees
with the brokers order by order; the stream faults really fired, and some changes
reached the journal only through the final reconcile.

Sizes: ``make test`` sends 600 orders over 6 Alpaca and 4 Tradier accounts, which fits
its time budget; ``make stress`` (``BROKERLINK_STRESS=1``) sends the full 2,000 over 16
and 10. Every assertion is the same at both sizes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest

from brokerlink.bootstrap import order_journal
from brokerlink.core.enums import OrderSide, OrderStatus, OrderType
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import Order, OrderRequest, OrderResult
from brokerlink.core.values import utc_now
from brokerlink.manager.journal import OrderJournal
from brokerlink.manager.journal_feed import JournalFeed, is_order_event
from brokerlink.manager.latency import SyncSource
from brokerlink.manager.sync import SyncEngine, SyncPolicy, SyncTarget
from brokerlink.manager.sync_events import SyncEvent, SyncEventKind, SyncSubscription
from brokerlink.storage.engine import Database
from brokerlink.storage.journal import IntentRecord
from tests.integration.journal.rigs import ORDER_PATHS, Account, emulator_accounts
from tests.suite import sized

ORDERS = sized(600, 2_000)
ALPACA_ACCOUNTS = sized(6, 16)
TRADIER_ACCOUNTS = sized(4, 10)
CONCURRENCY = 24
SYMBOLS = ("AAPL", "MSFT", "SPY", "QQQ", "AMZN", "NVDA")
WAVES = 3
WAIT = 20.0
CENT = Decimal("0.01")
# Tradier's raw statuses for the ones these orders end in.
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
"""On order placement (``POST`` on each broker's order path)."""
STREAM_DROPS = 2
STREAM_FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "stream_skip", "probability": 0.1},
    # A few disconnects too: a connection that has sent 20 messages is closed (every
    # connection sends more than that); the adapter reopens it, the sync polls
    # meanwhile, then catches up with a read.
    {"kind": "stream_drop", "after_messages": 20, "count": STREAM_DROPS},
)
"""On every order stream of each emulator."""
STORM_SYNC = SyncPolicy(reconcile_interval=None, budget_share=0.1)
"""Streams first, polling only while a stream is down, follow-up reads after stream
fills; a tenth of the read budget and no periodic reconcile (module docstring)."""


class Plan(StrEnum):
    """What happens to an order after its submit reply."""

    MARKET = "market"
    """Fills on placement: the reply is final."""
    FILL = "fill"
    """A limit buy resting just below the market until its wave's price move fills it."""
    CANCEL = "cancel"
    """A limit buy far below the market, canceled at the broker at the end."""
    REST = "rest"
    """A limit buy far below the market that rests to the end."""


# Shares of the orders: 27% rest after the reply, 24% change status later.
PLAN_SHARES = ((Plan.FILL, 0.14), (Plan.CANCEL, 0.10), (Plan.REST, 0.03))
STEP = Decimal("0.04")
"""Each wave's resting buys sit this much lower (as a share of the opening price) than
the last wave's, and its price move goes half a step below them; every move leaves
later waves' buys resting."""
FAR_BELOW = Decimal("0.5")


@dataclass(frozen=True)
class Planned:
    account: Account
    order: OrderRequest
    key: str | None
    plan: Plan
    wave: int


def _account_for(index: int, alpaca: list[Account], tradier: list[Account]) -> Account:
    # About 12% of orders go to Tradier: 24 per account (18 at the small size), with
    # their share of the cancels, stays well under 60 a minute (and their reads under 120:
    # module docstring); Alpaca's accounts get about 110 (88).
    if index % 25 < 3:
        return tradier[(index // 25) % len(tradier)]
    return alpaca[index % len(alpaca)]


def _fill_limit(opening: Decimal, wave: int) -> Decimal:
    return (opening * (1 - STEP * (wave + 1))).quantize(CENT)


def _moved_price(opening: Decimal, wave: int) -> Decimal:
    return (opening * (1 - STEP * (wave + 1) - STEP / 2)).quantize(CENT)


def _plans(accounts: list[Account], opening: dict[tuple[str, str], Decimal]) -> list[Planned]:
    """Every order of the storm, the same in both passes (replays must match)."""
    alpaca = [a for a in accounts if a.kind == "alpaca"]
    tradier = [a for a in accounts if a.kind == "tradier"]
    dice = random.Random(2_000)  # a repeatable mix of plans
    plans = []
    for index in range(ORDERS):
        account = _account_for(index, alpaca, tradier)
        symbol = SYMBOLS[index % len(SYMBOLS)]
        wave = index * WAVES // ORDERS
        roll, plan, bound = dice.random(), Plan.MARKET, 0.0
        for candidate, share in PLAN_SHARES:
            bound += share
            if roll < bound:
                plan = candidate
                break
        quantity = 1 + index % 3
        if plan is Plan.MARKET:
            order = OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity)
        else:
            base = opening[account.kind, symbol]
            limit = (_fill_limit(base, wave) if plan is Plan.FILL
                     else (base * FAR_BELOW).quantize(CENT))
            order = OrderRequest(symbol=symbol, side=OrderSide.BUY, quantity=quantity,
                                 order_type=OrderType.LIMIT, limit_price=limit)
        plans.append(Planned(account, order, f"k{index}" if index % 2 == 0 else None, plan,
                             wave))
    return plans


def _by_kind(accounts: Iterable[Account]) -> dict[str, Account]:
    """One account per emulator: admin calls (prices, faults) are per emulator."""
    return {a.kind: a for a in reversed(list(accounts))}


async def _install_faults(accounts: list[Account]) -> None:
    for account in _by_kind(accounts).values():
        for rule in FAULTS:
            await account.fault(method="POST", path=ORDER_PATHS[account.kind], **rule)
        for rule in STREAM_FAULTS:
            await account.fault(**rule)


async def _fired(accounts: list[Account]) -> Counter[str]:
    """How often each installed fault fired, over both emulators."""
    fired: Counter[str] = Counter()
    for account in _by_kind(accounts).values():
        for rule in await account.faults():
            name = f"{rule['kind']} {rule['status']}" if rule["kind"] == "error" else rule["kind"]
            fired[name] += rule["fired"]
    return fired


def _broker_status(account: Account, raw: str) -> OrderStatus:
    return OrderStatus(raw) if account.kind == "alpaca" else TRADIER_STATUS[raw]


async def _behind(accounts: list[Account], intents: list[IntentRecord]) -> set[str]:
    """Broker order ids whose journal status differs from the broker's."""
    journaled = {(i.connection_id, i.broker_order_id): i.status for i in intents}
    behind = set()
    for account in accounts:
        for order_id, (_, raw) in (await account.placed()).items():
            if journaled.get((account.connection_id, order_id)) is not _broker_status(account,
                                                                                       raw):
                behind.add(order_id)
    return behind


@dataclass
class Storm:
    """The storm's moving parts and what happened."""

    accounts: list[Account]
    journal: OrderJournal
    engine: SyncEngine
    opening: dict[tuple[str, str], Decimal]
    outcomes: Counter[str] = field(default_factory=Counter)
    replies: dict[str, OrderResult | str] = field(default_factory=dict)
    placed: Counter[Plan] = field(default_factory=Counter)
    cancels: list[tuple[Account, str]] = field(default_factory=list)
    answered: list[asyncio.Event] = field(
        default_factory=lambda: [asyncio.Event() for _ in range(WAVES)])
    seen: dict[SyncSource, dict[str, set[OrderStatus]]] = field(
        default_factory=lambda: {source: {} for source in SyncSource})
    """Per source, the statuses the sync published for each order id."""

    def on_event(self, event: SyncEvent) -> None:
        if isinstance(event.payload, Order):
            order = event.payload
            self.seen[event.source].setdefault(order.order_id, set()).add(order.status)

    def only_from(self, source: SyncSource) -> set[str]:
        """Orders with a status that reached the sync from ``source`` and never by
        stream: a change whose stream message was lost, repaired by a read."""
        streamed = self.seen[SyncSource.STREAM]
        return {order_id for order_id, statuses in self.seen[source].items()
                if statuses - streamed.get(order_id, set())}

    async def submit(self, planned: Planned, gate: asyncio.Semaphore) -> OrderResult | str:
        """The journal's reply, or the type of the error it raised."""
        async with gate:
            try:
                return await self.journal.submit(
                    connection_id=planned.account.connection_id,
                    account_id=planned.account.account_id, broker=planned.account.broker,
                    order=planned.order, idempotency_key=planned.key)
            except BrokerError as exc:
                return type(exc).__name__

    async def send(self, plans: list[Planned]) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        unanswered = Counter(p.wave for p in plans)

        async def one(planned: Planned) -> None:
            reply = await self.submit(planned, gate)
            if planned.key:
                self.replies[planned.key] = reply
            if isinstance(reply, str):
                self.outcomes[reply] += 1
            else:
                self.outcomes["ok"] += 1
                self.placed[planned.plan] += 1
                if planned.plan is Plan.CANCEL:
                    assert reply.order_id is not None
                    self.cancels.append((planned.account, reply.order_id))
            unanswered[planned.wave] -= 1
            if not unanswered[planned.wave]:
                self.answered[planned.wave].set()

        # A task group: should one order fail the test, the status changes waiting for
        # its wave are cancelled instead of waiting forever.
        async with asyncio.TaskGroup() as group:
            for planned in plans:
                group.create_task(one(planned))
            group.create_task(self.change_statuses())

    async def change_statuses(self) -> None:
        """Each wave, once all its orders are answered: the price moves that fill its
        resting buys."""
        for wave in range(WAVES):
            await self.answered[wave].wait()
            for market in _by_kind(self.accounts).values():
                for symbol in SYMBOLS:
                    await market.set_price(
                        symbol, _moved_price(self.opening[market.kind, symbol], wave))

    async def cancel_quietly(self) -> None:
        """Cancel the cancel group at the brokers once no read is running or due.

        Follow-up reads come only after stream fills (and reconnections), so from here
        on nothing reads until the final reconcile: a cancel whose stream message is
        skipped can reach the journal through that reconcile only.
        """
        await asyncio.gather(*(self.engine.settled(cid, WAIT)
                               for cid in self.engine.connection_ids))
        await asyncio.gather(*(account.broker.cancel_order(order_id)
                               for account, order_id in self.cancels))

    async def replay(self, plans: list[Planned]) -> None:
        """Every keyed order again, still under faults: identical replies, nothing sent."""
        gate = asyncio.Semaphore(CONCURRENCY)

        async def again(planned: Planned) -> None:
            assert planned.key is not None
            assert await self.submit(planned, gate) == self.replies[planned.key]

        await asyncio.gather(*(again(p) for p in plans if p.key))


async def _streams_up(engine: SyncEngine, ups: SyncSubscription,
                      connection_ids: list[str]) -> None:
    """Wait until every connection streams (``ups``: the engine's stream-up events) and
    has caught up."""
    up: set[str] = set()
    async with ups, asyncio.timeout(WAIT):
        while up != set(connection_ids):
            up.add((await ups.get()).connection_id)
    await asyncio.gather(*(engine.settled(cid, WAIT) for cid in connection_ids))


class Clock:
    """The journal's clock: the wall clock, plus however far the test moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.ahead


@pytest.mark.stress
async def test_orders_under_faults(database: Database) -> None:
    started = time.perf_counter()
    async with emulator_accounts(alpaca=ALPACA_ACCOUNTS, tradier=TRADIER_ACCOUNTS) as accounts:
        opening = {(market.kind, symbol): await market.last_price(symbol)
                   for market in _by_kind(accounts).values() for symbol in SYMBOLS}
        plans = _plans(accounts, opening)
        connection_ids = [a.connection_id for a in accounts]
        clock = Clock()
        journal = order_journal(database, clock=clock)
        engine = SyncEngine([SyncTarget(a.connection_id, a.broker, policy=STORM_SYNC)
                             for a in accounts])
        storm = Storm(accounts, journal, engine, opening)
        engine.add_listener(storm.on_event)
        # As BrokerManager.start_sync wires them: every order event into the journal.
        feed = JournalFeed(engine.subscribe(is_order_event), journal)
        ups = engine.subscribe(lambda e: e.kind is SyncEventKind.STREAM_UP)
        feed.start()
        try:
            async with engine:
                await _streams_up(engine, ups, connection_ids)
                await _install_faults(accounts)

                await storm.send(plans)
                sent_at = time.perf_counter()
                before = {a.connection_id: len(await a.placed()) for a in accounts}
                await storm.replay(plans)
                assert {a.connection_id: len(await a.placed()) for a in accounts} == before
                # By now (the replay took seconds) the last price move's stream messages
                # are in, and the follow-up reads they asked for are running or due.
                await storm.cancel_quietly()

                fired = await _fired(accounts)
                for account in _by_kind(accounts).values():
                    await account.clear_faults()
                # What the stream and the reads brought so far is written; the rest of
                # what is behind the brokers now has to come from the reconcile.
                await feed.drain(WAIT)
                behind = await _behind(accounts, await journal.intents())
                repairs = 0
                for cid in connection_ids:
                    repairs += await engine.reconcile(cid)
                await feed.drain(WAIT)
                reconnects = sum(s.stream_reconnects for s in engine.states().values())
        finally:
            await feed.stop()
        by_reconcile = storm.only_from(SyncSource.RECONCILE)
        by_reads = storm.only_from(SyncSource.POLL)
        # Past every broker's late-order window: what is still not found never will be.
        unknown = [i for i in await journal.intents() if i.in_flight]
        clock.ahead = max(journal.late_order_rule(a.broker).window for a in accounts)
        report = await journal.reconcile({a.connection_id: a.broker for a in accounts})
        assert report.clean, report

        intents = await journal.intents()
        assert len(intents) == ORDERS                       # zero lost intents
        assert not [i for i in intents if i.in_flight]
        by_connection: dict[str, list[IntentRecord]] = {}
        for intent in intents:
            by_connection.setdefault(intent.connection_id, []).append(intent)
        total_at_brokers = 0
        final: Counter[OrderStatus] = Counter()
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
                assert intent.status is _broker_status(account, raw), (order_id, raw)
                final[intent.status] += 1
            for intent in mine:
                if intent.broker_order_id is None:
                    assert intent.status is OrderStatus.REJECTED
                    assert intent.client_order_id not in coids
        assert total_at_brokers == storm.outcomes["ok"], (
            total_at_brokers, storm.outcomes,
            Counter((i.resolution, i.attempts, i.status.value) for i in intents))
    assert feed.failed == 0
    elapsed = time.perf_counter() - started
    later = storm.placed[Plan.FILL] + storm.placed[Plan.CANCEL]
    faulted = ORDERS - storm.outcomes["ok"]
    statuses = {s.value: n for s, n in final.items()}
    print(f"\n{ORDERS} orders: {dict(storm.outcomes)}; {faulted} refused or not sent; "
          f"placed by plan {dict(storm.placed)}; final statuses {statuses}; "
          f"faults fired {dict(fired)}; {len(unknown)} unknown until the window passed, "
          f"{sum(i.attempts - 1 for i in intents)} same-id resends; "
          f"{reconnects} stream reconnects; {feed.applied} journal updates from the sync; "
          f"{len(by_reads)} orders with a status lost by the stream and brought by the "
          f"sync's reads during the storm; "
          f"{len(behind)} orders behind the brokers before the final reconcile, "
          f"{len(by_reconcile)} changes repaired only by it ({repairs} repairs); "
          f"send phase {sent_at - started:.1f}s, total {elapsed:.1f}s")
    assert 0.03 * ORDERS < faulted < 0.15 * ORDERS
    assert 0.2 * ORDERS < later < 0.3 * ORDERS              # changed after the reply
    # Every resting order ended as planned: the price moves and cancels all happened.
    assert final == {OrderStatus.FILLED: storm.placed[Plan.MARKET] + storm.placed[Plan.FILL],
                     OrderStatus.CANCELED: storm.placed[Plan.CANCEL],
                     OrderStatus.NEW: storm.placed[Plan.REST]}
    # The only 429s were injected ones: the sync's reads stayed inside the budgets. An
    # injected 429 reaches the caller unless it hit the journal's same-id resend after an
    # ambiguous write (the order then stays unknown: a RequestTimeoutError).
    resends = sum(i.attempts - 1 for i in intents)
    assert fired["rate_limit"] - resends <= storm.outcomes["RateLimitError"] \
        <= fired["rate_limit"]
    assert fired["stream_skip"] > ORDERS // 20
    assert fired["stream_drop"] == reconnects == 2 * STREAM_DROPS   # two emulators
    # Not vacuous: changes whose stream message was lost were repaired by reads, some of
    # them only by the final reconcile (so the journal was behind until then).
    assert by_reads
    assert by_reconcile
    assert by_reconcile <= behind

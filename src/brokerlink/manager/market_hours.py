"""What to do with an order while the market is closed: refuse, go extended, or queue.

``MarketHours`` answers "is the regular session open, and when does it next open" on the
XNYS calendar with an injectable clock. ``ClosedMarketGate.place`` applies a
``ClosedMarketPolicy`` per order:

- ``REJECT``: raise ``MarketClosedError`` carrying ``next_open``.
- ``EXTENDED``: in the pre- or post-market session, a limit order (day or gtc) at a
  broker whose capabilities allow extended hours is sent with ``extended_hours=True``;
  otherwise (wrong order type, no broker support, or the market fully closed overnight
  or on a holiday) the gate falls back to its configured ``extended_fallback``.
- ``QUEUE``: the order is stored durably in ``OrderQueue`` until the next regular open.

``OrderQueue.release_due`` re-validates each due order (unexpired, a fresh quote within
the price collar, the broker's capabilities) and submits it THROUGH THE JOURNAL under
the idempotency key ``queue:<id>``: a release that runs twice, or crashes between the
send and the status write, never sends an order twice (the journal replays the answer).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from brokerlink.core.enums import OrderType, TimeInForce
from brokerlink.core.errors import (
    BrokerError,
    InvalidOrderError,
    MarketClosedError,
    OrderNotFoundError,
    RequestTimeoutError,
)
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import OrderRequest, OrderResult
from brokerlink.core.values import utc_now
from brokerlink.manager.journal import OrderJournal, check_idempotency_key
from brokerlink.manager.order_stores import OrderQueueStore, QueuedOrderRecord, QueueStatus
from brokerlink.sim.calendar import ExchangeCalendar, MarketCalendar, MarketSession

DEFAULT_COLLAR_PCT = Decimal(5)
"""A queued order is refused at release when the price moved more than this (percent)."""
DEFAULT_QUEUE_EXPIRY = timedelta(days=5)
"""How long a queued order may wait, from queueing, unless ``expires_at`` is given."""
_HUNDRED = Decimal(100)


class ClosedMarketPolicy(StrEnum):
    """What to do with an order that arrives while the regular session is closed."""

    REJECT = "reject"
    EXTENDED = "extended"
    QUEUE = "queue"


class MarketHours:
    """The regular session on an exchange calendar (XNYS by default) at ``clock()``."""

    def __init__(self, calendar: MarketCalendar | None = None, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.calendar: MarketCalendar = calendar or ExchangeCalendar("XNYS")
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    def session(self) -> MarketSession:
        """The session now: closed, pre, regular or post."""
        return self.calendar.session_state(self.clock())

    def is_open(self) -> bool:
        """Whether the regular session is open now."""
        return self.calendar.is_open(self.clock())

    def next_open(self) -> datetime:
        """The next regular open strictly after now."""
        return self.calendar.next_open(self.clock())


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    """An order held for the next open, as the caller sees it."""

    id: str
    connection_id: str
    account_id: str
    order: OrderRequest
    status: QueueStatus
    queued_at: datetime
    release_at: datetime
    expires_at: datetime
    reference_price: Decimal | None
    collar_pct: Decimal | None
    message: str | None = None
    result: OrderResult | None = None

    @property
    def idempotency_key(self) -> str:
        """The journal key its release is sent under: one send, however often released."""
        return f"queue:{self.id}"


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    """What one release attempt did with one queued order.

    ``status`` is the queue status afterwards; ``QUEUED`` means "try again later"
    (broker missing or unreachable, or the outcome is still being reconciled).
    """

    queued: QueuedOrder
    status: QueueStatus
    result: OrderResult | None = None
    message: str | None = None


def _to_queued(record: QueuedOrderRecord) -> QueuedOrder:
    return QueuedOrder(
        id=record.id, connection_id=record.connection_id, account_id=record.account_id,
        order=OrderRequest.model_validate_json(record.request_json), status=record.status,
        queued_at=record.queued_at, release_at=record.release_at,
        expires_at=record.expires_at, reference_price=record.reference_price,
        collar_pct=record.collar_pct, message=record.message,
        result=(OrderResult.model_validate_json(record.result_json)
                if record.result_json else None))


def _price_of(last: Decimal | None, mid: Decimal | None) -> Decimal | None:
    return last if last is not None else mid


class OrderQueue:
    """Durable orders waiting for the open (see the module docstring), kept in
    ``store`` (``bootstrap.order_stores(database).queue`` over the database)."""

    def __init__(self, store: OrderQueueStore, journal: OrderJournal, hours: MarketHours, *,
                 collar_pct: Decimal | None = DEFAULT_COLLAR_PCT,
                 expiry: timedelta = DEFAULT_QUEUE_EXPIRY) -> None:
        self.repository: OrderQueueStore = store
        self.journal = journal
        self.hours = hours
        self.collar_pct = collar_pct
        self.expiry = expiry

    async def enqueue(self, *, connection_id: str, account_id: str, order: OrderRequest,
                      broker: BrokerInterface | None = None,
                      reference_price: Decimal | None = None,
                      collar_pct: Decimal | None = None,
                      expires_at: datetime | None = None) -> QueuedOrder:
        """Store ``order`` until the next regular open; return the queued order.

        The collar's reference is ``reference_price``, else the last (or mid) price
        quoted by ``broker`` now, else the order's limit price; with none of them the
        order is queued without a collar. Raises ``InvalidOrderError`` when it would
        expire before the open it waits for, and the broker's read errors from the quote.
        """
        now = self.hours.now()
        release_at = self.hours.next_open()
        expires = expires_at or now + self.expiry
        if expires <= release_at:
            raise InvalidOrderError(
                f"the order would expire at {expires.isoformat()}, before the next open at "
                f"{release_at.isoformat()}; give a later expiry", field="expires_at")
        if reference_price is None and broker is not None:
            quote = await broker.get_quote(order.symbol)
            reference_price = _price_of(quote.last, quote.mid)
        if reference_price is None:
            reference_price = order.limit_price
        collar = collar_pct if collar_pct is not None else self.collar_pct
        record = QueuedOrderRecord(
            id=str(uuid.uuid4()), connection_id=connection_id, account_id=account_id,
            request_json=order.model_dump_json(), client_order_id=order.client_order_id,
            status=QueueStatus.QUEUED, queued_at=now, release_at=release_at,
            expires_at=expires, updated_at=now, reference_price=reference_price,
            collar_pct=collar if reference_price is not None else None)
        await self.repository.add(record)
        return _to_queued(record)

    async def list(self, *, statuses: Iterable[QueueStatus] | None = None) -> list[QueuedOrder]:
        """Queued orders (all, or those in ``statuses``), oldest first."""
        return [_to_queued(r) for r in await self.repository.list(statuses=statuses)]

    async def get(self, queued_id: str) -> QueuedOrder:
        """One queued order. Raises ``OrderNotFoundError`` for an unknown id."""
        record = await self.repository.get(queued_id)
        if record is None:
            raise OrderNotFoundError(f"no queued order {queued_id}", order_id=queued_id)
        return _to_queued(record)

    async def cancel(self, queued_id: str) -> QueuedOrder:
        """Take a waiting order out of the queue; nothing is sent.

        Raises ``OrderNotFoundError`` for an unknown id and ``InvalidOrderError`` when it
        already left the queue (released, expired, refused or canceled).
        """
        record = await self.repository.get(queued_id)
        if record is None:
            raise OrderNotFoundError(f"no queued order {queued_id}", order_id=queued_id)
        if record.status is not QueueStatus.QUEUED or not await self.repository.set_status(
                record, QueueStatus.CANCELED, now=self.hours.now(),
                message="canceled while queued"):
            current = await self.get(queued_id)
            raise InvalidOrderError(
                f"queued order {queued_id} is {current.status.value}, no longer waiting; "
                "cancel the placed order at the broker instead", field="id")
        return await self.get(queued_id)

    async def release_due(
            self, brokers: Mapping[str, BrokerInterface]) -> builtins.list[ReleaseOutcome]:
        """Send every queued order whose open has come, if the regular session is open.

        ``brokers`` is keyed like ``OrderJournal.reconcile`` (``"conn:account"`` or
        ``"conn"``). Each order is re-validated: expired ones become ``EXPIRED``; a
        price outside the collar or an order the broker cannot take becomes
        ``REFUSED``; the rest are submitted through the journal (key ``queue:<id>``).
        Safe to run repeatedly and after a crash. Never raises for one order's failure:
        it is reported in its ``ReleaseOutcome``.
        """
        if not self.hours.is_open():
            return []
        outcomes: builtins.list[ReleaseOutcome] = []
        for record in await self.repository.list(statuses=[QueueStatus.QUEUED],
                                                 due_by=self.hours.now()):
            broker = (brokers.get(f"{record.connection_id}:{record.account_id}")
                      or brokers.get(record.connection_id))
            if broker is None:
                outcomes.append(ReleaseOutcome(_to_queued(record), QueueStatus.QUEUED,
                                               message="no broker given for its connection"))
                continue
            outcomes.append(await self._release(record, broker))
        return outcomes

    async def _release(self, record: QueuedOrderRecord,
                       broker: BrokerInterface) -> ReleaseOutcome:
        queued = _to_queued(record)
        now = self.hours.now()
        if now >= record.expires_at:
            return await self._finish(record, QueueStatus.EXPIRED,
                                      f"expired at {record.expires_at.isoformat()} "
                                      "before it could be released")
        try:
            broker.capabilities.check_order(queued.order, broker=broker.broker_type.value)
            refusal = await self._outside_collar(record, queued.order, broker)
        except BrokerError as exc:
            if exc.retryable:
                return ReleaseOutcome(queued, QueueStatus.QUEUED, message=exc.message)
            return await self._finish(record, QueueStatus.REFUSED, exc.message)
        if refusal is not None:
            return await self._finish(record, QueueStatus.REFUSED, refusal)
        try:
            result = await self.journal.submit(
                connection_id=record.connection_id, account_id=record.account_id,
                broker=broker, order=queued.order, idempotency_key=queued.idempotency_key)
        except RequestTimeoutError as exc:
            # Journaled as unknown: the next release replays whatever reconcile finds.
            return ReleaseOutcome(queued, QueueStatus.QUEUED, message=exc.message)
        except BrokerError as exc:
            return await self._finish(record, QueueStatus.REFUSED, exc.message)
        return await self._finish(record, QueueStatus.RELEASED, None, result)

    async def _outside_collar(self, record: QueuedOrderRecord, order: OrderRequest,
                              broker: BrokerInterface) -> str | None:
        reference, collar = record.reference_price, record.collar_pct
        if reference is None or collar is None:
            return None
        quote = await broker.get_quote(order.symbol)
        price = _price_of(quote.last, quote.mid)
        if price is None:
            return f"no price for {order.symbol} to check the collar against"
        moved = abs(price - reference) / reference * _HUNDRED
        if moved > collar:
            return (f"{order.symbol} moved {moved.quantize(Decimal('0.01'))}% from "
                    f"{reference} to {price} since it was queued, beyond the {collar}% "
                    "collar; place it again at today's price if still wanted")
        return None

    async def _finish(self, record: QueuedOrderRecord, status: QueueStatus,
                      message: str | None,
                      result: OrderResult | None = None) -> ReleaseOutcome:
        written = await self.repository.set_status(
            record, status, now=self.hours.now(), message=message,
            result_json=result.model_dump_json() if result is not None else None)
        current = await self.get(record.id)
        if not written:
            # Another release or a cancel won the race: report what it decided.
            return ReleaseOutcome(current, current.status, current.result, current.message)
        return ReleaseOutcome(current, status, result, message)


class ClosedMarketGate:
    """Applies a ``ClosedMarketPolicy`` to each order before it reaches the journal.

    ``extended_fallback`` is what ``EXTENDED`` does when extended hours cannot be used
    (``REJECT`` or ``QUEUE``).
    """

    def __init__(self, hours: MarketHours, journal: OrderJournal, queue: OrderQueue, *,
                 extended_fallback: ClosedMarketPolicy = ClosedMarketPolicy.REJECT) -> None:
        if extended_fallback is ClosedMarketPolicy.EXTENDED:
            raise ValueError("extended_fallback must be REJECT or QUEUE")
        self.hours = hours
        self.journal = journal
        self.queue = queue
        self.extended_fallback = extended_fallback

    async def place(self, *, connection_id: str, account_id: str, broker: BrokerInterface,
                    order: OrderRequest, policy: ClosedMarketPolicy = ClosedMarketPolicy.REJECT,
                    idempotency_key: str | None = None) -> OrderResult | QueuedOrder:
        """Send ``order`` now if the regular session is open, else apply ``policy``.

        Returns the broker's ``OrderResult`` (sent now) or a ``QueuedOrder``. Raises
        ``MarketClosedError`` (with ``next_open``) under ``REJECT``, ``InvalidOrderError``
        for an idempotency key outside the rule (before anything is queued), and what
        ``OrderJournal.submit`` raises.
        """
        check_idempotency_key(idempotency_key)
        if self.hours.is_open() or self.hours.calendar.always_open:
            return await self._submit(connection_id, account_id, broker, order,
                                      idempotency_key)
        if policy is ClosedMarketPolicy.EXTENDED:
            if self._extended_ok(broker, order):
                extended = order.model_copy(update={"extended_hours": True})
                return await self._submit(connection_id, account_id, broker,
                                          OrderRequest.model_validate(extended.model_dump()),
                                          idempotency_key)
            policy = self.extended_fallback
        if policy is ClosedMarketPolicy.QUEUE:
            return await self.queue.enqueue(connection_id=connection_id,
                                            account_id=account_id, order=order,
                                            broker=broker)
        next_open = self.hours.next_open()
        raise MarketClosedError(
            f"the market is closed; it opens at {next_open.isoformat()}. Send it then, or "
            "use the queue or extended-hours policy", next_open=next_open,
            connection_id=connection_id)

    def _extended_ok(self, broker: BrokerInterface, order: OrderRequest) -> bool:
        return (self.hours.session() in (MarketSession.PRE, MarketSession.POST)
                and order.order_type is OrderType.LIMIT
                and order.time_in_force in (TimeInForce.DAY, TimeInForce.GTC)
                and broker.capabilities.extended_hours)

    async def _submit(self, connection_id: str, account_id: str, broker: BrokerInterface,
                      order: OrderRequest, idempotency_key: str | None) -> OrderResult:
        return await self.journal.submit(connection_id=connection_id, account_id=account_id,
                                         broker=broker, order=order,
                                         idempotency_key=idempotency_key)


__all__ = ["DEFAULT_COLLAR_PCT", "DEFAULT_QUEUE_EXPIRY", "ClosedMarketGate",
           "ClosedMarketPolicy", "MarketHours", "OrderQueue", "QueuedOrder",
           "ReleaseOutcome"]

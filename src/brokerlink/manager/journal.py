"""The write-ahead order journal: every order is written down before it is sent.

``OrderJournal.submit`` stores an intent (``PENDING_NEW``) before calling the broker,
then moves it through the core state machine (``ensure_transition``) as the broker
answers. The rules it exists to keep:

- **Never sent twice.** An idempotency key (per connection; 1 to 255 printable ASCII
  characters, else ``InvalidOrderError`` before anything is stored or sent) maps to one
  intent; a repeat returns the stored result (or re-raises the stored refusal) and
  sends nothing, also when the first call is still in flight in another task (calls are
  serialised per key). A different order under a used key raises ``DuplicateOrderError``.
- **Ambiguity is resolved by asking, and one "not found" proves nothing.** A write whose
  answer was lost or cannot be read (``RequestTimeoutError``, its subclass
  ``UnreadableAcknowledgementError``, or any non-``BrokerError`` escaping the adapter) may
  still be placed later: a broker, or a gateway in front of it, can hold an order past
  the client's timeout and then act. So the broker is asked, by client order id where
  ``capabilities.client_order_ids`` is true, else by fingerprint (symbol, side,
  quantity, type, prices, time in force) among its orders since the intent was written;
  found, the intent takes the broker's order. Not found, the intent becomes "not sent"
  only when the broker proves it:

  * where the broker refuses a second order with a client order id it has seen
    (``BrokerSpec.rejects_duplicate_client_order_id``, Alpaca), the journal sends the
    same request again under the SAME client order id: accepted, the first never arrived
    and this is the one order; refused as a duplicate, the first arrived and is looked
    up again. Either way the broker holds at most one order;
  * once the broker's late-order window has passed since the intent was written
    (``BrokerSpec.late_order_window``, 2 minutes by default, 0 for the in-process paper
    broker; overridden per broker by ``OrderJournal(late_order_window=...)``), a
    client-order-id lookup that finds nothing is conclusive.

  Otherwise the intent stays ``UNKNOWN`` and the caller gets ``RequestTimeoutError``
  (recovery ``RECONCILE``) saying the truth: the broker may still place it until the
  window ends, do not resend; ``reconcile`` after that settles it. A fingerprint search
  never proves absence. ``BrokerConnectionError`` from a write means the transport never
  got the request out; a lookup that finds nothing then confirms "not sent".
- **Late orders are attached.** ``update_from_order`` (the live sync, ``JournalFeed``)
  attaches an order to its intent by broker or client order id, also an intent earlier
  concluded "not sent": the broker's own record beats the journal's conclusion, the one
  move out of a terminal status the journal makes.
- **Restart safety.** ``reconcile`` resolves every intent still ``PENDING_NEW`` or
  ``UNKNOWN`` by the same rule. ``submit`` runs it itself, first, for its own
  (connection, account) when no ``reconcile`` call has covered that pair in this
  journal's life; so no new order is accepted on an account whose in-flight intents
  were never looked at. An intent is never re-sent under a new client order id.

Only one process should submit through one database at a time per connection while
``reconcile`` runs: an intent another live process is still sending looks "in flight"
to this one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from brokerlink.core import errors as core_errors
from brokerlink.core.enums import OrderStatus
from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerError,
    DuplicateOrderError,
    InvalidOrderError,
    NotSupportedError,
    OrderNotFoundError,
    RequestTimeoutError,
    UnreadableAcknowledgementError,
)
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.lifecycle import IllegalTransitionError, can_transition, ensure_transition
from brokerlink.core.models import Order, OrderRequest, OrderResult
from brokerlink.core.symbols import OCC_MIN_LENGTH, OptionContract, format_occ
from brokerlink.core.values import utc_now
from brokerlink.manager.order_stores import IntentConflictError, IntentRecord, IntentStore

logger = logging.getLogger("brokerlink.manager.journal")

S = OrderStatus
IN_FLIGHT = (S.PENDING_NEW, S.UNKNOWN)
DEFAULT_FINGERPRINT_WINDOW = timedelta(minutes=10)
DEFAULT_LATE_ORDER_WINDOW = timedelta(minutes=2)
"""For a broker the registry does not know (``BrokerSpec.late_order_window``'s default)."""
# How often a status write is retried when another writer moved the intent first.
_CAS_ATTEMPTS = 5
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# Printable ASCII, space to tilde: keys travel in headers, logs and URLs unescaped.
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


class JournalError(BrokerError):
    """The journal cannot do what was asked; the message says why and what to do."""


def check_idempotency_key(key: str | None) -> None:
    """Refuse an idempotency key outside the rule: 1 to 255 printable ASCII characters
    (space to ``~``). ``None`` (no key) passes.

    Raises:
        InvalidOrderError: ``field="idempotency_key"``; the message states the rule and
            what was wrong (the key itself is never echoed: it may be huge or hostile).
    """
    if key is None:
        return
    if not isinstance(key, str):
        problem = f"got a {type(key).__name__}"
    elif not key:
        problem = "got an empty key"
    elif len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        problem = f"got {len(key)} characters"
    elif _PRINTABLE_ASCII.fullmatch(key) is None:
        problem = "got a character outside printable ASCII"
    else:
        return
    raise InvalidOrderError(
        f"idempotency_key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII "
        f"characters (space to '~'); {problem}", field="idempotency_key")


@dataclass(frozen=True, slots=True)
class LateOrderRule:
    """How long a broker may still place an order after an ambiguous write, and
    whether a resend under the same client order id proves what happened."""

    window: timedelta
    resend_proves: bool


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What asking the broker about an in-flight intent established."""

    result: OrderResult | None = None
    """The broker's order for the intent (found, or a proving resend it accepted)."""
    resolution: str = ""
    not_sent: bool = False
    """Proved never placed (and the broker can no longer place it)."""
    reason: str = ""
    """Why it is still unknown, for the caller's message."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What ``reconcile`` found, intent by intent (records as stored afterwards)."""

    resolved: list[IntentRecord] = field(default_factory=list)
    """Matched to a broker order; status taken from it."""
    not_sent: list[IntentRecord] = field(default_factory=list)
    """Provably never placed (not found after the broker's late-order window): marked
    rejected/not sent, NOT re-sent. A late order still attaches (``update_from_order``)."""
    unresolved: list[IntentRecord] = field(default_factory=list)
    """Still unknown (broker unreachable, no fingerprint match, or not found while the
    broker may still place it): look again later."""
    skipped: list[IntentRecord] = field(default_factory=list)
    """No broker was given for the intent's connection, or it is being sent right now."""

    @property
    def clean(self) -> bool:
        """True when nothing is left unknown or unexamined."""
        return not self.unresolved and not self.skipped


def canonical_decimal(value: Decimal | None) -> str | None:
    """``Decimal`` as text with no exponent and no trailing zeros (``1.50`` -> ``1.5``)."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def fingerprint_fields(account_id: str, *, symbol: str, side: str, quantity: Decimal,
                       order_type: str, limit_price: Decimal | None,
                       stop_price: Decimal | None, trail_amount: Decimal | None,
                       trail_percent: Decimal | None, time_in_force: str) -> str:
    """SHA-256 hex of the canonical JSON of what makes two orders "the same order"."""
    canonical = {
        "account_id": account_id, "symbol": symbol.upper(), "side": side,
        "quantity": canonical_decimal(quantity), "order_type": order_type,
        "limit_price": canonical_decimal(limit_price),
        "stop_price": canonical_decimal(stop_price),
        "trail_amount": canonical_decimal(trail_amount),
        "trail_percent": canonical_decimal(trail_percent),
        "time_in_force": time_in_force,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def order_fingerprint(account_id: str, order: OrderRequest) -> str:
    """The fingerprint of a request (its client order id is deliberately left out)."""
    return fingerprint_fields(
        account_id, symbol=order.instrument_symbol, side=order.side.value,
        quantity=order.quantity, order_type=order.order_type.value,
        limit_price=order.limit_price, stop_price=order.stop_price,
        trail_amount=order.trail_amount, trail_percent=order.trail_percent,
        time_in_force=order.time_in_force.value)


def broker_order_fingerprint(account_id: str, order: Order) -> str:
    """The fingerprint of an order read back from a broker, for matching intents."""
    symbol = order.symbol
    if (order.option_type is not None and order.strike is not None
            and order.expiration is not None and len(symbol) < OCC_MIN_LENGTH):
        symbol = format_occ(OptionContract(symbol, order.expiration, order.option_type,
                                           order.strike))
    return fingerprint_fields(
        account_id, symbol=symbol, side=order.side.value, quantity=order.quantity,
        order_type=order.order_type.value, limit_price=order.limit_price,
        stop_price=order.stop_price, trail_amount=order.trail_amount,
        trail_percent=order.trail_percent, time_in_force=order.time_in_force.value)


_ERROR_TYPES: dict[str, type[BrokerError]] = {
    name: value for name, value in vars(core_errors).items()
    if isinstance(value, type) and issubclass(value, BrokerError)
}


def _rebuild_error(record: IntentRecord) -> BrokerError:
    """The stored refusal of an intent, as the same error type with the same message."""
    kind = _ERROR_TYPES.get(record.error_type or "", JournalError)
    error = kind(record.error_message or "the order was refused",
                 connection_id=record.connection_id)
    if isinstance(error, RequestTimeoutError | DuplicateOrderError):
        error.client_order_id = record.client_order_id
    return error


class OrderJournal:
    """The write-ahead journal over an ``IntentStore`` (see the module docstring);
    ``bootstrap.order_journal(database)`` builds one over the database's intents table.

    ``clock`` stamps intents and times the late-order window; it must agree with the
    brokers' clocks to within ``fingerprint_window`` for fingerprint resolution
    (simulations pass their clock). ``late_order_window`` overrides the brokers' own
    (``BrokerSpec.late_order_window``): one ``timedelta`` for every broker, or a mapping
    from broker type (``"alpaca"``) to its window, the others keeping their spec's.
    """

    def __init__(self, intents: IntentStore, *, clock: Callable[[], datetime] = utc_now,
                 fingerprint_window: timedelta = DEFAULT_FINGERPRINT_WINDOW,
                 late_order_window: timedelta | Mapping[str, timedelta] | None = None,
                 ) -> None:
        self.repository: IntentStore = intents
        self._clock = clock
        self._window = fingerprint_window
        self._late_windows = late_order_window
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._sending: set[tuple[str, str]] = set()
        self._reconciled: set[tuple[str, str]] = set()
        self._reconciled_connections: set[str] = set()
        self._reconcile_lock = asyncio.Lock()
        self._first_reconciles: dict[tuple[str, str], asyncio.Lock] = {}

    # --- submitting ------------------------------------------------------------------

    async def submit(self, *, connection_id: str, account_id: str, broker: BrokerInterface,
                     order: OrderRequest, idempotency_key: str | None = None) -> OrderResult:
        """Write the intent, send it once, record the answer; return the ``OrderResult``.

        Raises:
            InvalidOrderError: the idempotency key breaks the rule (1 to 255 printable
                ASCII characters); nothing is stored or sent.
            DuplicateOrderError: the key was used for a different order, or the client
                order id is already in the journal for this connection.
            RequestTimeoutError: the outcome stayed unknown (intent ``UNKNOWN``): the
                broker may still place the order; call ``reconcile`` later, never resend.
                Also when the key's first call is still unsettled.
            BrokerConnectionError: the order provably never reached the broker (intent
                ``REJECTED`` with ``not_sent``).
            BrokerError: the broker's own refusal (the intent is ``REJECTED``); a
                replay under the same key raises the same type with the same message.
        """
        check_idempotency_key(idempotency_key)
        await self._ensure_reconciled(connection_id, account_id, broker)
        fingerprint = order_fingerprint(account_id, order)
        # Serialise calls per key so a concurrent repeat waits for the first answer.
        # Without a key there is nothing to share; the client order id is unique anyway.
        lock = (self._locks.setdefault((connection_id, idempotency_key), asyncio.Lock())
                if idempotency_key is not None else asyncio.Lock())
        async with lock:
            now = self._clock()
            record = IntentRecord(
                id=str(uuid.uuid4()), connection_id=connection_id, account_id=account_id,
                client_order_id=order.client_order_id, fingerprint=fingerprint,
                request_json=order.model_dump_json(), symbol=order.instrument_symbol,
                status=S.PENDING_NEW, created_at=now, updated_at=now,
                idempotency_key=idempotency_key, attempts=1)
            # Marked as being sent before it is written, so a concurrent reconcile never
            # takes a just-written intent for one a crash left behind.
            marker = (connection_id, order.client_order_id)
            owned = marker not in self._sending   # else another task sends this id
            self._sending.add(marker)
            try:
                await self.repository.insert(record)
            except BaseException as exc:
                if owned:
                    self._sending.discard(marker)
                if not isinstance(exc, IntentConflictError):
                    raise
                found = exc.existing
                if (found is not None and idempotency_key is not None
                        and found.idempotency_key == idempotency_key):
                    return self._replay(found, fingerprint)
                raise DuplicateOrderError(
                    f"client order id {order.client_order_id} is already in the order "
                    "journal for this connection; give each order a fresh one",
                    client_order_id=order.client_order_id,
                    connection_id=connection_id) from exc
            return await self._send(record, broker, order)

    def _replay(self, record: IntentRecord, fingerprint: str) -> OrderResult:
        if record.fingerprint != fingerprint:
            raise DuplicateOrderError(
                "this idempotency key was already used for a different order on this "
                "connection; use a new key for a new order",
                client_order_id=record.client_order_id, connection_id=record.connection_id)
        if record.result_json is not None:
            return OrderResult.model_validate_json(record.result_json)
        if record.error_type is not None:
            raise _rebuild_error(record)
        raise RequestTimeoutError(
            f"the order under this idempotency key (client order id "
            f"{record.client_order_id}) has no known outcome yet ({record.status.value}); "
            "reconcile the journal, do not resend",
            client_order_id=record.client_order_id, connection_id=record.connection_id)

    async def _send(self, record: IntentRecord, broker: BrokerInterface,
                    order: OrderRequest) -> OrderResult:
        marker = (record.connection_id, record.client_order_id)
        try:
            try:
                result = await broker.place_order(order)
            except BrokerConnectionError as exc:
                # The transport's contract: the request never left (connect failed).
                return await self._resolve_unsent(record, broker, exc)
            except RequestTimeoutError as exc:
                return await self._resolve_ambiguous(record, broker, exc)
            except BrokerError as exc:
                # A typed refusal is an answer: the broker did not take the order.
                await self._settle_refusal(record, exc)
                raise
            except Exception as exc:
                # An answer the adapter could not turn into a result or a typed error:
                # the broker may well have acted, exactly like an unreadable 2xx.
                logger.warning("order %s: the broker's answer could not be read (%s)",
                               record.client_order_id, type(exc).__name__)
                unreadable = UnreadableAcknowledgementError(
                    f"the broker's answer to order {record.client_order_id} could not be "
                    f"read ({type(exc).__name__})", client_order_id=record.client_order_id,
                    connection_id=record.connection_id)
                return await self._resolve_ambiguous(record, broker, unreadable)
            return await self._settle_result(record, result)
        finally:
            self._sending.discard(marker)

    async def _resolve_unsent(self, record: IntentRecord, broker: BrokerInterface,
                              cause: BrokerConnectionError) -> OrderResult:
        try:
            found, absent = await self._ask(record, broker)
        except BrokerError as exc:
            logger.warning("order %s: not sent, and the broker could not be asked (%s)",
                           record.client_order_id, type(exc).__name__)
            found, absent = None, False
        if found is not None:
            return await self._settle_result(record, found.to_result(), resolution="lookup")
        if absent:
            error = BrokerConnectionError(
                f"order {record.client_order_id} was not sent: the connection to the broker "
                "failed before the order left, and the broker does not know its client "
                "order id. Nothing was placed; submit it again (with a new idempotency "
                "key) if you still want it", connection_id=record.connection_id,
                broker=cause.broker)
            await self._settle_refusal(record, error, not_sent=True)
            raise error from cause
        return await self._keep_unknown(record, cause, "the broker could not be asked")

    async def _resolve_ambiguous(self, record: IntentRecord, broker: BrokerInterface,
                                 cause: RequestTimeoutError) -> OrderResult:
        verdict = await self._investigate(record, broker, found_as="lookup")
        if verdict.result is not None:
            return await self._settle_result(record, verdict.result,
                                             resolution=verdict.resolution)
        if verdict.not_sent:
            error = self._not_sent_error(record, broker)
            await self._settle_refusal(record, error, not_sent=True)
            raise error from cause
        return await self._keep_unknown(record, cause, verdict.reason)

    async def _keep_unknown(self, record: IntentRecord, cause: BrokerError,
                            reason: str) -> OrderResult:
        """Journal the intent as ``UNKNOWN`` and raise the truth to the caller."""
        message = (
            f"order {record.client_order_id}: no answer from the broker, and its outcome "
            f"is not known ({reason}). The broker may still place it: do not resend it, "
            "under this or any other key. It is journaled as unknown; the live sync "
            "attaches it if the broker places it, and reconcile settles it")
        await self._move(record, S.UNKNOWN, error_type="RequestTimeoutError",
                         error_message=message)
        raise RequestTimeoutError(
            message, client_order_id=record.client_order_id,
            connection_id=record.connection_id, broker=cause.broker) from cause

    def _not_sent_error(self, record: IntentRecord,
                        broker: BrokerInterface) -> BrokerConnectionError:
        window = self.late_order_rule(broker).window
        return BrokerConnectionError(
            f"order {record.client_order_id} never reached the broker: it does not know the "
            f"client order id {_describe(window)} after the order was sent, past the time "
            "it could still place it. Nothing was placed, and it will not be sent "
            "automatically; submit it again (with a new idempotency key) if you still "
            "want it", connection_id=record.connection_id)

    def late_order_rule(self, broker: BrokerInterface) -> LateOrderRule:
        """The late-order window and proof rule for ``broker``: from its ``BrokerSpec``
        (a broker the registry does not know gets the 2-minute default and no resend
        proof), with this journal's ``late_order_window`` override applied."""
        from brokerlink.adapters.registry import resolve  # the registry imports adapters

        name = str(broker.broker_type)
        try:
            spec = resolve(name)
            window, resend = spec.late_order_window, spec.rejects_duplicate_client_order_id
        except BrokerError:
            window, resend = DEFAULT_LATE_ORDER_WINDOW, False
        override = self._late_windows
        if isinstance(override, timedelta):
            window = override
        elif override is not None:
            window = override.get(name, window)
        # The resend proves nothing unless the broker can also be asked by client id.
        return LateOrderRule(window, resend and broker.capabilities.client_order_ids)

    async def _investigate(self, record: IntentRecord, broker: BrokerInterface, *,
                           found_as: str) -> _Verdict:
        """Ask the broker about an in-flight intent (module docstring: "one not found
        proves nothing"). Never raises a broker error: what could not be learnt is a
        verdict with a ``reason``."""
        try:
            found, absent = await self._ask(record, broker)
        except BrokerError as exc:
            logger.warning("order %s: the broker could not be asked (%s)",
                           record.client_order_id, type(exc).__name__)
            return _Verdict(reason=f"the broker could not be asked: {type(exc).__name__}")
        if found is not None:
            return _Verdict(found.to_result(), found_as)
        if not absent:
            return _Verdict(reason="no matching order at the broker, which cannot be asked "
                                   "by client order id")
        rule = self.late_order_rule(broker)
        deadline = record.created_at + rule.window
        if self._clock() >= deadline:
            return _Verdict(not_sent=True)
        if rule.resend_proves:
            return await self._prove_by_resend(record, broker)
        return _Verdict(reason=f"the broker does not report it yet, and may still place it "
                               f"until {deadline.isoformat(timespec='seconds')}")

    async def _prove_by_resend(self, record: IntentRecord,
                               broker: BrokerInterface) -> _Verdict:
        """Send the intent's request again under its own client order id, at a broker
        that refuses a client order id it has seen: it keeps at most one order."""
        order = OrderRequest.model_validate_json(record.request_json)
        # Counted before sending (write-ahead): a crash mid-resend leaves a trace.
        record = await self._move(record, record.status, attempts=record.attempts + 1)
        try:
            result = await broker.place_order(order)
        except (DuplicateOrderError, RequestTimeoutError) as exc:
            # A duplicate: the first request arrived after all. No answer: the resend
            # itself may have been placed. Either way the order is the broker's to show.
            try:
                found, _ = await self._ask(record, broker)
            except BrokerError as lookup_error:
                found = None
                logger.warning("order %s: resend answered %s, lookup failed (%s)",
                               record.client_order_id, type(exc).__name__,
                               type(lookup_error).__name__)
            if found is not None:
                return _Verdict(found.to_result(), "lookup")
            if isinstance(exc, DuplicateOrderError):
                return _Verdict(reason="the broker refused a resend as a duplicate, so it "
                                       "has the order, but does not show it yet")
            return _Verdict(reason="a resend under the same client order id to settle it "
                                   "went unanswered too")
        except BrokerError as exc:
            logger.warning("order %s: the proving resend failed (%s)",
                           record.client_order_id, type(exc).__name__)
            return _Verdict(reason=f"a resend under the same client order id to settle it "
                                   f"failed too: {type(exc).__name__}")
        except Exception as exc:
            logger.warning("order %s: the proving resend's answer could not be read (%s)",
                           record.client_order_id, type(exc).__name__)
            return _Verdict(reason="a resend under the same client order id to settle it "
                                   "got an answer that could not be read")
        return _Verdict(result, "resend")

    async def _ask(self, record: IntentRecord,
                   broker: BrokerInterface) -> tuple[Order | None, bool]:
        """Find the intent's order: ``(order, False)``, ``(None, True)`` when the broker
        says it has no order with the client order id (which alone proves nothing),
        ``(None, False)`` when unknown. Raises the broker's read errors."""
        if record.broker_order_id is not None:
            return await broker.get_order(record.broker_order_id), False
        if broker.capabilities.client_order_ids:
            try:
                return await broker.get_order_by_client_id(record.client_order_id), False
            except OrderNotFoundError:
                return None, True
            except NotSupportedError:
                pass   # a flag untrue to behaviour: fall back to the fingerprint
        return await self._by_fingerprint(record, broker), False

    async def _by_fingerprint(self, record: IntentRecord,
                              broker: BrokerInterface) -> Order | None:
        earliest = record.created_at - self._window
        candidates = []
        for order in await broker.get_orders():
            if order.client_order_id == record.client_order_id:
                return order
            if order.submitted_at is not None and order.submitted_at < earliest:
                continue
            if broker_order_fingerprint(record.account_id, order) != record.fingerprint:
                continue
            claimed = await self.repository.by_broker_order_id(record.account_id,
                                                               order.order_id)
            if claimed is None:
                candidates.append(order)
        if not candidates:
            return None
        # The earliest unclaimed match: identical orders are claimed in sending order.
        return min(candidates, key=lambda o: (o.submitted_at or record.created_at,
                                              o.order_id))

    # --- settling ----------------------------------------------------------------------

    async def _settle_result(self, record: IntentRecord, result: OrderResult, *,
                             resolution: str = "answer") -> OrderResult:
        stored = OrderResult.model_validate_json(result.model_dump_json())
        now = self._clock()
        await self._move(record, result.status, broker_order_id=result.order_id,
                         result_json=stored.model_dump_json(), sent_at=record.sent_at or now,
                         resolution=resolution, resolved_at=now, error_type=None,
                         error_message=None)
        return stored

    async def _settle_refusal(self, record: IntentRecord, error: BrokerError, *,
                              not_sent: bool = False) -> None:
        await self._move(record, S.REJECTED, error_type=type(error).__name__,
                         error_message=error.message, not_sent=not_sent,
                         resolution="not_sent" if not_sent else "refused",
                         resolved_at=self._clock())

    async def _move(self, record: IntentRecord, status: OrderStatus,
                    **changes: object) -> IntentRecord:
        """Move ``record`` to ``status`` through the state machine, compare-and-set.

        A status the machine forbids from the stored one (a stale broker answer after
        a newer update) leaves the status alone but still records the other fields.
        """
        moved = await self._transition(record, lambda _: (status, changes))
        if moved is None:
            raise self._kept_changing(record)
        return moved

    async def _transition(
            self, record: IntentRecord,
            decide: Callable[[IntentRecord], tuple[OrderStatus, dict[str, object]] | None],
    ) -> IntentRecord | None:
        """Write what ``decide`` asks of the stored intent (status, other fields),
        compare-and-set; when another writer moved it first, decide again from what it
        wrote, never re-apply what was chosen from the older record. Returns the intent
        as written (or as found, when ``decide`` says ``None``: nothing to do), or
        ``None`` if it vanished. Raises ``JournalError`` after ``_CAS_ATTEMPTS`` lost
        races."""
        current = record
        for _ in range(_CAS_ATTEMPTS):
            decided = decide(current)
            if decided is None:
                return current
            status, changes = decided
            # Reopening an intent concluded "not sent" (a late order) is the one move out
            # of a terminal status: the broker's own record of the order says so.
            reopens = current.not_sent and changes.get("not_sent") is False
            target = status if reopens else _legal_target(current.status, status)
            updated = await self.repository.transition(
                current, status=target, updated_at=self._clock(), **changes)
            if updated is not None:
                return updated
            fresh = await self.repository.get(record.id)
            if fresh is None:
                return None
            current = fresh
        raise self._kept_changing(record)

    @staticmethod
    def _kept_changing(record: IntentRecord) -> JournalError:
        return JournalError(
            f"order intent {record.client_order_id} kept changing under the journal; "
            "retry the status update", connection_id=record.connection_id)

    # --- restart and later updates ----------------------------------------------------

    async def _ensure_reconciled(self, connection_id: str, account_id: str,
                                 broker: BrokerInterface) -> None:
        pair = (connection_id, account_id)
        if pair in self._reconciled or connection_id in self._reconciled_connections:
            return
        # One start-up reconcile per pair: concurrent first submits wait for it instead
        # of each running one, which, started late, would take this process's own unknown
        # intents for a dead process's and try to settle them under the caller's feet.
        async with self._first_reconciles.setdefault(pair, asyncio.Lock()):
            if pair in self._reconciled or connection_id in self._reconciled_connections:
                return
            report = await self.reconcile({f"{connection_id}:{account_id}": broker},
                                          only=pair)
        if report.unresolved:
            logger.warning("%d order intents on %s remain unknown after reconcile",
                           len(report.unresolved), connection_id)

    async def reconcile(self, brokers: Mapping[str, BrokerInterface], *,
                        only: tuple[str, str] | None = None) -> ReconcileReport:
        """Resolve every intent still ``PENDING_NEW`` or ``UNKNOWN`` against its broker, by
        the module docstring's rule: a lookup; where the broker refuses duplicate client
        order ids and the window is still open, a resend under the same client order id;
        "not sent" only once the broker's late-order window has passed.

        ``brokers`` is keyed by ``"connection_id:account_id"`` or, for a connection
        with one account, by ``connection_id``. Each resolved pair is marked
        reconciled, so ``submit`` will not reconcile it again. ``only`` limits the run
        to one (connection, account). Broker failures never raise here: the intent
        stays unknown and is listed in ``unresolved``.
        """
        report = ReconcileReport()
        async with self._reconcile_lock:
            records = await self.repository.list(
                statuses=IN_FLIGHT, connection_id=only[0] if only else None,
                account_id=only[1] if only else None)
            for record in records:
                broker = (brokers.get(f"{record.connection_id}:{record.account_id}")
                          or brokers.get(record.connection_id))
                if broker is None or (record.connection_id,
                                      record.client_order_id) in self._sending:
                    report.skipped.append(record)
                    continue
                await self._reconcile_one(record, broker, report)
            for key in brokers:
                connection_id, _, account_id = key.partition(":")
                if account_id:
                    self._reconciled.add((connection_id, account_id))
                else:
                    self._reconciled_connections.add(connection_id)
        return report

    async def _reconcile_one(self, record: IntentRecord, broker: BrokerInterface,
                             report: ReconcileReport) -> None:
        marker = (record.connection_id, record.client_order_id)
        self._sending.add(marker)   # a proving resend may go out: nobody else sends it
        try:
            verdict = await self._investigate(record, broker, found_as="reconcile")
        finally:
            self._sending.discard(marker)
        if verdict.result is not None:
            await self._settle_result(record, verdict.result, resolution=verdict.resolution)
            report.resolved.append(await self._reread(record))
        elif verdict.not_sent:
            await self._settle_refusal(record, self._not_sent_error(record, broker),
                                       not_sent=True)
            report.not_sent.append(await self._reread(record))
        else:
            logger.info("reconcile %s: still unknown (%s)", record.client_order_id,
                        verdict.reason)
            record = await self._reread(record)
            if record.status is S.PENDING_NEW:
                record = await self._move(record, S.UNKNOWN)
            report.unresolved.append(record)

    async def _reread(self, record: IntentRecord) -> IntentRecord:
        return await self.repository.get(record.id) or record

    async def update_from_order(self, order: Order) -> IntentRecord | None:
        """Record a later status of an order (from sync: a stream event or a poll).

        Matches by broker order id, else by client order id, within the order's
        account. Returns the stored intent, or ``None`` when the order is not in the
        journal (placed elsewhere). A status the state machine forbids from the stored
        one (a stale poll) is ignored; the intent is returned unchanged. A late order
        for an intent concluded "not sent" reopens it: the intent takes the order.
        """
        record = await self.repository.by_broker_order_id(order.account_id, order.order_id)
        if record is None and order.client_order_id:
            record = await self.repository.by_account_client_order_id(
                order.account_id, order.client_order_id)
        if record is None:
            return None
        # Most often the race lost is to submit storing the reply while this update
        # was on its way: re-deciding from what it wrote keeps replays identical.
        def decide(current: IntentRecord) -> tuple[OrderStatus, dict[str, object]] | None:
            changes = self._update_for(current, order)
            return None if changes is None else (order.status, changes)

        return await self._transition(record, decide) or record

    def _update_for(self, record: IntentRecord, order: Order) -> dict[str, object] | None:
        """The fields ``update_from_order`` writes besides the status, or ``None`` when
        ``order`` changes nothing on ``record``."""
        if record.broker_order_id not in (None, order.order_id):
            return None  # a replacement order reusing the client id: not this intent
        if record.not_sent and record.broker_order_id is None:
            # The broker placed it after all (late): its record beats our conclusion.
            logger.warning("order %s was concluded not sent, but the broker placed it "
                           "(%s): attaching it to its intent", record.client_order_id,
                           order.order_id)
            return {"broker_order_id": order.order_id, "not_sent": False,
                    "result_json": order.to_result().model_dump_json(), "error_type": None,
                    "error_message": None, "resolved_at": self._clock(),
                    "resolution": "late"}
        if not can_transition(record.status, order.status) and not (
                record.status is S.PENDING_NEW and can_transition(S.UNKNOWN, order.status)):
            return None
        if record.status is order.status and record.broker_order_id == order.order_id:
            return None
        if record.result_json is not None:
            # The stored reply stays what submit answered (replays are identical); the
            # current state is the intent's status.
            return {"broker_order_id": order.order_id}
        # No reply yet (the answer was lost): the broker's view becomes the reply.
        return {"broker_order_id": order.order_id,
                "result_json": order.to_result().model_dump_json(), "error_type": None,
                "error_message": None, "resolved_at": self._clock(), "resolution": "update"}

    async def intents(self, *, connection_id: str | None = None,
                      account_id: str | None = None,
                      statuses: Iterable[OrderStatus] | None = None) -> list[IntentRecord]:
        """Journaled intents, oldest first, filtered when arguments are given."""
        return await self.repository.list(statuses=statuses, connection_id=connection_id,
                                          account_id=account_id)

    async def intent(self, connection_id: str, client_order_id: str) -> IntentRecord | None:
        """One intent by client order id, or ``None``."""
        return await self.repository.by_client_order_id(connection_id, client_order_id)


def _describe(window: timedelta) -> str:
    """A window for messages: ``timedelta(minutes=2)`` as ``"2m0s"``, 30 s as ``"30s"``."""
    seconds = int(window.total_seconds())
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _legal_target(current: OrderStatus, wanted: OrderStatus) -> OrderStatus:
    """``wanted`` when the state machine allows it from ``current``.

    ``PENDING_NEW`` to a state only reachable from a status we never observed (say
    ``PENDING_REPLACE``) passes through ``UNKNOWN`` first: the journal missed the
    steps between, which is exactly what ``UNKNOWN`` means. Terminal states keep.
    """
    if can_transition(current, wanted):
        return ensure_transition(current, wanted)
    if current is S.PENDING_NEW and can_transition(S.UNKNOWN, wanted):
        return ensure_transition(ensure_transition(current, S.UNKNOWN), wanted)
    try:
        ensure_transition(current, wanted)
    except IllegalTransitionError:
        logger.info("ignoring stale status %s for an intent already %s", wanted.value,
                    current.value)
    return current


__all__ = ["DEFAULT_LATE_ORDER_WINDOW", "IDEMPOTENCY_KEY_MAX_LENGTH", "JournalError",
           "LateOrderRule", "OrderJournal", "ReconcileReport", "broker_order_fingerprint",
           "check_idempotency_key", "order_fingerprint"]

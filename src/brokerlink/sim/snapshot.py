"""Snapshots of one account of a ``SimEngine``: plain JSON out, the same engine back.

A paper account that outlives its process is stored as one of these (the paper broker
keeps it in a ``PaperStateStore``). A snapshot holds everything the engine knows about
the account that its seed, market and universe do not determine:

* the account: cash, holdings (average cost, realized P&L, day figures, shares held for
  closing orders), the ledger, reserved cash, net deposits, day-start equity, status,
  type, options level, opening time;
* every order the account ever had, open and closed (history and look-ups by id and by
  client order id survive), and the order in which the open ones work in the book;
* the clock, the order-id generator's state (without it a restored engine would hand
  out the same order ids again), the ledger's entry sequence, and the liquidity already
  taken at the current quote;
* the price book's own state: walks that moved and their generators, pinned options,
  frozen stocks (see ``PriceBook.state``).

The format is a JSON object with ``"format": 1``: decimals as strings, datetimes as
aware ISO 8601 in UTC, a generator's state as base64 of its 625 32-bit words. Restoring
continues exactly where the engine was: ``restore_engine(snapshot_account(engine, a))``
gives the same prices, fills and order ids as ``engine`` would from there on.

This module is the engine's persistence half and reads and writes the engine's private
state on purpose: the engine stays about trading, and the one place that must know
every field of it is here (a test checks that no field is left out).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    OrderSide,
    OrderStatus,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import BrokerError, Recovery
from brokerlink.core.models import OrderRequest
from brokerlink.sim.accounts import Holding, LedgerEntry, SimAccount
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.orders import WorkingOrder
from brokerlink.sim.prices import BookState, OptionState, WalkState
from brokerlink.sim.rules import ClosedMarketPolicy, FeeSchedule
from brokerlink.sim.universe import InstrumentUniverse

SNAPSHOT_FORMAT = 1
"""The format this module writes and the only one it reads."""

Snapshot = dict[str, Any]
"""A snapshot as plain JSON values (``encode`` makes it text)."""

_MT_WORDS = 625  # a Mersenne Twister state: 624 words and the position
_MT_PACK = struct.Struct(f"<{_MT_WORDS}I")
E = TypeVar("E", bound=Enum)


class SnapshotError(BrokerError):
    """A snapshot cannot be read: not JSON, a format this version does not know, a
    field missing or malformed, or a symbol the simulation does not list. The message
    names the field; nothing was restored."""

    recovery = Recovery.USER_ACTION


# --- writing -------------------------------------------------------------------------


def snapshot_account(engine: SimEngine, account_id: str) -> Snapshot:
    """The snapshot of ``account_id`` and of the market it trades in.

    Only this account is included (an engine holding several restores as one holding
    this one). Raises ``AccountNotFoundError`` for an unknown account.
    """
    account = engine.account_settings(account_id)
    orders = [w for w in engine._orders.values() if w.account_id == account_id]
    return {
        "format": SNAPSHOT_FORMAT,
        "seed": engine.prices.seed,
        "market": "always_open" if engine.calendar.always_open else "exchange",
        "clock": _time(engine.now()),
        "account": _account_json(account),
        "orders": [_order_json(w) for w in orders],
        # Where the open orders work, in matching order (the continuous book by symbol,
        # then the auctions): fills at one instant share liquidity in this order.
        "open_orders": [w.order_id for w in engine._orders_open()
                        if w.account_id == account_id],
        "client_order_ids": [[client_id, order_id] for (owner, client_id), order_id
                             in engine._by_client_id.items() if owner == account_id],
        "order_ids": _rng_json(engine._ids.getstate()),
        "entry_seq": engine._entry_seq,
        "taken": [[symbol, is_buy, _time(at), str(bid), str(ask), str(quantity)]
                  for (symbol, is_buy), (at, bid, ask, quantity) in engine._taken.items()],
        "prices": _book_json(engine.prices.state()),
    }


def encode(snapshot: Snapshot) -> str:
    """The snapshot as canonical JSON text (sorted keys, no spaces)."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _time(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} in the engine's state")
    return value.astimezone(UTC).isoformat()


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else _time(value)


def _opt_dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _rng_json(state: tuple[Any, ...]) -> dict[str, Any]:
    version, words, gauss_next = state
    return {"version": version,
            "words": base64.b64encode(_MT_PACK.pack(*words)).decode("ascii"),
            "gauss_next": gauss_next}


def _account_json(account: SimAccount) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "account_type": account.account_type.value,
        "opened_at": _time(account.opened_at),
        "cash": str(account.cash),
        "options_level": account.options_level,
        "status": account.status.value,
        "name": account.name,
        "holdings": [{
            "instrument": held.instrument.symbol,
            "quantity": str(held.quantity),
            "average_cost": str(held.average_cost),
            "realized_pnl": str(held.realized_pnl),
            "day_start_value": str(held.day_start_value),
            "day_trade_cash": str(held.day_trade_cash),
            "reserved_to_close": str(held.reserved_to_close),
        } for held in account.holdings.values()],
        "ledger": [{
            "entry_id": entry.entry_id,
            "type": entry.type.value,
            "at": _time(entry.at),
            "amount": str(entry.amount),
            "symbol": entry.symbol,
            "side": entry.side.value if entry.side is not None else None,
            "quantity": _opt_dec(entry.quantity),
            "price": _opt_dec(entry.price),
            "fees": str(entry.fees),
            "order_id": entry.order_id,
            "description": entry.description,
        } for entry in account.ledger],
        "reserved": str(account.reserved),
        "net_deposits": str(account.net_deposits),
        "day_start_equity": str(account.day_start_equity),
    }


def _order_json(order: WorkingOrder) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "request": order.request.model_dump(mode="json"),
        "instrument": order.instrument.symbol,
        "submitted_at": _time(order.submitted_at),
        "quantity": str(order.quantity),
        "limit_price": _opt_dec(order.limit_price),
        "stop_price": _opt_dec(order.stop_price),
        "trail_amount": _opt_dec(order.trail_amount),
        "trail_percent": _opt_dec(order.trail_percent),
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "filled_quantity": str(order.filled_quantity),
        "fill_value": str(order.fill_value),
        "updated_at": _opt_time(order.updated_at),
        "filled_at": _opt_time(order.filled_at),
        "canceled_at": _opt_time(order.canceled_at),
        "expired_at": _opt_time(order.expired_at),
        "expires_at": _opt_time(order.expires_at),
        "triggered": order.triggered,
        "trail_reference": _opt_dec(order.trail_reference),
        "reserved": str(order.reserved),
        "replaces": order.replaces,
        "replaced_by": order.replaced_by,
        "reject_reason": order.reject_reason,
        "client_order_id": order.client_order_id,
        "history": [status.value for status in order.history],
    }


def _book_json(state: BookState) -> dict[str, Any]:
    return {
        "steps": state.steps,
        "walks": {symbol: {"last": str(walk.last), "true": walk.true,
                           "previous_close": str(walk.previous_close),
                           "rng": _rng_json(walk.rng) if walk.rng is not None else None}
                  for symbol, walk in state.walks.items()},
        "options": {symbol: {"pinned": _opt_dec(option.pinned),
                             "previous": _opt_dec(option.previous)}
                    for symbol, option in state.options.items()},
        "frozen": list(state.frozen),
    }


# --- reading -------------------------------------------------------------------------


def decode(text: str | bytes) -> Snapshot:
    """A snapshot from ``encode``'s text. Raises ``SnapshotError`` for text that is not
    a JSON object or whose ``format`` this version does not read."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"the paper account snapshot is not JSON ({exc})") from exc
    except RecursionError as exc:
        # Nesting deeper than the interpreter's stack: no snapshot is shaped like that.
        raise SnapshotError("the paper account snapshot is nested too deeply to be a "
                            "snapshot (damaged data)") from exc
    _check_format(raw)
    assert isinstance(raw, dict)  # noqa: S101  (_check_format refused anything else)
    return raw


def _check_format(raw: object) -> None:
    if not isinstance(raw, dict):
        raise SnapshotError("the paper account snapshot is not a JSON object")
    found = raw.get("format")
    if found != SNAPSHOT_FORMAT or isinstance(found, bool):
        raise SnapshotError(
            f"the paper account snapshot has format {found!r}; this version of brokerlink "
            f"reads format {SNAPSHOT_FORMAT} only (was it saved by a newer version? "
            "upgrade brokerlink, or remove the connection and add a new paper account)")


def restore_engine(
    snapshot: Mapping[str, Any],
    *,
    universe: InstrumentUniverse | None = None,
    fees: FeeSchedule | None = None,
    closed_market: ClosedMarketPolicy = ClosedMarketPolicy.REJECT,
    price_step: timedelta = timedelta(minutes=1),
) -> SimEngine:
    """A new engine holding the snapshot's account and market exactly as they were.

    Seed, market and clock come from the snapshot; the keyword arguments are the
    engine's configuration, which a snapshot does not hold (pass what the engine that
    took it had). ``universe`` saves building the seeded one again: it must be the one
    the snapshot's seed gives (or the one the engine had). Raises ``SnapshotError``,
    naming the field, for anything unreadable; nothing half-restored is returned.
    """
    _check_format(snapshot)
    try:
        return _restore(_Fields(snapshot, "snapshot"), universe, fees, closed_market,
                        price_step)
    except SnapshotError:
        raise
    except (BrokerError, ValueError, TypeError, KeyError, ArithmeticError,
            struct.error) as exc:
        # The universe refusing a symbol, an order request that no longer validates,
        # a generator state ``random`` refuses: all mean the same to the caller.
        raise SnapshotError(f"the paper account snapshot does not fit this simulation: "
                            f"{type(exc).__name__}: {exc}") from exc


def _restore(root: _Fields, universe: InstrumentUniverse | None, fees: FeeSchedule | None,
             closed_market: ClosedMarketPolicy, price_step: timedelta) -> SimEngine:
    market = root.choice("market", ("exchange", "always_open"))
    engine = SimEngine(seed=root.integer("seed"),
                       market="always_open" if market == "always_open" else "exchange",
                       start=root.time("clock"), universe=universe, fees=fees,
                       closed_market=closed_market, price_step=price_step)
    engine.prices.load_state(_book_state(root.child("prices")))
    account = _account(root.child("account"), engine.universe)
    account_id = account.account_id
    engine._accounts[account_id] = account
    for index, raw in enumerate(root.items("orders")):
        order = _order(_Fields(raw, f"orders[{index}]"), engine.universe)
        if order.account_id != account_id or order.order_id in engine._orders:
            raise SnapshotError(f"snapshot field orders[{index}]: order {order.order_id} is "
                                f"repeated or not of account {account_id}")
        engine._orders[order.order_id] = order
    for index, pair in enumerate(root.items("client_order_ids")):
        if not (isinstance(pair, list) and len(pair) == 2 and all(
                isinstance(part, str) for part in pair) and pair[1] in engine._orders):
            raise SnapshotError(f"snapshot field client_order_ids[{index}]: expected "
                                "[client order id, id of an order in the snapshot]")
        engine._by_client_id[(account_id, pair[0])] = pair[1]
    for index, order_id in enumerate(root.items("open_orders")):
        working = engine._orders.get(order_id) if isinstance(order_id, str) else None
        if working is None or not working.is_open:
            raise SnapshotError(f"snapshot field open_orders[{index}]: {order_id!r} is not "
                                "an open order of the snapshot")
        engine._file(working)
    engine._ids.setstate(_rng(root.child("order_ids")))
    engine._entry_seq = root.integer("entry_seq")
    for index, raw in enumerate(root.items("taken")):
        entry = _Fields(dict(zip(("symbol", "is_buy", "at", "bid", "ask", "quantity"),
                                 raw if isinstance(raw, list) else [], strict=False)),
                        f"taken[{index}]")
        engine._taken[(entry.text("symbol"), entry.flag("is_buy"))] = (
            entry.time("at"), entry.dec("bid"), entry.dec("ask"), entry.dec("quantity"))
    return engine


def _account(fields: _Fields, universe: InstrumentUniverse) -> SimAccount:
    account = SimAccount(
        account_id=fields.text("account_id"),
        account_type=fields.enum("account_type", AccountType),
        opened_at=fields.time("opened_at"),
        cash=fields.dec("cash"),
        options_level=fields.integer("options_level"),
        status=fields.enum("status", AccountStatus),
        name=fields.opt_text("name"),
        reserved=fields.dec("reserved"),
        net_deposits=fields.dec("net_deposits"),
        day_start_equity=fields.dec("day_start_equity"),
    )
    for index, raw in enumerate(fields.items("holdings")):
        held = _Fields(raw, f"{fields.where}.holdings[{index}]")
        instrument = universe.get(held.text("instrument"))
        account.holdings[instrument.symbol] = Holding(
            instrument=instrument,
            quantity=held.dec("quantity"),
            average_cost=held.dec("average_cost"),
            realized_pnl=held.dec("realized_pnl"),
            day_start_value=held.dec("day_start_value"),
            day_trade_cash=held.dec("day_trade_cash"),
            reserved_to_close=held.dec("reserved_to_close"),
        )
    for index, raw in enumerate(fields.items("ledger")):
        entry = _Fields(raw, f"{fields.where}.ledger[{index}]")
        side = entry.opt_text("side")
        account.ledger.append(LedgerEntry(
            entry_id=entry.text("entry_id"),
            type=entry.enum("type", TransactionType),
            at=entry.time("at"),
            amount=entry.dec("amount"),
            symbol=entry.opt_text("symbol"),
            side=OrderSide(side) if side is not None else None,
            quantity=entry.opt_dec("quantity"),
            price=entry.opt_dec("price"),
            fees=entry.dec("fees"),
            order_id=entry.opt_text("order_id"),
            description=entry.opt_text("description"),
        ))
    return account


def _order(fields: _Fields, universe: InstrumentUniverse) -> WorkingOrder:
    request = fields.value("request")
    if not isinstance(request, dict):
        raise SnapshotError(f"snapshot field {fields.where}.request: expected an object")
    return WorkingOrder(
        order_id=fields.text("order_id"),
        account_id=fields.text("account_id"),
        request=OrderRequest.model_validate(request),
        instrument=universe.get(fields.text("instrument")),
        submitted_at=fields.time("submitted_at"),
        quantity=fields.dec("quantity"),
        limit_price=fields.opt_dec("limit_price"),
        stop_price=fields.opt_dec("stop_price"),
        trail_amount=fields.opt_dec("trail_amount"),
        trail_percent=fields.opt_dec("trail_percent"),
        time_in_force=fields.enum("time_in_force", TimeInForce),
        status=fields.enum("status", OrderStatus),
        filled_quantity=fields.dec("filled_quantity"),
        fill_value=fields.dec("fill_value"),
        updated_at=fields.opt_time("updated_at"),
        filled_at=fields.opt_time("filled_at"),
        canceled_at=fields.opt_time("canceled_at"),
        expired_at=fields.opt_time("expired_at"),
        expires_at=fields.opt_time("expires_at"),
        triggered=fields.flag("triggered"),
        trail_reference=fields.opt_dec("trail_reference"),
        reserved=fields.dec("reserved"),
        replaces=fields.opt_text("replaces"),
        replaced_by=fields.opt_text("replaced_by"),
        reject_reason=fields.opt_text("reject_reason"),
        client_order_id=fields.opt_text("client_order_id"),
        history=[OrderStatus(_str(status, f"{fields.where}.history"))
                 for status in fields.items("history")],
    )


def _book_state(fields: _Fields) -> BookState:
    walks: dict[str, WalkState] = {}
    for symbol, raw in fields.mapping("walks").items():
        walk = _Fields(raw, f"prices.walks.{symbol}")
        rng = walk.value("rng")
        walks[symbol] = WalkState(
            last=walk.dec("last"), true=walk.number("true"),
            previous_close=walk.dec("previous_close"),
            rng=None if rng is None else _rng(_Fields(rng, f"prices.walks.{symbol}.rng")))
    options: dict[str, OptionState] = {}
    for symbol, raw in fields.mapping("options").items():
        option = _Fields(raw, f"prices.options.{symbol}")
        options[symbol] = OptionState(option.opt_dec("pinned"), option.opt_dec("previous"))
    frozen = tuple(_str(symbol, "prices.frozen") for symbol in fields.items("frozen"))
    return BookState(fields.integer("steps"), walks, options, frozen)


def _rng(fields: _Fields) -> tuple[Any, ...]:
    try:
        packed = base64.b64decode(fields.text("words"), validate=True)
    except binascii.Error as exc:
        raise SnapshotError(f"snapshot field {fields.where}.words: not base64") from exc
    if len(packed) != _MT_PACK.size:
        raise SnapshotError(f"snapshot field {fields.where}.words: expected "
                            f"{_MT_WORDS} 32-bit words")
    gauss_next = fields.value("gauss_next")
    return (fields.integer("version"), _MT_PACK.unpack(packed),
            None if gauss_next is None else fields.number("gauss_next"))


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SnapshotError(f"snapshot field {where}: expected text, found {value!r}")
    return value


class _Fields:
    """Typed reads from one JSON object of a snapshot; a wrong or missing field raises
    ``SnapshotError`` naming where it is."""

    __slots__ = ("_raw", "where")

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise SnapshotError(f"snapshot field {where}: expected an object")
        self._raw: dict[str, Any] = raw
        self.where = where

    def _fail(self, key: str, expected: str) -> SnapshotError:
        found = self._raw.get(key, "nothing")
        return SnapshotError(f"snapshot field {self.where}.{key}: expected {expected}, "
                             f"found {found!r:.60}")

    def value(self, key: str) -> object:
        if key not in self._raw:
            raise SnapshotError(f"snapshot field {self.where}.{key} is missing")
        return self._raw[key]

    def text(self, key: str) -> str:
        value = self.value(key)
        if not isinstance(value, str):
            raise self._fail(key, "text")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.value(key) is None else self.text(key)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self._fail(key, " or ".join(allowed))
        return value

    def integer(self, key: str) -> int:
        value = self.value(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "an integer")
        return value

    def number(self, key: str) -> float:
        value = self.value(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._fail(key, "a number")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.value(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def dec(self, key: str) -> Decimal:
        value = self.value(key)
        try:
            parsed = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            parsed = None
        if parsed is None or not parsed.is_finite():
            raise self._fail(key, "a decimal number as text")
        return parsed

    def opt_dec(self, key: str) -> Decimal | None:
        return None if self.value(key) is None else self.dec(key)

    def time(self, key: str) -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._fail(key, "an ISO 8601 time") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise self._fail(key, "a time with its UTC offset")
        return parsed.astimezone(UTC)

    def opt_time(self, key: str) -> datetime | None:
        return None if self.value(key) is None else self.time(key)

    def enum(self, key: str, kind: type[E]) -> E:
        value = self.text(key)
        try:
            return kind(value)
        except ValueError:
            raise self._fail(key, f"one of {', '.join(str(m.value) for m in kind)}") from None

    def items(self, key: str) -> list[object]:
        value = self.value(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def mapping(self, key: str) -> dict[str, object]:
        value = self.value(key)
        if not isinstance(value, dict):
            raise self._fail(key, "an object")
        return value

    def child(self, key: str) -> _Fields:
        return _Fields(self.value(key), f"{self.where}.{key}"
                       if self.where != "snapshot" else key)


__all__ = ["SNAPSHOT_FORMAT", "Snapshot", "SnapshotError", "decode", "encode",
           "restore_engine", "snapshot_account"]

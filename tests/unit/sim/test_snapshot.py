"""Engine snapshots: a restored engine reads, and carries on, exactly as the original."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from brokerlink.core.capabilities import ModifyStyle
from brokerlink.core.enums import AccountType, BrokerType, OrderStatus, OrderType, TimeInForce
from brokerlink.core.errors import OrderNotFoundError
from brokerlink.core.models import OrderModify
from brokerlink.sim.accounts import Holding, LedgerEntry, SimAccount
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.orders import WorkingOrder
from brokerlink.sim.snapshot import (
    SNAPSHOT_FORMAT,
    SnapshotError,
    decode,
    encode,
    restore_engine,
    snapshot_account,
)
from tests.unit.sim.engine_helpers import (
    CLOSE,
    START,
    funded,
    make_engine,
    option_symbol,
    order,
    pin,
    state_of,
)

ACCT = "ACC1"
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def rich_engine() -> SimEngine:
    """One account with something of everything the engine keeps: fills, a partial
    fill, resting limit/stop/trailing/gtc/auction orders, a cancel, a native modify,
    a cancel-replace, a short, an option, a pin, a frozen stock and walked prices."""
    engine = make_engine(seed=5)
    funded(engine, "1000000", options_level=4)
    pin(engine, "AAPL", "230.00")
    engine.place_order(ACCT, order("AAPL", "buy", 10))
    engine.place_order(ACCT, order("AAPL", "buy", 5, limit_price="200"))
    engine.place_order(ACCT, order("MSFT", "buy", 3, limit_price="1",
                                   time_in_force=TimeInForce.GTC, client_order_id="gtc-1"))
    engine.place_order(ACCT, order("AAPL", "sell", 2, order_type=OrderType.STOP,
                                   stop_price="220"))
    engine.place_order(ACCT, order("AAPL", "sell", 2, order_type=OrderType.TRAILING_STOP,
                                   trail_percent="5"))
    engine.place_order(ACCT, order("KO", "buy", 4, time_in_force=TimeInForce.CLS))
    doomed = engine.place_order(ACCT, order("KO", "buy", 1, limit_price="10"))
    engine.cancel_order(ACCT, doomed.order_id)
    native = engine.place_order(ACCT, order("KO", "buy", 2, limit_price="11"))
    engine.modify_order(ACCT, native.order_id, OrderModify(limit_price=Decimal(12)))
    replaced = engine.place_order(ACCT, order("KO", "buy", 2, limit_price="13"))
    engine.modify_order(ACCT, replaced.order_id, OrderModify(quantity=Decimal(3)),
                        style=ModifyStyle.CANCEL_REPLACE)
    engine.place_order(ACCT, order("F", "sell_short", 100))
    call = option_symbol(engine, "AAPL", "230")
    engine.place_order(ACCT, order(call, "buy_to_open", 2))
    engine.set_price(option_symbol(engine, "AAPL", "240"), Decimal("2.50"))
    engine.prices.freeze("MSFT")
    engine.advance(timedelta(minutes=7))
    engine.place_order(ACCT, order("BYND", "buy", 1000))  # 250 shown: a partial fill
    return engine


def observed(engine: SimEngine) -> tuple[Any, ...]:
    """Everything a user reads, with read times removed."""
    orders = [o.model_dump(exclude={"as_of"}) for o in engine.orders(ACCT)]
    return (
        engine.now(),
        engine.balances(ACCT).model_dump(exclude={"as_of"}),
        [p.model_dump(exclude={"as_of"}) for p in engine.positions(ACCT)],
        orders,
        [t.model_dump(exclude={"as_of"}) for t in engine.transactions(ACCT, START, FAR)],
        engine.account(ACCT, broker=BrokerType.PAPER).model_dump(
            exclude={"as_of", "last_sync"}),
        [engine.quote(s).model_dump(exclude={"as_of"}) for s in ("AAPL", "MSFT", "BYND")],
    )


def round_trip(engine: SimEngine) -> SimEngine:
    return restore_engine(decode(encode(snapshot_account(engine, ACCT))))


def test_rich_state_round_trips_exactly() -> None:
    engine = rich_engine()
    statuses = {o.status for o in engine.orders(ACCT)}
    assert {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED, OrderStatus.NEW,
            OrderStatus.CANCELED, OrderStatus.REPLACED} <= statuses
    snapshot = snapshot_account(engine, ACCT)
    assert snapshot["format"] == SNAPSHOT_FORMAT
    restored = restore_engine(decode(encode(snapshot)))
    assert snapshot_account(restored, ACCT) == snapshot
    assert observed(restored) == observed(engine)
    assert state_of(restored, ACCT) == state_of(engine, ACCT)
    for working in engine._orders.values():
        assert restored._orders[working.order_id] == working
        assert restored.get_order(ACCT, working.order_id) == engine.get_order(
            ACCT, working.order_id)
    assert restored.get_order_by_client_id(ACCT, "gtc-1").symbol == "MSFT"
    assert restored.account_settings(ACCT) == engine.account_settings(ACCT)
    assert [w.order_id for w in restored._orders_open()] == [
        w.order_id for w in engine._orders_open()]


def test_a_restored_engine_carries_on_as_the_original() -> None:
    engine = rich_engine()
    restored = round_trip(engine)
    first, second = order("AAPL", "buy", 1), order("BYND", "sell", 100, limit_price="0.50")
    for sim in (engine, restored):
        sim.place_order(ACCT, first)
        sim.advance(timedelta(hours=24))  # through the close: expiries, auctions, a new day
        sim.place_order(ACCT, second)
    assert snapshot_account(restored, ACCT) == snapshot_account(engine, ACCT)
    assert observed(restored) == observed(engine)


def test_order_ids_never_repeat_after_a_restore() -> None:
    engine = rich_engine()
    before = {o.order_id for o in engine.orders(ACCT)}
    restored = round_trip(engine)
    placed = [restored.place_order(ACCT, order("KO", "buy", 1)).order_id for _ in range(20)]
    assert len(set(placed)) == 20
    assert not before & set(placed)


def test_a_fresh_account_snapshot_is_small_and_round_trips() -> None:
    engine = make_engine()
    funded(engine, "2500", AccountType.CASH)
    snapshot = snapshot_account(engine, ACCT)
    assert snapshot["prices"] == {"steps": 0, "walks": {}, "options": {}, "frozen": []}
    assert len(encode(snapshot)) < 8_000
    restored = round_trip(engine)
    assert snapshot_account(restored, ACCT) == snapshot
    assert restored.balances(ACCT).cash == Decimal(2500)
    assert restored.account(ACCT, broker=BrokerType.PAPER).account_type is AccountType.CASH


def test_text_is_canonical_json_with_decimals_as_strings() -> None:
    text = encode(snapshot_account(rich_engine(), ACCT))
    raw = json.loads(text)
    assert text == json.dumps(raw, sort_keys=True, separators=(",", ":"))
    assert raw["account"]["cash"] == str(Decimal(raw["account"]["cash"]))
    assert raw["clock"].endswith("+00:00")
    assert all(isinstance(h["quantity"], str) for h in raw["account"]["holdings"])


def test_only_the_one_account_is_taken() -> None:
    engine = rich_engine()
    other = engine.open_account(account_id="OTHER", cash=Decimal(5000))
    engine.place_order(other, order("KO", "buy", 1))
    restored = round_trip(engine)
    assert restored.account_ids() == [ACCT]
    with pytest.raises(OrderNotFoundError):
        restored.get_order(ACCT, engine.orders(other)[0].order_id)


def test_a_snapshot_after_the_close_round_trips() -> None:
    engine = rich_engine()
    engine.advance_to(CLOSE + timedelta(days=3, hours=1))
    assert any(o.status is OrderStatus.EXPIRED for o in engine.orders(ACCT))
    restored = round_trip(engine)
    assert snapshot_account(restored, ACCT) == snapshot_account(engine, ACCT)
    assert observed(restored) == observed(engine)


def test_every_field_of_the_engine_state_is_written() -> None:
    snapshot = snapshot_account(rich_engine(), ACCT)
    account = snapshot["account"]
    assert set(account) == {f.name for f in fields(SimAccount)}
    assert set(account["holdings"][0]) == {f.name for f in fields(Holding)}
    assert set(account["ledger"][0]) == {f.name for f in fields(LedgerEntry)}
    assert set(snapshot["orders"][0]) == {f.name for f in fields(WorkingOrder)}


def test_a_coarse_price_step_catches_up_a_long_stretch() -> None:
    engine = rich_engine()
    before = engine.prices.state().steps
    engine.advance_to(engine.now() + timedelta(days=365), price_step=timedelta(hours=4))
    # Session boundaries still stop the walk; a minute's steps would be about 240,000.
    assert engine.prices.state().steps - before < 3_000
    assert all(not o.status.is_open or o.time_in_force is TimeInForce.GTC
               for o in engine.orders(ACCT))
    assert snapshot_account(round_trip(engine), ACCT) == snapshot_account(engine, ACCT)


# --- unreadable snapshots ----------------------------------------------------------------


def test_text_that_is_not_a_snapshot_is_refused() -> None:
    with pytest.raises(SnapshotError, match="not JSON"):
        decode("{nope")
    with pytest.raises(SnapshotError, match="not a JSON object"):
        decode("[1, 2]")


@pytest.mark.parametrize("found", [None, 2, "1", True])
def test_an_unknown_format_is_refused_with_what_to_do(found: object) -> None:
    raw = snapshot_account(rich_engine(), ACCT)
    raw["format"] = found
    with pytest.raises(SnapshotError, match="upgrade brokerlink"):
        decode(json.dumps(raw))
    with pytest.raises(SnapshotError, match="format"):
        restore_engine(raw)


@pytest.mark.parametrize(("path", "value", "names"), [
    (("account", "cash"), 12.5, "account.cash"),
    (("account", "cash"), "lots", "account.cash"),
    (("clock",), "2026-11-23T15:00:00", "clock"),
    (("orders", 0, "status"), "misplaced", "orders[0].status"),
    (("orders", 0, "quantity"), None, "orders[0].quantity"),
    (("account", "holdings", 0, "instrument"), "ZZZQX", "ZZZQX"),
    (("order_ids", "words"), "AAAA", "order_ids.words"),
    (("open_orders",), ["no-such-order"], "open_orders[0]"),
])
def test_a_bad_field_is_named(path: tuple[str | int, ...], value: object, names: str) -> None:
    raw = json.loads(encode(snapshot_account(rich_engine(), ACCT)))
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SnapshotError, match=names.replace("[", r"\[").replace("]", r"\]")):
        restore_engine(raw)


def test_a_missing_field_is_named() -> None:
    raw = json.loads(encode(snapshot_account(rich_engine(), ACCT)))
    del raw["account"]["reserved"]
    with pytest.raises(SnapshotError, match=r"account\.reserved is missing"):
        restore_engine(raw)

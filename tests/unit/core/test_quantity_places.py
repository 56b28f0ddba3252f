"""Issue 19 item 7, broker precision: ``Capabilities.quantity_places`` is the number of
decimal places a fractional quantity may carry at a broker (paper 6, Alpaca 9, Tradier
0), and ``check_order``/``check_modify`` refuse a finer quantity before any I/O with an
``InvalidOrderError`` naming ``quantity``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic import ValidationError

from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.adapters.alpaca.spec import BASE_CAPABILITIES as ALPACA_CAPABILITIES
from brokerlink.adapters.paper.broker import PaperBroker
from brokerlink.adapters.paper.spec import PAPER_CAPABILITIES
from brokerlink.adapters.paper.store import MemoryPaperStateStore, StoredPaperState
from brokerlink.adapters.tradier.spec import TRADIER_CAPABILITIES
from brokerlink.core.capabilities import Capabilities
from brokerlink.core.enums import AssetType, OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import InvalidOrderError, NotSupportedError
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.emulators import EmulatorServer
from brokerlink.emulators.alpaca.app import create_app, create_env
from tests.contract.harness import SESSION_START

SEVEN_PLACES = Decimal("1e-7")
SIX_PLACES = Decimal("0.000001")
NINE_PLACES = Decimal("0.000000001")


def buy(quantity: Decimal) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=quantity)


class CountingStore(MemoryPaperStateStore):
    """A paper store that counts every call: the broker's only I/O."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def version(self) -> int | None:
        self.calls += 1
        return await super().version()

    async def load(self) -> StoredPaperState | None:
        self.calls += 1
        return await super().load()

    async def save(self, state: str, *, expected_version: int) -> int:
        self.calls += 1
        return await super().save(state, expected_version=expected_version)


def test_each_broker_states_its_precision() -> None:
    assert PAPER_CAPABILITIES.quantity_places == 6
    assert ALPACA_CAPABILITIES.quantity_places == 9
    assert TRADIER_CAPABILITIES.quantity_places == 0


@pytest.mark.parametrize("places", [-1, 10])
def test_precision_is_bounded_by_the_core_policy(places: int) -> None:
    with pytest.raises(ValidationError):
        Capabilities(asset_types=frozenset({AssetType.EQUITY}),
                     order_types=frozenset({OrderType.MARKET}),
                     time_in_force=frozenset({TimeInForce.DAY}), fractional_shares=True,
                     quantity_places=places)


def test_check_order_refuses_a_quantity_finer_than_the_broker_takes() -> None:
    PAPER_CAPABILITIES.check_order(buy(SIX_PLACES), broker="paper")
    with pytest.raises(InvalidOrderError) as refused:
        PAPER_CAPABILITIES.check_order(buy(SEVEN_PLACES), broker="paper")
    assert refused.value.field == "quantity"
    assert "0.0000001" in refused.value.message
    assert "at most 6 decimal places" in refused.value.message
    ALPACA_CAPABILITIES.check_order(buy(NINE_PLACES), broker="alpaca")
    # Tradier takes no fractions at all: the feature is missing, not the precision.
    with pytest.raises(NotSupportedError, match="fractional"):
        TRADIER_CAPABILITIES.check_order(buy(Decimal("0.5")), broker="tradier")


def test_check_modify_refuses_a_quantity_finer_than_the_broker_takes() -> None:
    PAPER_CAPABILITIES.check_modify(OrderModify(quantity=SIX_PLACES), broker="paper")
    with pytest.raises(InvalidOrderError) as refused:
        PAPER_CAPABILITIES.check_modify(OrderModify(quantity=SEVEN_PLACES), broker="paper")
    assert refused.value.field == "quantity"
    with pytest.raises(InvalidOrderError, match="whole shares only"):
        TRADIER_CAPABILITIES.check_modify(OrderModify(quantity=Decimal("2.5")),
                                          broker="tradier")
    TRADIER_CAPABILITIES.check_modify(OrderModify(quantity=Decimal(3)), broker="tradier")


async def test_paper_refuses_seven_places_before_any_io() -> None:
    store = CountingStore()
    broker = PaperBroker(store=store, market="always_open")
    await broker.connect()
    calls, saves = store.calls, store.saves
    with pytest.raises(InvalidOrderError) as refused:
        await broker.place_order(buy(SEVEN_PLACES))
    assert refused.value.field == "quantity"
    assert (store.calls, store.saves) == (calls, saves)
    assert await broker.get_orders() == []
    # The control: six places go through, and the counter sees that I/O.
    placed = await broker.place_order(buy(SIX_PLACES))
    assert placed.success
    assert store.calls > calls
    assert store.saves > saves


@pytest.fixture
async def alpaca() -> AsyncIterator[tuple[AlpacaBroker, httpx.AsyncClient, str]]:
    env = create_env(seed=5, start=SESSION_START)
    async with EmulatorServer(create_app(env)) as server, \
            httpx.AsyncClient(base_url=server.url) as admin:
        made = (await admin.post("/_emulator/accounts", json={"cash": "50000"})).json()
        broker = AlpacaBroker(AlpacaAuth(key_id=made["api_key_id"],
                                         secret_key=made["api_secret"]),
                              config=AlpacaConfig.emulator(server.url))
        async with broker:
            yield broker, admin, made["account_id"]


async def test_alpaca_takes_nine_places_past_the_core_check(
        alpaca: tuple[AlpacaBroker, httpx.AsyncClient, str]) -> None:
    broker, admin, account_id = alpaca
    placed = await broker.place_order(buy(NINE_PLACES))
    assert placed.success
    listed = (await admin.get(f"/_emulator/accounts/{account_id}/orders")).json()["orders"]
    assert [Decimal(o["quantity"]) for o in listed] == [NINE_PLACES]
    # Ten places are no quantity at any broker: the core model refuses them.
    with pytest.raises(InvalidOrderError) as refused:
        buy(Decimal("0.0000000001"))
    assert refused.value.field == "quantity"

"""Ambiguous writes against real emulators over loopback: a dropped answer is resolved by
asking the broker, and exactly one order exists at the emulator."""

from __future__ import annotations

import pytest

from brokerlink.core.enums import OrderSide
from brokerlink.core.models import OrderRequest
from brokerlink.manager.journal import OrderJournal
from brokerlink.storage.engine import Database
from tests.integration.journal.rigs import ORDER_PATHS, emulator_accounts


@pytest.mark.parametrize("kind", ["alpaca", "tradier"])
async def test_dropped_answer_is_resolved_by_client_order_id(database: Database,
                                                             kind: str) -> None:
    async with emulator_accounts(alpaca=int(kind == "alpaca"),
                                 tradier=int(kind == "tradier")) as [account]:
        await account.fault(kind="drop_after", method="POST", path=ORDER_PATHS[kind],
                            count=1)
        journal = OrderJournal(database)
        order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=2)
        result = await journal.submit(connection_id=account.connection_id,
                                      account_id=account.account_id,
                                      broker=account.broker, order=order,
                                      idempotency_key="once")
        placed = await account.placed()
        assert {k: coid for k, (coid, _) in placed.items()} == {
            result.order_id: order.client_order_id}
        [intent] = await journal.intents()
        assert intent.resolution == "lookup"
        assert intent.broker_order_id == result.order_id
        assert result.order_id is not None
        assert intent.status is (await account.broker.get_order(result.order_id)).status
        # A retry under the same key: same answer, still one order.
        again = await journal.submit(connection_id=account.connection_id,
                                     account_id=account.account_id, broker=account.broker,
                                     order=order.model_copy(update={"client_order_id": "r1"}),
                                     idempotency_key="once")
        assert again == result
        assert len(await account.placed()) == 1

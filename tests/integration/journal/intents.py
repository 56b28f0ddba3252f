"""What a process leaves in the journal when it dies mid-submission."""

from __future__ import annotations

import uuid
from datetime import datetime

from brokerlink.core.enums import OrderStatus
from brokerlink.core.models import OrderRequest
from brokerlink.manager.journal import order_fingerprint
from brokerlink.manager.order_stores import IntentRecord, IntentStore


async def insert_crashed_intent(repository: IntentStore, *, connection_id: str,
                                account_id: str, order: OrderRequest, now: datetime) -> None:
    """Store ``order``'s intent as written before sending, with no answer recorded: the
    state a process leaves when it dies between writing the intent and the reply."""
    await repository.insert(IntentRecord(
        id=str(uuid.uuid4()), connection_id=connection_id, account_id=account_id,
        client_order_id=order.client_order_id,
        fingerprint=order_fingerprint(account_id, order),
        request_json=order.model_dump_json(), symbol=order.symbol,
        status=OrderStatus.PENDING_NEW, created_at=now, updated_at=now, attempts=1))

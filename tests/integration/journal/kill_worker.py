"""Worker for the SIGKILL test: submits orders through the journal until it is killed.

Started ahead of time (imports are the slow part); it waits for one JSON line on stdin
naming the database, the emulator and the account, prints ``ready`` once connected,
then submits market orders in a loop, forever. The parent kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import sys

from brokerlink.adapters._shared import RetryPolicy
from brokerlink.adapters.alpaca import AlpacaAuth, AlpacaBroker, AlpacaConfig
from brokerlink.bootstrap import order_journal
from brokerlink.core.enums import OrderSide
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import OrderRequest
from brokerlink.storage.engine import open_database


async def main() -> None:
    config = json.loads(await asyncio.to_thread(sys.stdin.readline))
    database = await open_database(config["database_url"])
    journal = order_journal(database)
    broker = AlpacaBroker(AlpacaAuth(key_id=config["key_id"], secret_key=config["secret"]),
                          config=AlpacaConfig.emulator(config["url"]),
                          retry=RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0))
    await broker.connect()
    print("ready", flush=True)
    index = 0
    while True:
        order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=1)
        key = f"{config['run']}-{index}" if index % 2 == 0 else None
        try:
            await journal.submit(connection_id=config["connection_id"],
                                 account_id=config["account_id"], broker=broker,
                                 order=order, idempotency_key=key)
            print("sent", flush=True)
        except BrokerError as exc:
            print(f"refused {type(exc).__name__}", flush=True)
        index += 1


if __name__ == "__main__":
    asyncio.run(main())

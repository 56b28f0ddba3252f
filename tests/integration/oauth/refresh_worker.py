"""A separate process forcing token refreshes of one shared connection.

Run by ``test_multiprocess.py`` as ``python -m tests.integration.oauth.refresh_worker
<json>``. It opens the shared database (SQLite file or PostgreSQL schema) with the vault
key from ``$BROKERLINK_MASTER_KEY``, signals ``ready_file``, waits for ``go_file``, then, in
``tasks`` concurrent tasks sharing one ``TokenManager``, repeats: call the protected
route with the current token (must be 200), then force a refresh as a 401 would. Prints
one JSON line: calls made, calls refused, refreshes that changed the token, errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from brokerlink.auth.keys import EnvKeyProvider
from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import OAuthClient
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.auth.tokens import TokenManager
from brokerlink.bootstrap import load_vault
from brokerlink.storage.engine import open_database
from brokerlink.storage.token_store import SqlTokenStore
from tests.oauth_providers import SCHWAB_OAUTH


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    database = await open_database(spec["db_url"], schema=spec.get("schema"))
    try:
        vault = await load_vault(database, EnvKeyProvider())
        client = OAuthClient(
            SCHWAB_OAUTH.for_base_url(spec["server_url"]),
            OAuthClientCredentials(spec["client_id"], SecretStr(spec["client_secret"])),
            MemoryPendingStateStore())
        # No grace: every forced refresh must either rotate or find another's rotation.
        manager = TokenManager(spec["connection_id"], SqlTokenStore(database, vault), client,
                               unauthorized_grace=timedelta(0))
        await asyncio.to_thread(Path(spec["ready_file"]).write_text, "ready")
        go = Path(spec["go_file"])
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(go.exists):
            if time.monotonic() > deadline:
                raise TimeoutError("no start signal")
            await asyncio.sleep(0.005)
        result: dict[str, Any] = {"calls": 0, "refused": 0, "changed": 0, "errors": []}
        async with httpx.AsyncClient() as http:

            async def loop() -> None:
                for _ in range(spec["iterations"]):
                    headers = await manager.auth_headers()
                    response = await http.get(spec["server_url"] + "/whoami", headers=headers)
                    result["calls"] += 1
                    if response.status_code != 200:
                        result["refused"] += 1
                    try:
                        if await manager.on_unauthorized():
                            result["changed"] += 1
                    except Exception as exc:  # reported to the parent, which fails the test
                        result["errors"].append(f"{type(exc).__name__}: {exc}")
                        return

            await asyncio.gather(*(loop() for _ in range(spec["tasks"])))
        return result
    finally:
        await database.aclose()


if __name__ == "__main__":
    outcome = asyncio.run(main(json.loads(sys.argv[1])))
    sys.stdout.write(json.dumps(outcome) + "\n")

"""Two processes refreshing one rotating refresh token through one database.

The emulator's OAuth server (Schwab-like: rotation with reuse detection) runs in this
test's process on loopback; two worker subprocesses (``sys.executable``) share the
connection's tokens through a SQLite file or a PostgreSQL schema and force refreshes as
fast as they can. A refresh that used a stale refresh token would trip reuse detection
(``invalid_grant`` and a revoked family), so the assertions are: no OAuth error at all,
and exactly one token request per rotation.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from brokerlink.auth.keys import MASTER_KEY_ENV
from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import OAuthClient
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.token_store import SqlTokenStore
from tests.oauth_providers import SCHWAB_OAUTH, schwab_oauth_server_config

from .support import (
    CLIENT_ID,
    CLIENT_SECRET,
    TEST_CLIENT,
    DatabaseTarget,
    add_connection,
    load_vault,
    new_master_key,
    serve,
    whoami,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
CONN = "shared-connection"
WORKERS = 2
TASKS_PER_WORKER = 2
ITERATIONS = 12


async def _run_worker(spec: dict[str, object], env: dict[str, str]) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.oauth.refresh_worker", json.dumps(spec),
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 45)
    assert process.returncode == 0, stderr.decode()[-3000:]
    result: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result


async def test_two_processes_share_one_rotating_refresh_token(
        db_target: DatabaseTarget, tmp_path: Path) -> None:
    master_key = new_master_key()
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, _env, router):
        database = await db_target.open()
        try:
            vault = await load_vault(database, master_key)
            await add_connection(database, CONN)
            client = OAuthClient(SCHWAB_OAUTH.for_base_url(server.url),
                                 OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                                 MemoryPendingStateStore())
            start = await client.begin("http://127.0.0.1:9/callback")
            async with httpx.AsyncClient() as http:
                redirect = (await http.get(start.authorize_url)).headers["location"]
            store = SqlTokenStore(database, vault)
            await store.save(CONN, await client.complete(redirect))

            go_file = tmp_path / "go"
            spec = {"db_url": db_target.url, "schema": db_target.schema,
                    "server_url": server.url, "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET, "connection_id": CONN,
                    "iterations": ITERATIONS, "tasks": TASKS_PER_WORKER,
                    "go_file": str(go_file)}
            child_env = {**os.environ, MASTER_KEY_ENV: master_key,
                         "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
            ready = [tmp_path / f"ready-{n}" for n in range(WORKERS)]
            workers = [asyncio.create_task(_run_worker({**spec, "ready_file": str(path)},
                                                       child_env)) for path in ready]
            # Start both processes together, once each has imported and opened everything.
            async with asyncio.timeout(30):
                while not all(path.exists() for path in ready):
                    if any(w.done() for w in workers):
                        break
                    await asyncio.sleep(0.01)
            go_file.write_text("go")
            results = await asyncio.gather(*workers)

            stats = router.server.stats
            record = await ConnectionRepository(database).get(CONN)
            assert record is not None
            assert all(r["errors"] == [] for r in results), results
            assert all(r["refused"] == 0 for r in results), results
            assert sum(int(str(r["calls"])) for r in results) == (
                WORKERS * TASKS_PER_WORKER * ITERATIONS)
            # Zero invalid_grant (or any other OAuth error); reuse was never detected.
            assert dict(stats.errors) == {}
            assert stats.reuse_detections == 0
            assert stats.families_revoked == 0
            # Exactly one token request per rotation: every refresh request the server saw
            # succeeded and was recorded once in the shared database.
            assert stats.refresh_grants == stats.refresh_successes
            assert record.refresh_successes == stats.refresh_successes
            assert record.refresh_attempts == record.refresh_successes
            assert stats.token_requests == 1 + stats.refresh_grants
            # Each task needs a newer token for each of its forced refreshes, so at least
            # ITERATIONS rotations happened, shared among tasks and processes.
            assert stats.refresh_grants >= ITERATIONS
            final = (await store.load(CONN)).tokens
            assert final is not None
            assert await whoami(server.url, final.access_token) == 200
        finally:
            await database.aclose()

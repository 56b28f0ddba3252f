"""SqlTokenStore with TokenManager against the emulator's OAuth server, on SQLite and
PostgreSQL: tokens sealed at rest, rotation committed, counters, reauth."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import OAuthClient
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.auth.tokens import TokenManager, TokenSet
from brokerlink.core.errors import BrokerUnavailableError, ReauthRequiredError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.faults import FaultKind, FaultRule
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.engine import Database
from brokerlink.storage.records import ConnectionStatus
from brokerlink.storage.tables import connections, credentials
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

CONN = "schwab-main"


async def _signed_in(database: Database, server_url: str,
                     env: EmulatorEnv) -> tuple[SqlTokenStore, OAuthClient, TokenSet]:
    """Connection ``CONN`` signed in at the emulator, its first tokens stored sealed."""
    vault = await load_vault(database, new_master_key())
    await add_connection(database, CONN)
    store = SqlTokenStore(database, vault)
    client = OAuthClient(SCHWAB_OAUTH.for_base_url(server_url),
                         OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                         MemoryPendingStateStore(), clock=env.engine.now)
    start = await client.begin("http://127.0.0.1:9/callback")
    async with httpx.AsyncClient() as http:
        redirect = (await http.get(start.authorize_url)).headers["location"]
    first = await client.complete(redirect)
    await store.save(CONN, first)
    return store, client, first


async def _dump(database: Database) -> bytes:
    async with database.transaction() as conn:
        rows = list((await conn.execute(select(credentials))).all())
        rows += (await conn.execute(select(connections))).all()
    return repr(rows).encode()


def _secrets_of(tokens: TokenSet) -> list[bytes]:
    values = [tokens.access_token.get_secret_value().encode()]
    if tokens.refresh_token is not None:
        values.append(tokens.refresh_token.get_secret_value().encode())
    return values


async def test_tokens_are_sealed_at_rest_and_refresh_rotates_durably(
        db_target: DatabaseTarget) -> None:
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, env, router):
        database = await db_target.open()
        try:
            store, client, first = await _signed_in(database, server.url, env)

            loaded = await store.load(CONN)
            assert loaded.tokens == first
            assert loaded.reauth_due_at == first.refresh_expires_at
            dump = await _dump(database)
            for secret in _secrets_of(first):
                assert secret not in dump
            if database.sqlite_path is not None:
                raw = database.sqlite_path.read_bytes()
                for secret in _secrets_of(first):
                    assert secret not in raw

            manager = TokenManager(CONN, store, client, clock=env.engine.now, broker="schwab")
            headers = await manager.auth_headers()
            assert headers["Authorization"] == f"Bearer {first.access_token.get_secret_value()}"
            env.advance(timedelta(minutes=24))  # 80 % of 30 minutes: due
            headers = await manager.auth_headers()
            second = (await store.load(CONN)).tokens
            assert second is not None
            assert headers["Authorization"] == f"Bearer {second.access_token.get_secret_value()}"
            assert second.refresh_token != first.refresh_token
            # Schwab's 7-day horizon counts from sign-in: rotation does not extend it.
            assert second.refresh_expires_at == first.refresh_expires_at
            assert await whoami(server.url, second.access_token) == 200
            record = await ConnectionRepository(database).get(CONN)
            assert record is not None
            assert (record.refresh_attempts, record.refresh_successes) == (1, 1)
            assert record.access_token_expires_at == second.expires_at
            assert record.reauth_due_at == first.refresh_expires_at
            dump = await _dump(database)
            for secret in _secrets_of(first) + _secrets_of(second):
                assert secret not in dump
            assert router.server.stats.refresh_grants == 1
        finally:
            await database.aclose()


async def test_dead_refresh_token_marks_reauth_and_stops_requests(
        db_target: DatabaseTarget) -> None:
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, env, router):
        database = await db_target.open()
        try:
            store, client, _ = await _signed_in(database, server.url, env)
            router.server.revoke_all()  # the user disconnected the app at the broker
            manager = TokenManager(CONN, store, client, clock=env.engine.now)
            with pytest.raises(ReauthRequiredError, match="refused"):
                await manager.on_unauthorized()
            # Schwab's documented body for a dead refresh token.
            assert router.server.stats.errors == {"invalid_client": 1}
            record = await ConnectionRepository(database).get(CONN)
            assert record is not None
            assert record.status is ConnectionStatus.REAUTH_REQUIRED
            assert (record.refresh_attempts, record.refresh_successes) == (1, 0)
            requests = router.server.stats.token_requests
            for _ in range(3):
                with pytest.raises(ReauthRequiredError):
                    await manager.auth_headers()
                with pytest.raises(ReauthRequiredError):
                    await TokenManager(CONN, store, client).auth_headers()
            assert router.server.stats.token_requests == requests
        finally:
            await database.aclose()


async def test_broker_outage_during_refresh_is_transient(db_target: DatabaseTarget) -> None:
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, env, router):
        database = await db_target.open()
        try:
            store, client, first = await _signed_in(database, server.url, env)
            manager = TokenManager(CONN, store, client, clock=env.engine.now)
            env.faults.add(FaultRule(FaultKind.ERROR, method="POST", path="/v1/oauth/token",
                                     status=503, body={"message": "down"}, count=1))
            env.advance(timedelta(minutes=25))
            # Due, still valid for 5 minutes: the outage is ridden out with the old token.
            headers = await manager.auth_headers()
            assert headers["Authorization"].endswith(first.access_token.get_secret_value())
            # Called directly, the client reports the outage as transient, not as reauth.
            with pytest.raises(BrokerUnavailableError, match="503"):
                await _raise_outage(env, client, first)
            record = await ConnectionRepository(database).get(CONN)
            assert record is not None
            assert (record.refresh_attempts, record.refresh_successes) == (1, 0)
            assert record.status is ConnectionStatus.CONNECTED
            assert router.server.stats.refresh_grants == 0
        finally:
            await database.aclose()


async def _raise_outage(env: EmulatorEnv, client: OAuthClient, tokens: TokenSet) -> None:
    env.faults.add(FaultRule(FaultKind.ERROR, method="POST", path="/v1/oauth/token",
                             status=503, body={"message": "down"}, count=1))
    await client.refresh(tokens)

"""begin/complete against the emulator's OAuth server over real loopback sockets, and
every crafted callback refused with nothing issued or stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select

from brokerlink.auth.loopback import LoopbackReceiver, sign_in_via_loopback
from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import OAuthClient, PendingStateStore
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.auth.oauth_errors import (
    AuthorizationDeniedError,
    CodeRejectedError,
    ExpiredStateError,
    MalformedCallbackError,
    OAuthFlowError,
    RedirectUriMismatchError,
    ReplayedStateError,
    UnknownStateError,
)
from brokerlink.auth.oauth_states import VaultPendingStateStore
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.oauth_server import OAuthRouter
from brokerlink.storage.engine import Database, open_database
from brokerlink.storage.tables import credentials, oauth_pending_states
from tests.oauth_providers import SCHWAB_OAUTH, schwab_oauth_server_config

from .support import (
    CLIENT_ID,
    CLIENT_SECRET,
    TEST_CLIENT,
    SettableClock,
    browse,
    load_vault,
    new_master_key,
    serve,
    whoami,
)


@dataclass
class Flow:
    client: OAuthClient
    env: EmulatorEnv
    router: OAuthRouter
    clock: SettableClock
    base_url: str
    pending: PendingStateStore
    database: Database | None


@pytest_asyncio.fixture(params=["memory", "sqlite"])
async def flow(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Flow]:
    """The Schwab-like emulator on loopback and a client pointed at it, with pending
    states in memory or in a SQLite database (hashed state, sealed verifier)."""
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, env, router):
        database: Database | None = None
        pending: PendingStateStore
        if request.param == "memory":
            pending = MemoryPendingStateStore()
        else:
            database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
            pending = VaultPendingStateStore(await load_vault(database,
                                                                        new_master_key()))
        clock = SettableClock(env)
        client = OAuthClient(SCHWAB_OAUTH.for_base_url(server.url),
                             OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                             pending, clock=clock)
        try:
            yield Flow(client, env, router, clock, server.url, pending, database)
        finally:
            if database is not None:
                await database.aclose()


async def _callback(flow: Flow, receiver: LoopbackReceiver) -> tuple[SecretStr, str]:
    start = await flow.client.begin(receiver.redirect_uri)
    receiver.expect_state(start.state_id)
    await browse(start.authorize_url)
    url = await receiver.wait(5)
    state = parse_qs(urlsplit(url.get_secret_value()).query)["state"][0]
    return url, state


def _nothing_issued(flow: Flow, token_requests: int = 0) -> None:
    stats = flow.router.server.stats
    assert stats.token_requests == token_requests
    assert stats.refresh_grants == 0


async def _no_plaintext(flow: Flow, *values: str) -> None:
    if flow.database is None:
        return
    async with flow.database.transaction() as conn:
        rows = list((await conn.execute(select(oauth_pending_states))).all())
        rows += (await conn.execute(select(credentials))).all()
    dump = repr(rows).encode()
    for value in values:
        assert value.encode() not in dump
    assert flow.database.sqlite_path is not None
    raw = flow.database.sqlite_path.read_bytes()
    for value in values:
        assert value.encode() not in raw


async def test_sign_in_over_loopback_issues_working_tokens(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        start = await flow.client.begin(receiver.redirect_uri)
        receiver.expect_state(start.state_id)
        page = await browse(start.authorize_url)
        assert "close this window" in page.text
        callback = await receiver.wait(5)
    query = parse_qs(urlsplit(start.authorize_url).query)
    await _no_plaintext(flow, query["state"][0])
    tokens = await flow.client.complete(callback)
    now = flow.env.engine.now()
    assert tokens.expires_at == now + timedelta(minutes=30)
    assert tokens.refresh_expires_at == now + timedelta(days=7)
    assert tokens.refresh_token is not None
    assert await whoami(flow.base_url, tokens.access_token) == 200
    stats = flow.router.server.stats
    assert (stats.authorize_requests, stats.token_requests, stats.code_grants) == (1, 1, 1)


async def test_sign_in_via_loopback_helper(flow: Flow) -> None:
    opened: list[str] = []
    browsing: list[asyncio.Task[httpx.Response]] = []

    async def open_browser(url: str) -> None:
        opened.append(url)
        # A real browser runs on its own; don't block the helper while it "browses".
        browsing.append(asyncio.get_running_loop().create_task(browse(url)))

    done = await sign_in_via_loopback(flow.client, open_browser, connection_id="c-42",
                                      wait_seconds=5)
    assert done.connection_id == "c-42"
    assert done.broker == "schwab"
    assert len(opened) == 1
    assert (await browsing[0]).status_code == 200
    assert await whoami(flow.base_url, done.tokens.access_token) == 200


async def test_unknown_state_is_refused(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        url, state = await _callback(flow, receiver)
    forged = url.get_secret_value().replace(state, "forged-" + state[:20])
    with pytest.raises(UnknownStateError, match="start the sign-in again"):
        await flow.client.complete(forged)
    _nothing_issued(flow)
    # The genuine callback still works afterwards: the forgery consumed nothing.
    await flow.client.complete(url)


async def test_expired_state_is_refused(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        url, _ = await _callback(flow, receiver)
    flow.clock.offset = timedelta(minutes=10, seconds=1).total_seconds()
    with pytest.raises(ExpiredStateError, match="10 minutes"):
        await flow.client.complete(url)
    _nothing_issued(flow)


async def test_replayed_state_is_refused(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        url, _ = await _callback(flow, receiver)
    await flow.client.complete(url)
    with pytest.raises(ReplayedStateError, match="already used"):
        await flow.client.complete(url)
    _nothing_issued(flow, token_requests=1)


async def test_replayed_code_is_refused_and_revokes_what_it_issued(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        first_url, _ = await _callback(flow, receiver)
    first = await flow.client.complete(first_url)
    code = parse_qs(urlsplit(first_url.get_secret_value()).query)["code"][0]
    async with LoopbackReceiver() as receiver:
        second_url, state = await _callback(flow, receiver)
    redirect = second_url.get_secret_value().split("?")[0]
    crafted = f"{redirect}?{urlencode({'code': code, 'state': state})}"
    with pytest.raises(CodeRejectedError, match="invalid_grant"):
        await flow.client.complete(crafted)
    assert flow.router.server.stats.errors["invalid_grant"] == 1
    # RFC 6749 4.1.2: tokens issued from a replayed code are revoked.
    assert await whoami(flow.base_url, first.access_token) == 401


async def test_error_callback_is_refused(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        url, state = await _callback(flow, receiver)
    redirect = url.get_secret_value().split("?")[0]
    with pytest.raises(AuthorizationDeniedError, match="access_denied") as caught:
        await flow.client.complete(f"{redirect}?error=access_denied&state={state}")
    assert caught.value.oauth_error == "access_denied"
    _nothing_issued(flow)
    # The state was used up by the refusal: the real callback cannot follow.
    with pytest.raises(ReplayedStateError):
        await flow.client.complete(url)


async def test_wrong_redirect_uri_is_refused(flow: Flow) -> None:
    async with LoopbackReceiver() as receiver:
        url, _ = await _callback(flow, receiver)
    parts = urlsplit(url.get_secret_value())
    elsewhere = f"http://127.0.0.1:{(parts.port or 0) + 1}{parts.path}?{parts.query}"
    with pytest.raises(RedirectUriMismatchError, match="redirect URI"):
        await flow.client.complete(elsewhere)
    _nothing_issued(flow)


async def test_malformed_callbacks_are_refused(flow: Flow) -> None:
    with pytest.raises(MalformedCallbackError):
        await flow.client.complete("http://127.0.0.1:1/callback?code=x")
    with pytest.raises(MalformedCallbackError):
        await flow.client.complete("http://127.0.0.1:1/callback?state=a&state=b")
    _nothing_issued(flow)


async def test_user_denies_on_the_consent_page() -> None:
    config = schwab_oauth_server_config(TEST_CLIENT, consent="page")
    async with serve(config) as (server, env, router), LoopbackReceiver() as receiver:
        client = OAuthClient(SCHWAB_OAUTH.for_base_url(server.url),
                             OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                             MemoryPendingStateStore(), clock=env.engine.now)
        start = await client.begin(receiver.redirect_uri)
        receiver.expect_state(start.state_id)
        async with httpx.AsyncClient() as browser:
            page = await browser.get(start.authorize_url)
            assert page.status_code == 200
            assert "Approve" in page.text
            form = dict(parse_qs(urlsplit(start.authorize_url).query))
            fields = {k: v[0] for k, v in form.items()} | {"decision": "deny"}
            answer = await browser.post(f"{server.url}/v1/oauth/authorize", data=fields)
            assert answer.status_code == 302
            await browser.get(answer.headers["location"])
        with pytest.raises(AuthorizationDeniedError):
            await client.complete(await receiver.wait(5))
        assert router.server.stats.token_requests == 0


async def test_every_refusal_is_an_oauth_flow_error() -> None:
    for error in (UnknownStateError, ExpiredStateError, ReplayedStateError,
                  RedirectUriMismatchError, AuthorizationDeniedError, CodeRejectedError,
                  MalformedCallbackError):
        assert issubclass(error, OAuthFlowError)

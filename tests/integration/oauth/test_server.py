"""The emulators' OAuth authorization server, spoken to directly over loopback."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import OAuthClient
from brokerlink.auth.oauth_config import OAuthClientCredentials, oauth_config_for
from brokerlink.auth.oauth_errors import RefreshTokenRejectedError, TokenEndpointError
from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.oauth_server import OAuthRouter
from brokerlink.emulators.alpaca import EMULATOR as ALPACA
from brokerlink.emulators.tradier import EMULATOR as TRADIER
from tests.oauth_providers import SCHWAB_OAUTH, schwab_oauth_server_config

from .support import CLIENT_ID, CLIENT_SECRET, TEST_CLIENT, serve, whoami

REDIRECT = "http://127.0.0.1:8765/callback"
TOKEN = "/v1/oauth/token"
BASIC = (CLIENT_ID, CLIENT_SECRET)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Schwab:
    url: str
    env: EmulatorEnv
    router: OAuthRouter
    http: httpx.AsyncClient

    async def code(self, **extra: str) -> str:
        params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": "s1", **extra}
        response = await self.http.get(f"{self.url}/v1/oauth/authorize?{urlencode(params)}")
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["s1"]
        return query["code"][0]

    async def token(self, form: dict[str, str], *, auth: Any = BASIC) -> httpx.Response:
        return await self.http.post(f"{self.url}{TOKEN}", data=form, auth=auth)

    async def sign_in(self) -> dict[str, Any]:
        verifier = secrets.token_urlsafe(48)
        code = await self.code(code_challenge=_challenge(verifier), code_challenge_method="S256")
        response = await self.token({"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT, "code_verifier": verifier})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})


@pytest_asyncio.fixture
async def schwab() -> AsyncIterator[Schwab]:
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, env, router), \
            httpx.AsyncClient() as http:
        yield Schwab(server.url, env, router, http)


async def test_token_response_matches_schwab(schwab: Schwab) -> None:
    body = await schwab.sign_in()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope",
                         "id_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 1800, "api")
    assert await whoami(schwab.url, body["access_token"]) == 200
    schwab.env.advance(timedelta(minutes=30))
    assert await whoami(schwab.url, body["access_token"]) == 401


async def test_pkce_verifier_must_match(schwab: Schwab) -> None:
    code = await schwab.code(code_challenge=_challenge(secrets.token_urlsafe(48)),
                             code_challenge_method="S256")
    response = await schwab.token({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": REDIRECT,
                                   "code_verifier": secrets.token_urlsafe(48)})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant",
                               "error_description": "PKCE verification failed"}
    assert response.headers["cache-control"] == "no-store"


async def test_plain_pkce_is_refused(schwab: Schwab) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": "s1",
              "code_challenge": "x" * 43, "code_challenge_method": "plain"}
    response = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize?{urlencode(params)}")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == [
        "invalid_request"]


async def test_redirect_uri_must_match_exactly(schwab: Schwab) -> None:
    code = await schwab.code()
    response = await schwab.token({"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": REDIRECT + "/"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # An unregistered redirect URI is never redirected to.
    params = {"client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb", "state": "s"}
    page = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize?{urlencode(params)}")
    assert page.status_code == 400
    assert "location" not in page.headers


async def test_codes_are_single_use_and_short_lived(schwab: Schwab) -> None:
    code = await schwab.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert (await schwab.token(form)).status_code == 200
    again = await schwab.token(form)
    assert again.json()["error"] == "invalid_grant"
    late = await schwab.code()
    schwab.env.advance(timedelta(seconds=31))  # Schwab codes live about 30 s
    response = await schwab.token({**form, "code": late})
    assert response.json()["error"] == "invalid_grant"


async def test_client_authentication(schwab: Schwab) -> None:
    code = await schwab.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    wrong = await schwab.token(form, auth=(CLIENT_ID, "not-the-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    # Schwab takes HTTP Basic only: credentials in the body are refused.
    in_body = await schwab.token({**form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                                 auth=None)
    assert in_body.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(schwab: Schwab) -> None:
    first = await schwab.sign_in()
    second = (await schwab.refresh(first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = (await schwab.refresh(second["refresh_token"])).json()
    for body in (first, second, third):
        assert await whoami(schwab.url, body["access_token"]) == 200
    # Replaying a rotated refresh token: theft (or a lost rotation). Everything goes.
    replay = await schwab.refresh(first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_client",
                             "error_description": "refresh token invalid"}
    for body in (first, second, third):
        assert await whoami(schwab.url, body["access_token"]) == 401
    current = await schwab.refresh(third["refresh_token"])
    assert current.json()["error"] == "invalid_client"
    stats = schwab.router.server.stats
    assert (stats.reuse_detections, stats.families_revoked) == (1, 1)


async def test_refresh_horizon_counts_from_sign_in_and_rotation_does_not_extend_it() -> None:
    # Schwab's horizon is 7 days; a 2-hour one keeps the simulated clock walk short.
    config = schwab_oauth_server_config(TEST_CLIENT, refresh_token_lifetime=timedelta(hours=2))
    async with serve(config) as (server, env, router), httpx.AsyncClient() as http:
        schwab = Schwab(server.url, env, router, http)
        body = await schwab.sign_in()
        env.advance(timedelta(hours=1, minutes=59))
        body = (await schwab.refresh(body["refresh_token"])).json()
        env.advance(timedelta(minutes=1))
        expired = await schwab.refresh(body["refresh_token"])
        assert expired.json() == {"error": "invalid_client",
                                  "error_description": "refresh token invalid"}


async def test_tradier_basic_auth_separate_refresh_path_no_rotation() -> None:
    assert TRADIER.oauth is not None
    config = replace(TRADIER.oauth, clients=(TEST_CLIENT,))
    async with serve(config, broker=BrokerType.TRADIER) as (server, env, router):
        client = OAuthClient(oauth_config_for("tradier", base_url=server.url),
                             OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                             MemoryPendingStateStore(), clock=env.engine.now)
        start = await client.begin(REDIRECT)
        assert "scope=read%2Cwrite%2Cmarket%2Ctrade%2Cstream" in start.authorize_url
        async with httpx.AsyncClient() as http:
            redirect = (await http.get(start.authorize_url)).headers["location"]
        tokens = await client.complete(redirect)
        assert tokens.expires_at == env.engine.now() + timedelta(hours=24) - timedelta(seconds=1)
        assert tokens.refresh_token is not None
        assert tokens.refresh_expires_at is None  # Tradier refresh tokens do not expire
        refreshed = await client.refresh(tokens)
        assert refreshed.refresh_token == tokens.refresh_token  # not rotated: kept
        assert refreshed.scope == "read write market trade stream"
        assert await whoami(server.url, refreshed.access_token) == 200
        stats = router.server.stats
        assert (stats.code_grants, stats.refresh_grants) == (1, 1)


async def test_alpaca_post_auth_token_without_expiry_or_refresh() -> None:
    assert ALPACA.oauth is not None
    config = replace(ALPACA.oauth, clients=(TEST_CLIENT,))
    async with serve(config, broker=BrokerType.ALPACA) as (server, env, _router):
        client = OAuthClient(oauth_config_for("alpaca", base_url=server.url),
                             OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                             MemoryPendingStateStore(), clock=env.engine.now)
        start = await client.begin(REDIRECT)
        async with httpx.AsyncClient() as http:
            redirect = (await http.get(start.authorize_url)).headers["location"]
        tokens = await client.complete(redirect)
        assert (tokens.expires_at, tokens.refresh_token) == (None, None)
        assert tokens.scope == "account:write trading"
        env.advance(timedelta(hours=26))
        assert await whoami(server.url, tokens.access_token) == 200


async def test_client_maps_dead_refresh_and_bad_client_errors() -> None:
    async with serve(schwab_oauth_server_config(TEST_CLIENT)) as (server, env, router):
        good = OAuthClient(SCHWAB_OAUTH.for_base_url(server.url),
                           OAuthClientCredentials(CLIENT_ID, SecretStr(CLIENT_SECRET)),
                           MemoryPendingStateStore(), clock=env.engine.now)
        start = await good.begin(REDIRECT)
        async with httpx.AsyncClient() as http:
            redirect = (await http.get(start.authorize_url)).headers["location"]
        tokens = await good.complete(redirect)
        router.server.revoke_all()
        with pytest.raises(RefreshTokenRejectedError, match="sign in again") as dead:
            await good.refresh(tokens)
        assert dead.value.broker_code == "invalid_client"
        bad = OAuthClient(SCHWAB_OAUTH.for_base_url(server.url),
                          OAuthClientCredentials(CLIENT_ID, SecretStr("wrong-secret")),
                          MemoryPendingStateStore(), clock=env.engine.now)
        start = await bad.begin(REDIRECT)
        async with httpx.AsyncClient() as http:
            redirect = (await http.get(start.authorize_url)).headers["location"]
        with pytest.raises(TokenEndpointError, match="client id") as refused:
            await bad.complete(redirect)
        assert "wrong-secret" not in str(refused.value)
        assert "wrong-secret" not in repr(refused.value)


# --- crafted authorize requests (issue 19, item 3): every one refused, none redirected --

CRAFTED_REDIRECTS = [
    "http://evil.example\\@127.0.0.1:5555/callback",
    "http://evil.example%2f@127.0.0.1:5555/callback",
    "http://evil.example@127.0.0.1:5555/callback",
    "http://user:pass@127.0.0.1:5555/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:abc/callback",
    "http://127.0.0.1:-1/callback",
    "http://127.0.0.1:0/callback",
    "http://127.0.0.1:5555%2f%2fevil.example/callback",
    "http://127.0.0.1:5555:6666/callback",
    "http://127.0.0.1:5555/callback/../evil",
    "http://127.0.0.1:5555/callbackx",
    "http://127.0.0.1:5555/Callback",
    "http://127.0.0.1:5555/callback?next=http://evil.example",
    "http://127.0.0.1:5555/callback#frag",
    "https://127.0.0.1:5555/callback",
    "http://127.0.0.2:5555/callback",
    "http://localhost.evil.example:5555/callback",
    "http://127.0.0.1.evil.example/callback",
    "http://127.0.0.1:5555\\callback",
    "http://127.0.0.1:5555/call back",
    "http://127.0.0.1:5555/callback\u00e9",
    "//127.0.0.1:5555/callback",
    "javascript:alert(1)//127.0.0.1/callback",
    "",
    "http://127.0.0.1:5555/" + "a" * 3000,
]


@pytest.mark.parametrize("redirect_uri", CRAFTED_REDIRECTS)
async def test_crafted_redirect_uris_are_refused_with_invalid_request(
        schwab: Schwab, redirect_uri: str) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": redirect_uri, "state": "s1"}
    response = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize",
                                     params=params)
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert "invalid_request" in response.text


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1:5555/callback", "http://127.0.0.1:1/callback",
    "http://127.0.0.1:65535/callback", "http://127.0.0.1/callback"])
async def test_loopback_port_is_free_and_nothing_else(schwab: Schwab,
                                                      redirect_uri: str) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": redirect_uri, "state": "s1"}
    response = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize", params=params)
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(redirect_uri + "?")


@pytest.mark.parametrize(("name", "value"), [
    ("state", "s" * 1025), ("state", "s" * 60_000), ("state", "caf\u00e9"),
    ("state", "line\nbreak"), ("scope", "x" * 5000), ("code_challenge", "c" * 5000),
    ("nonce", "n" * 5000)])
async def test_oversized_or_unprintable_parameters_are_refused(
        schwab: Schwab, name: str, value: str) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": "s1", name: value}
    response = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert value not in response.text


async def test_state_at_the_bound_is_reflected(schwab: Schwab) -> None:
    state = "s" * 1024
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": state}
    response = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize", params=params)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["state"] == [state]


async def test_too_many_parameters_and_oversized_token_forms_are_refused(
        schwab: Schwab) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT,
              **{f"p{i}": "x" for i in range(40)}}
    refused = await schwab.http.get(f"{schwab.url}/v1/oauth/authorize", params=params)
    assert refused.status_code == 400
    big = await schwab.token({"grant_type": "authorization_code", "code": "c" * 20_000})
    assert (big.status_code, big.json()["error"]) == (400, "invalid_request")


async def test_token_endpoint_refuses_a_crafted_redirect_uri(schwab: Schwab) -> None:
    code = await schwab.code()
    crafted = await schwab.token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": "http://evil.example\\@127.0.0.1:8765/callback"})
    assert (crafted.status_code, crafted.json()["error"]) == (400, "invalid_grant")

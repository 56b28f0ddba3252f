"""PKCE verifier and state generation, and the S256 challenge."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from brokerlink.auth.memory_stores import MemoryPendingStateStore
from brokerlink.auth.oauth import (
    OAuthClient,
    generate_code_verifier,
    generate_state,
    s256_challenge,
    state_id,
)
from brokerlink.auth.oauth_config import OAuthClientCredentials, oauth_config_for
from brokerlink.auth.oauth_errors import UnknownStateError
from brokerlink.core.errors import AuthError
from tests.oauth_providers import SCHWAB_OAUTH

UNRESERVED = re.compile(r"^[A-Za-z0-9\-._~]+$")


def test_code_verifier_has_at_least_256_bits_and_rfc_7636_syntax() -> None:
    verifiers = {generate_code_verifier().get_secret_value() for _ in range(200)}
    assert len(verifiers) == 200
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert UNRESERVED.match(verifier)
        # Each base64url character carries 6 bits of the random bytes.
        assert len(verifier) * 6 >= 256 + 6
    alphabet = {c for v in verifiers for c in v}
    assert len(alphabet) >= 60  # uses (nearly) all 64 base64url characters
    assert math.log2(len(alphabet)) * 64 >= 256


def test_state_has_at_least_128_bits() -> None:
    states = {generate_state().get_secret_value() for _ in range(200)}
    assert len(states) == 200
    assert all(len(s) * 6 >= 128 for s in states)


def test_s256_challenge_is_base64url_sha256_without_padding() -> None:
    verifier = SecretStr("dBjftJeZ4CVP-mJ92K9ONlWXO1Ivs1fG_wyUsJlMaGFo")
    expected = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.get_secret_value().encode("ascii")).digest()).rstrip(b"=")
    assert s256_challenge(verifier) == expected.decode()
    assert "=" not in s256_challenge(generate_code_verifier())
    assert len(s256_challenge(generate_code_verifier())) == 43


def test_state_id_is_the_sha256_hex() -> None:
    state = SecretStr("abc")
    assert state_id(state) == hashlib.sha256(b"abc").hexdigest()


async def test_authorize_url_carries_state_and_challenge_but_never_the_verifier() -> None:
    store = MemoryPendingStateStore()
    client = OAuthClient(SCHWAB_OAUTH, OAuthClientCredentials("app-key", SecretStr("app-secret")),
                         store)
    start = await client.begin("https://127.0.0.1:8182/callback")
    query = parse_qs(urlsplit(start.authorize_url).query)
    assert query["client_id"] == ["app-key"]
    assert query["redirect_uri"] == ["https://127.0.0.1:8182/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_type"] == ["code"]
    state = SecretStr(query["state"][0])
    assert state_id(state) == start.state_id
    pending = await store.take(state, now=start.expires_at.replace(year=2000))
    assert query["code_challenge"] == [s256_challenge(pending.code_verifier)]
    assert pending.code_verifier.get_secret_value() not in start.authorize_url
    assert "app-secret" not in start.authorize_url
    assert "app-secret" not in repr(client)


async def test_a_callback_is_refused_by_another_brokers_client() -> None:
    store = MemoryPendingStateStore()
    credentials = OAuthClientCredentials("app-key", SecretStr("app-secret"))
    schwab = OAuthClient(SCHWAB_OAUTH, credentials, store)
    tradier = OAuthClient(oauth_config_for("tradier"), credentials, store)
    start = await schwab.begin("https://127.0.0.1:8182/callback")
    state = parse_qs(urlsplit(start.authorize_url).query)["state"][0]
    with pytest.raises(UnknownStateError, match="schwab sign-in"):
        await tradier.complete(f"https://127.0.0.1:8182/callback?code=c&state={state}")


async def test_plain_http_redirect_is_only_allowed_on_loopback() -> None:
    client = OAuthClient(SCHWAB_OAUTH, OAuthClientCredentials("k", SecretStr("s")),
                         MemoryPendingStateStore())
    with pytest.raises(AuthError, match="plain http"):
        await client.begin("http://example.com/callback")
    await client.begin("http://127.0.0.1:5000/callback")
    await client.begin("https://example.com/callback")

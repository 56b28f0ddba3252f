"""TokenManager: refresh ahead, single flight, rotation durability, reauth without storms."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared.credentials import CredentialSource
from brokerlink.auth.memory_stores import MemoryTokenStore
from brokerlink.auth.oauth_errors import RefreshTokenRejectedError
from brokerlink.auth.tokens import TokenManager, TokenSet, refresh_due_at
from brokerlink.core.errors import BrokerUnavailableError, ReauthRequiredError

from .support import START, FakeClock, FakeRefresher

CONN = "conn-1"


async def _manager(lifetime: timedelta | None = timedelta(minutes=30), *, rotate: bool = True
                   ) -> tuple[TokenManager, MemoryTokenStore, FakeRefresher, FakeClock]:
    clock = FakeClock()
    refresher = FakeRefresher(clock, lifetime=lifetime, rotate=rotate)
    store = MemoryTokenStore()
    await store.save(CONN, refresher.initial())
    return TokenManager(CONN, store, refresher, clock=clock), store, refresher, clock


def _bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_refresh_due_is_the_earlier_of_five_minutes_early_and_80_percent() -> None:
    # 30 min: 80 % (24 min) is earlier than 25 min.
    assert refresh_due_at(START, START + timedelta(minutes=30)) == START + timedelta(minutes=24)
    # 24 h: 80 % (19.2 h) is earlier than 5 minutes before expiry.
    day = timedelta(hours=24)
    assert refresh_due_at(START, START + day) == START + timedelta(hours=19, minutes=12)
    # 20 min: 5 minutes early (15 min) is earlier than 80 % (16 min).
    assert refresh_due_at(START, START + timedelta(minutes=20)) == START + timedelta(minutes=15)
    # Very short lifetimes are not refreshed on every call: never before half-life.
    assert refresh_due_at(START, START + timedelta(minutes=2)) == START + timedelta(minutes=1)
    assert refresh_due_at(START, None) is None


def test_token_set_repr_hides_secrets_and_requires_aware_times() -> None:
    tokens = TokenSet(access_token=SecretStr("at-123456"), issued_at=START,
                      refresh_token=SecretStr("rt-654321"))
    assert "at-123456" not in repr(tokens)
    assert "rt-654321" not in repr(tokens)
    with pytest.raises(ValueError, match="timezone-aware"):
        TokenSet(access_token=SecretStr("x"), issued_at=START.replace(tzinfo=None))


async def test_manager_is_a_credential_source() -> None:
    manager, *_ = await _manager()
    assert isinstance(manager, CredentialSource)
    assert "Bearer" in (await manager.auth_headers())["Authorization"]


async def test_no_call_is_ever_made_with_an_expired_token() -> None:
    manager, _store, refresher, clock = await _manager(timedelta(minutes=30))
    issued_by_value = {t.access_token.get_secret_value(): t for t in refresher.issued}
    # Walk 10 hours in 47-second steps: every handed-out token must be unexpired, and
    # have at least 5 minutes left (refresh-ahead), with one refresh per ~24 minutes.
    for _ in range(int(timedelta(hours=10) / timedelta(seconds=47))):
        token = _bearer(await manager.auth_headers())
        issued_by_value.update({t.access_token.get_secret_value(): t for t in refresher.issued})
        granted = issued_by_value[token]
        assert granted.expires_at is not None
        assert granted.expires_at - clock() >= timedelta(minutes=5)
        clock.advance(timedelta(seconds=47))
    assert 24 <= len(refresher.calls) <= 26
    for call, previous in zip(refresher.calls, refresher.issued, strict=False):
        # Each refresh happened at or after 80 % of the previous token's lifetime.
        assert call.at >= previous.issued_at + timedelta(minutes=24)


async def test_concurrent_callers_share_one_refresh() -> None:
    manager, store, refresher, clock = await _manager()
    clock.advance(timedelta(minutes=25))
    refresher.gate = asyncio.Event()
    callers = [asyncio.create_task(manager.auth_headers()) for _ in range(20)]
    await asyncio.sleep(0.01)
    refresher.gate.set()
    tokens = {_bearer(h) for h in await asyncio.gather(*callers)}
    assert len(refresher.calls) == 1
    assert len(tokens) == 1
    stored = await store.load(CONN)
    assert (stored.refresh_attempts, stored.refresh_successes) == (1, 1)


async def test_on_unauthorized_refreshes_once_even_when_many_requests_got_401() -> None:
    manager, _store, refresher, clock = await _manager()
    before = _bearer(await manager.auth_headers())
    results = await asyncio.gather(*(manager.on_unauthorized() for _ in range(5)))
    assert results == [True] * 5
    assert len(refresher.calls) == 1
    assert _bearer(await manager.auth_headers()) != before
    # Once the grace period has passed, a new 401 does refresh again.
    clock.advance(timedelta(seconds=11))
    assert await manager.on_unauthorized() is True
    assert len(refresher.calls) == 2


async def test_rotated_refresh_token_is_stored_before_the_new_access_token_is_used() -> None:
    manager, store, refresher, clock = await _manager()
    first = _bearer(await manager.auth_headers())
    clock.advance(timedelta(minutes=25))
    new_access = _bearer(await manager.auth_headers())
    stored = (await store.load(CONN)).tokens
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == refresher.current_refresh
    assert stored.access_token.get_secret_value() == new_access != first


async def test_a_rotation_that_cannot_be_stored_is_never_used() -> None:
    manager, store, refresher, clock = await _manager()
    old = _bearer(await manager.auth_headers())
    clock.advance(timedelta(minutes=25))
    store.fail_next_commit = RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        await manager.auth_headers()
    stored = (await store.load(CONN)).tokens
    assert stored is not None
    assert stored.access_token.get_secret_value() == old
    assert len(refresher.issued) == 2  # the server did issue a new pair...
    # ...but nothing from it was handed out, and the store still holds the old pair.


async def test_invalid_grant_marks_reauth_and_stops_all_further_requests() -> None:
    manager, store, refresher, clock = await _manager()
    clock.advance(timedelta(minutes=25))
    refresher.fail_with = RefreshTokenRejectedError("dead", broker_code="invalid_grant")
    with pytest.raises(ReauthRequiredError, match="sign in again"):
        await manager.auth_headers()
    stored = await store.load(CONN)
    assert stored.reauth_required
    assert (stored.refresh_attempts, stored.refresh_successes) == (1, 0)
    for _ in range(5):
        with pytest.raises(ReauthRequiredError):
            await manager.auth_headers()
        with pytest.raises(ReauthRequiredError):
            await manager.on_unauthorized()
    # A second manager (another process) also refuses at once from the stored flag.
    other = TokenManager(CONN, store, refresher, clock=clock)
    with pytest.raises(ReauthRequiredError):
        await other.auth_headers()
    assert len(refresher.calls) == 1


async def test_a_new_sign_in_clears_reauth() -> None:
    manager, store, refresher, clock = await _manager()
    refresher.fail_with = RefreshTokenRejectedError("dead", broker_code="invalid_grant")
    with pytest.raises(ReauthRequiredError):
        await manager.on_unauthorized()
    await store.save(CONN, refresher.initial())
    fresh = TokenManager(CONN, store, refresher, clock=clock)
    assert _bearer(await fresh.auth_headers())


async def test_refresh_token_past_its_horizon_needs_reauth_without_a_request() -> None:
    clock = FakeClock()
    refresher = FakeRefresher(clock)
    store = MemoryTokenStore()
    initial = refresher.initial()
    horizon = START + timedelta(days=7)
    await store.save(CONN, TokenSet(
        access_token=initial.access_token, issued_at=START, expires_at=initial.expires_at,
        refresh_token=initial.refresh_token, refresh_expires_at=horizon))
    manager = TokenManager(CONN, store, refresher, clock=clock)
    await manager.auth_headers()
    assert manager.reauth_due_at == horizon
    clock.advance(timedelta(days=7, minutes=1))
    with pytest.raises(ReauthRequiredError, match="horizon"):
        await manager.auth_headers()
    assert refresher.calls == []
    assert (await store.load(CONN)).reauth_required


async def test_transient_failure_keeps_the_still_valid_token_and_counts_the_attempt() -> None:
    manager, store, refresher, clock = await _manager()
    old = _bearer(await manager.auth_headers())
    clock.advance(timedelta(minutes=25))  # due, but 5 minutes of validity left
    refresher.fail_with = BrokerUnavailableError("503")
    assert _bearer(await manager.auth_headers()) == old
    stored = await store.load(CONN)
    assert (stored.refresh_attempts, stored.refresh_successes, stored.reauth_required) == (
        1, 0, False)
    # Calls right after use the valid token without hammering the failing server...
    assert _bearer(await manager.auth_headers()) == old
    assert len(refresher.calls) == 1
    # ...and after the backoff the refresh is retried and succeeds.
    clock.advance(timedelta(seconds=16))
    assert _bearer(await manager.auth_headers()) != old
    stored = await store.load(CONN)
    assert (stored.refresh_attempts, stored.refresh_successes) == (2, 1)
    assert stored.refresh_success_rate == 0.5


async def test_transient_failure_near_expiry_raises_the_transient_error() -> None:
    manager, _store, refresher, clock = await _manager()
    await manager.auth_headers()
    clock.advance(timedelta(minutes=29, seconds=30))
    refresher.fail_with = BrokerUnavailableError("503")
    with pytest.raises(BrokerUnavailableError):
        await manager.auth_headers()


async def test_non_rotating_server_keeps_the_old_refresh_token() -> None:
    manager, store, refresher, clock = await _manager(rotate=False)
    original = refresher.current_refresh
    clock.advance(timedelta(minutes=25))
    await manager.auth_headers()
    stored = (await store.load(CONN)).tokens
    assert stored is not None
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == original


async def test_token_without_expiry_or_refresh_token_is_used_as_is() -> None:
    clock = FakeClock()
    refresher = FakeRefresher(clock, lifetime=None)
    store = MemoryTokenStore()
    await store.save(CONN, TokenSet(access_token=SecretStr("alpaca-token-1"), issued_at=START))
    manager = TokenManager(CONN, store, refresher, clock=clock)
    clock.advance(timedelta(days=400))
    assert _bearer(await manager.auth_headers()) == "alpaca-token-1"
    assert await manager.on_unauthorized() is False
    assert refresher.calls == []


async def test_no_tokens_stored_raises_reauth() -> None:
    clock = FakeClock()
    manager = TokenManager("nothing", MemoryTokenStore(), FakeRefresher(clock), clock=clock)
    with pytest.raises(ReauthRequiredError, match="no stored tokens"):
        await manager.auth_headers()

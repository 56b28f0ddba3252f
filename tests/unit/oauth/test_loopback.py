"""The RFC 8252 loopback receiver: one callback, then closed."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from brokerlink.auth.loopback import LoopbackReceiver
from brokerlink.auth.oauth import state_id
from brokerlink.auth.oauth_errors import LoopbackTimeoutError


async def test_accepts_exactly_one_callback_then_refuses() -> None:
    async with LoopbackReceiver() as receiver, httpx.AsyncClient() as http:
        assert receiver.redirect_uri.startswith("http://127.0.0.1:")
        assert receiver.port > 0
        other = await http.get(f"http://127.0.0.1:{receiver.port}/favicon.ico")
        assert other.status_code == 404
        assert not receiver.received
        receiver.expect_state(state_id(SecretStr("xyz")))
        first = await http.get(receiver.redirect_uri + "?code=abc%40&state=xyz")
        assert first.status_code == 200
        assert "close this window" in first.text
        assert first.headers["cache-control"] == "no-store"
        url = await receiver.wait(1)
        assert url.get_secret_value() == receiver.redirect_uri + "?code=abc%40&state=xyz"
        assert "abc" not in repr(url)
        # The listener is closed: a second callback cannot be delivered.
        with pytest.raises(httpx.ConnectError):
            await http.get(receiver.redirect_uri + "?code=second&state=xyz")
        assert (await receiver.wait(1)).get_secret_value().endswith("code=abc%40&state=xyz")


async def test_error_callback_is_the_one_callback_too() -> None:
    async with LoopbackReceiver(path="/cb") as receiver, httpx.AsyncClient() as http:
        receiver.expect_state(state_id(SecretStr("s")))
        response = await http.get(receiver.redirect_uri + "?error=access_denied&state=s")
        assert response.status_code == 200
        assert "error=access_denied" in (await receiver.wait(1)).get_secret_value()


async def test_other_methods_are_refused() -> None:
    async with LoopbackReceiver() as receiver, httpx.AsyncClient() as http:
        response = await http.post(receiver.redirect_uri, content=b"x")
        assert response.status_code == 405
        assert not receiver.received


async def test_times_out_with_a_typed_error() -> None:
    async with LoopbackReceiver(timeout=0.05) as receiver:
        with pytest.raises(LoopbackTimeoutError, match="start the sign-in again"):
            await receiver.wait()


async def test_a_forged_callback_is_refused_and_the_real_one_still_lands() -> None:
    async with LoopbackReceiver() as receiver, httpx.AsyncClient() as http:
        receiver.expect_state(state_id(SecretStr("the-real-state")))
        for forged in ("?code=evil&state=wrong", "?code=evil", "?error=access_denied",
                       "?code=evil&state=the-real-state&state=wrong", "",
                       "?code=x&state=%ED%A0%80", "?state=the-real-state%00"):
            response = await http.get(receiver.redirect_uri + forged)
            assert response.status_code == 400, forged
            assert not receiver.received
        assert receiver.refused == 7
        real = await http.get(receiver.redirect_uri + "?code=good&state=the-real-state")
        assert real.status_code == 200
        url = (await receiver.wait(1)).get_secret_value()
        assert url.endswith("code=good&state=the-real-state")


async def test_without_an_expected_state_every_callback_is_refused() -> None:
    async with LoopbackReceiver(timeout=0.2) as receiver, httpx.AsyncClient() as http:
        response = await http.get(receiver.redirect_uri + "?code=c&state=s")
        assert response.status_code == 400
        with pytest.raises(LoopbackTimeoutError):
            await receiver.wait()

"""The RFC 8252 loopback receiver: one callback, then closed."""

from __future__ import annotations

import httpx
import pytest

from brokerlink.auth.loopback import LoopbackReceiver
from brokerlink.auth.oauth_errors import LoopbackTimeoutError


async def test_accepts_exactly_one_callback_then_refuses() -> None:
    async with LoopbackReceiver() as receiver, httpx.AsyncClient() as http:
        assert receiver.redirect_uri.startswith("http://127.0.0.1:")
        assert receiver.port > 0
        other = await http.get(f"http://127.0.0.1:{receiver.port}/favicon.ico")
        assert other.status_code == 404
        assert not receiver.received
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

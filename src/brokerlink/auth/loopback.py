"""The RFC 8252 loopback receiver: catches one OAuth redirect on ``127.0.0.1``.

A desktop or CLI sign-in opens the browser at the authorize URL with
``redirect_uri = http://127.0.0.1:<random port>/callback``; the broker redirects the
browser there and this tiny HTTP server takes the request, answers a "you can close
this window" page, and stops listening. It accepts exactly one ``GET`` on its callback
path, and only one that carries the ``state`` of the sign-in in progress
(``expect_state``): any other local process or browser tab that calls the callback path
gets 400 and the receiver keeps waiting for the real one until its timeout. Other paths
get 404, and any callback after the accepted one gets 410. The callback URL carries the
authorization code, so it is handed over as a ``SecretStr`` and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from urllib.parse import parse_qs

from pydantic import SecretStr

from brokerlink.auth.oauth import CompletedAuthorization, OAuthClient
from brokerlink.auth.oauth_errors import LoopbackTimeoutError, OAuthFlowError

__all__ = ["DEFAULT_CALLBACK_PATH", "LoopbackReceiver", "sign_in_via_loopback"]

DEFAULT_CALLBACK_PATH = "/callback"
_MAX_REQUEST_HEAD = 16 * 1024
_READ_TIMEOUT = 10.0

_DONE_PAGE = (
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>brokerlink</title></head>"
    "<body style=\"font-family:sans-serif;margin:3em\"><h1>Sign-in received</h1>"
    "<p>brokerlink has the answer from your broker. You can close this window.</p>"
    "</body></html>"
)


class LoopbackReceiver:
    """A one-shot HTTP server on ``127.0.0.1`` and a random free port.

    Use as ``async with LoopbackReceiver() as receiver:`` then pass
    ``receiver.redirect_uri`` to ``OAuthClient.begin`` and ``await receiver.wait()``.
    Nothing but the loopback interface is bound.
    """

    def __init__(self, *, path: str = DEFAULT_CALLBACK_PATH, timeout: float = 300.0) -> None:
        if not path.startswith("/"):
            raise ValueError("the callback path must start with '/'")
        self.path = path
        self.timeout = timeout
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._result: asyncio.Future[SecretStr] | None = None
        self._expected_state_id: str | None = None
        self.refused = 0
        """Callbacks answered 400 because their state was not the sign-in's."""

    def __repr__(self) -> str:
        return f"LoopbackReceiver(port={self._port}, path={self.path!r})"

    @property
    def port(self) -> int:
        if self._port is None:
            raise OAuthFlowError("the loopback receiver is not started; use `async with`")
        return self._port

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port><path>``: register exactly this with the broker."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def expect_state(self, state_id: str) -> None:
        """Accept only the callback whose ``state`` hashes to ``state_id`` (the
        ``AuthorizationStart.state_id`` of the sign-in in progress). Until this is called
        every callback is refused, since none can be told apart from a forgery."""
        if len(state_id) != 64:
            raise OAuthFlowError("expect_state takes the sign-in's state_id (SHA-256 hex)")
        self._expected_state_id = state_id.lower()

    @property
    def received(self) -> bool:
        return self._result is not None and self._result.done()

    async def start(self) -> None:
        """Bind ``127.0.0.1`` on a free port. Raises ``OSError`` if it cannot."""
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, host="127.0.0.1", port=0)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def __aenter__(self) -> LoopbackReceiver:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def wait(self, within: float | None = None) -> SecretStr:
        """The full callback URL (as a secret: it holds the code), once it arrives.

        Raises ``LoopbackTimeoutError`` after ``within`` seconds (default: the
        constructor's), after which the receiver is stopped.
        """
        if self._result is None:
            raise OAuthFlowError("the loopback receiver is not started; use `async with`")
        limit = self.timeout if within is None else within
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), limit)
        except TimeoutError as exc:
            await self.stop()
            raise LoopbackTimeoutError(
                f"no sign-in callback arrived within {limit:g} s; start the sign-in again "
                "and finish it in the browser") from exc

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            if len(head) > _MAX_REQUEST_HEAD:
                await _respond(writer, 431, "Request Header Fields Too Large", "too large")
                return
            status, reason, body = self._route(head)
            await _respond(writer, status, reason, body)
            if status == 200 and self._server is not None:
                # The browser has its page: stop accepting connections (no wait here:
                # waiting for the server to close would wait for this very connection).
                self._server.close()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(self, head: bytes) -> tuple[int, str, str]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, "Bad Request", "bad request"
        method, target = parts[0], parts[1]
        path = target.split("?", 1)[0]
        if path != self.path:
            return 404, "Not Found", "not found"
        if method != "GET":
            return 405, "Method Not Allowed", "method not allowed"
        result = self._result
        if result is None or result.done():
            return 410, "Gone", "this sign-in callback was already received"
        if not self._matches(target):
            self.refused += 1
            return 400, "Bad Request", ("this callback does not belong to the sign-in in "
                                        "progress; it was ignored")
        result.set_result(SecretStr(f"http://127.0.0.1:{self._port}{target}"))
        return 200, "OK", _DONE_PAGE

    def _matches(self, target: str) -> bool:
        expected = self._expected_state_id
        if expected is None:
            return False
        query = target.split("?", 1)[1] if "?" in target else ""
        try:
            states = parse_qs(query, keep_blank_values=True, encoding="utf-8",
                              errors="strict", max_num_fields=20).get("state", [])
        except (UnicodeError, ValueError):
            return False
        if len(states) != 1:
            return False
        digest = hashlib.sha256(states[0].encode("utf-8", errors="surrogatepass")).hexdigest()
        return hmac.compare_digest(digest, expected)


async def sign_in_via_loopback(
    client: OAuthClient,
    open_url: Callable[[str], Awaitable[object] | object],
    *,
    scopes: Sequence[str] | None = None,
    connection_id: str | None = None,
    path: str = DEFAULT_CALLBACK_PATH,
    wait_seconds: float = 300.0,
) -> CompletedAuthorization:
    """A whole desktop sign-in: start a receiver, ``begin``, open the browser, ``complete``.

    ``open_url`` gets the authorize URL (e.g. ``webbrowser.open``; may be async). The
    broker must accept ``http://127.0.0.1:<any port><path>`` as redirect URI. Raises
    ``LoopbackTimeoutError`` if no callback arrives within ``wait_seconds``, and
    whatever ``OAuthClient.complete_authorization`` raises.
    """
    async with LoopbackReceiver(path=path, timeout=wait_seconds) as receiver:
        start = await client.begin(receiver.redirect_uri, scopes, connection_id=connection_id)
        receiver.expect_state(start.state_id)
        opened = open_url(start.authorize_url)
        if inspect.isawaitable(opened):
            await opened
        callback = await receiver.wait()
    return await client.complete_authorization(callback)


async def _respond(writer: asyncio.StreamWriter, status: int, reason: str, body: str) -> None:
    data = body.encode()
    content_type = "text/html" if status == 200 else "text/plain"
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\nCache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n\r\n".encode() + data)
    await writer.drain()

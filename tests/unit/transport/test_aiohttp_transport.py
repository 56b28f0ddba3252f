"""The aiohttp-backed httpx transport over real loopback sockets: what each failure says
about whether a request left, writes never resent on a reused connection, and bytes
on the wire exactly as httpx built them."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Literal

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from brokerlink.adapters._shared import RetryPolicy, StaticHeaders, Transport
from brokerlink.adapters._shared.aiohttp_transport import AiohttpTransport
from brokerlink.adapters._shared.transport import shared_ssl_context
from brokerlink.core.errors import BrokerConnectionError, RequestTimeoutError

from .support import RecordingSleep, closed_port_url, read_request

Answer = Literal["ok", "drop", "garbage", "gzip", "short"]


class ScriptedSocketServer:
    """A keep-alive HTTP/1.1 server answering the n-th request it reads (over all
    connections) with ``script[n]`` (the last repeats): ``ok`` a JSON 200, ``gzip`` the
    same body gzip-encoded, ``short`` a body cut off before its Content-Length,
    ``drop`` closing the connection after reading the request,
    ``garbage`` a line that is not HTTP. Every request read is kept in ``requests``."""

    def __init__(self, *script: Answer) -> None:
        self.script = list(script)
        self.requests: list[bytes] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tls: ssl.SSLContext | None = None

    def over_tls(self, context: ssl.SSLContext) -> ScriptedSocketServer:
        """Serve HTTPS with ``context`` instead of plain HTTP."""
        self._tls = context
        return self

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                answer = self.script[min(len(self.requests), len(self.script)) - 1]
                if answer == "drop":
                    return
                if answer == "short":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ok\"")
                    await writer.drain()
                    return
                if answer == "garbage":
                    writer.write(b"THIS IS NOT HTTP\r\n\r\n")
                    await writer.drain()
                    return
                body = json.dumps({"ok": True, "n": len(self.requests)}).encode()
                extra = b""
                if answer == "gzip":
                    body, extra = gzip.compress(body), b"Content-Encoding: gzip\r\n"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
                             + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport(ssl_context=shared_ssl_context()),
                                 timeout=httpx.Timeout(2.0)) as plain:
        yield plain


def _transport(url: str) -> Transport:
    return Transport(broker="tradier", base_url=url, credentials=StaticHeaders({}),
                     retry=RetryPolicy(sleep=RecordingSleep(), rng=random.Random(3)))


async def test_requests_share_one_kept_alive_connection(client: httpx.AsyncClient) -> None:
    server = ScriptedSocketServer("ok")
    async with server as url:
        for number in (1, 2, 3):
            response = await client.get(f"{url}/v1/x")
            assert response.json() == {"ok": True, "n": number}
            assert response.http_version == "HTTP/1.1"
            assert response.reason_phrase == "OK"
    assert server.connections == 1


async def test_query_and_body_reach_the_wire_as_httpx_encoded_them(
        client: httpx.AsyncClient) -> None:
    server = ScriptedSocketServer("ok")
    async with server as url:
        await client.post(f"{url}/v1/accounts/A%2FB/orders",
                          params={"symbols": "AAPL,MSFT", "q": "a b+c/d"},
                          data={"class": "equity", "price": "1.50"})
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    request_line = head.split(b"\r\n")[0]
    assert request_line == (b"POST /v1/accounts/A%2FB/orders?symbols=AAPL%2CMSFT&q=a+b%2Bc%2Fd "
                            b"HTTP/1.1")
    assert body == b"class=equity&price=1.50"
    assert head.lower().count(b"content-length:") == 1  # framing written once


async def test_a_gzip_body_is_decoded_by_httpx(client: httpx.AsyncClient) -> None:
    async with ScriptedSocketServer("gzip") as url:
        response = await client.get(f"{url}/v1/x")
    assert response.json() == {"ok": True, "n": 1}
    assert response.headers["content-encoding"] == "gzip"


async def test_refused_connect_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await client.get(f"{closed_port_url()}/v1/x")


async def test_a_reply_that_is_not_http_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    async with ScriptedSocketServer("garbage") as url:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{url}/v1/x")


@pytest.mark.parametrize("method", ["DELETE", "PUT", "POST", "PATCH"])
async def test_a_write_on_a_reused_connection_that_drops_is_sent_once(method: str) -> None:
    # aiohttp on its own resends PUT and DELETE when a kept-alive connection drops.
    server = ScriptedSocketServer("ok", "drop", "ok")
    async with server as url, _transport(url) as transport:
        await transport.request("GET", "/v1/x", operation="warm", write=False)
        with pytest.raises(RequestTimeoutError):
            await transport.request(method, "/v1/accounts/A/orders/1", operation="cancel",
                                    write=True, client_order_id="coid-1")
    assert [r.split(b" ", 1)[0].decode() for r in server.requests] == ["GET", method]
    assert server.connections == 1


@pytest.mark.parametrize("method", ["DELETE", "PUT"])
async def test_a_write_on_a_fresh_connection_that_drops_is_sent_once(method: str) -> None:
    # aiohttp resends PUT and DELETE once even on a brand-new connection (so sending
    # writes unpooled or with "Connection: close" would not prevent a second write); the
    # per-request _SendOnce middleware is what stops it.
    server = ScriptedSocketServer("drop", "ok")
    async with server as url, _transport(url) as transport:
        with pytest.raises(RequestTimeoutError):
            await transport.request(method, "/v1/accounts/A/orders/1", operation="cancel",
                                    write=True, client_order_id="coid-2")
    assert [r.split(b" ", 1)[0].decode() for r in server.requests] == [method]
    assert server.connections == 1


async def test_a_body_that_breaks_off_midway_is_a_read_error(
        client: httpx.AsyncClient) -> None:
    # Streamed bodies: a failure while reading the body is mapped like one in the head.
    async with ScriptedSocketServer("short") as url:
        with pytest.raises(httpx.ReadError):
            await client.get(f"{url}/v1/x")


async def test_a_read_on_a_connection_that_drops_is_retried_by_the_policy_alone() -> None:
    server = ScriptedSocketServer("ok", "drop", "drop", "drop", "drop")
    async with server as url, _transport(url) as transport:
        await transport.request("GET", "/v1/x", operation="warm", write=False)
        with pytest.raises(BrokerConnectionError):
            await transport.request("GET", "/v1/x", operation="read", write=False)
    # One warm-up, then exactly the policy's four attempts: aiohttp added none.
    assert len(server.requests) == 5


async def test_closing_and_reusing_the_transport_opens_a_new_pool() -> None:
    server = ScriptedSocketServer("ok")
    wire = AiohttpTransport(ssl_context=shared_ssl_context())
    async with server as url:
        async with httpx.AsyncClient(transport=wire) as first:
            await first.get(f"{url}/v1/x")
        async with httpx.AsyncClient(transport=wire) as second:
            assert (await second.get(f"{url}/v1/x")).json()["n"] == 2
    assert server.connections == 2


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "brokerlink test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls_is_verified_and_an_untrusted_certificate_sends_nothing(
        tmp_path: Path) -> None:
    cert_path, key_path = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)
    server = ScriptedSocketServer("ok")
    async with server.over_tls(server_tls) as url:
        assert url.startswith("https://127.0.0.1:")
        untrusting = AiohttpTransport(ssl_context=shared_ssl_context())
        async with httpx.AsyncClient(transport=untrusting) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/v1/x")
        assert server.requests == []  # refused before a byte of the request left

        trusting = ssl.create_default_context(cafile=str(cert_path))
        async with httpx.AsyncClient(transport=AiohttpTransport(ssl_context=trusting)) as client:
            assert (await client.get(f"{url}/v1/x")).json() == {"ok": True, "n": 1}

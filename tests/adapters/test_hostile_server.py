"""Every HTTP adapter in the registry, against a server that answers with garbage.

For each registered broker that talks HTTP, and each hostile answer below, every
``BrokerInterface`` call (connect, reads, place/modify/cancel, quotes) must end within
its budget either in a ``BrokerError`` subclass or with a value, never in an untyped
exception; a write answered 2xx must never end in an error other than the ambiguous
``RequestTimeoutError`` family (its answer was unreadable: the broker may have acted),
and a place or modify must not report success from such an answer. A new broker inherits
this by registering a spec (and an emulator under the same name, which the adapter
connects through before the server turns hostile).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from brokerlink.adapters import registry
from brokerlink.adapters._shared.send_port import DEFAULT_MAX_BODY_BYTES
from brokerlink.adapters._shared.spec import (
    BrokerSpec,
    ConnectionSettings,
    CredentialKind,
    EnvironmentKind,
)
from brokerlink.core.enums import OrderSide, OrderType
from brokerlink.core.errors import BrokerError, RequestTimeoutError
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.emulators import registry as emulators
from brokerlink.emulators._shared.server import EmulatorServer

from .hostile_server import Case, HostileServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALL_BUDGET = 10.0
"""Seconds one call may take: the server answers at once, so this is the adapters'
retries and backoff (a few seconds at most), never their 15 s read timeout."""

SOCKET_SLACK = 8 * 1024 * 1024
"""What the kernel's socket buffers may hold beyond what the client read."""

JSON = (("Content-Type", "application/json"),)
HTML = (("Content-Type", "text/html"),)

_WRONG_TYPES = {
    "id": ["x"], "status": {"a": 1}, "symbol": 7, "qty": "lots", "filled_qty": [],
    "created_at": "yesterday-ish", "submitted_at": 12, "client_order_id": None,
    "account_number": True, "equity": "NaN", "cash": "1e999999", "buying_power": "-inf",
    "profile": 5, "account": "x", "order": [1], "orders": 3, "positions": "none",
    "quotes": True, "balances": [], "history": 1.5, "events": {"a": "b"},
    "bid": "cheap", "ask": {}, "last": [], "timestamp": "1e400",
}

CASES = [
    Case("truncated_json", body=b'{"id": "a1", "status": "acc', headers=JSON),
    Case("truncated_frame", body=b'{"id": "a1"', headers=JSON, declared_length=4096),
    Case("wrong_types", body=json.dumps(_WRONG_TYPES).encode(), headers=JSON),
    Case("dropped_keys", body=b"{}", headers=JSON),
    Case("html_200", body=b"<html><body>Welcome</body></html>", headers=HTML),
    Case("html_502", status=502, body=b"<html>Bad Gateway</html>", headers=HTML),
    Case("html_503", status=503, body=b"<html>Down</html>", headers=HTML),
    Case("empty_200", body=b"", headers=JSON),
    Case("null", body=b"null", headers=JSON),
    Case("list_for_object", body=b'[{"id": 1}, 2, "three"]', headers=JSON),
    Case("huge", headers=JSON, endless=True),
    Case("huge_declared", body=b"[", headers=JSON,
         declared_length=DEFAULT_MAX_BODY_BYTES * 8),
    Case("deep", body=b"[" * 100_000 + b"]" * 100_000, headers=JSON),
    Case("deep_object", body=b'{"a":' * 100_000 + b"1" + b"}" * 100_000, headers=JSON),
    Case("invalid_utf8", body=b'{"id": "\xff\xfe", "status": "\xc3\x28"}', headers=JSON),
    Case("teapot_418", status=418, body=b'{"message": "I am a teapot"}', headers=JSON),
    Case("redirect_302", status=302, body=b"",
         headers=(("Location", "http://127.0.0.1:9/elsewhere"),)),
    Case("no_content_204", status=204, body=b"", headers=()),
    Case("created_empty_201", status=201, body=b"", headers=JSON),
    *(Case(f"retry_after_{label}", status=429, body=b'{"message": "slow down"}',
           headers=(*JSON, ("Retry-After", value)))
      for label, value in (("negative", "-1"), ("overflow", "1e400"), ("nan", "nan"),
                           ("year_99999", "Fri, 31 Dec 99999 23:59:59 GMT"))),
]


def _http_specs() -> list[BrokerSpec]:
    """Registered brokers reachable over the network (an emulator or a host)."""
    return [spec for spec in registry.specs()
            if any(env.kind is EnvironmentKind.EMULATOR or env.base_url
                   for env in spec.environments)]


SPECS = _http_specs()


@dataclass
class Rig:
    spec: BrokerSpec
    hostile: HostileServer
    url: str
    settings: ConnectionSettings


async def _emulator_credentials(spec: BrokerSpec, admin: httpx.AsyncClient
                                ) -> tuple[SecretStr, SecretStr | None]:
    created = (await admin.post("/_emulator/accounts",
                                json={"cash": "100000", "bearer": True})).json()
    kinds = {c.kind for c in spec.credentials}
    if CredentialKind.API_KEY in kinds:
        return SecretStr(created["api_key_id"]), SecretStr(created["api_secret"])
    return SecretStr(created["access_token"]), None


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=SPECS,
                        ids=[s.broker_type.value for s in SPECS])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    spec: BrokerSpec = request.param
    name = spec.broker_type.value
    hostile = HostileServer()
    if name not in emulators.names():
        # No emulator to connect through: only connect itself meets the hostile server.
        async with hostile.running() as url:
            yield Rig(spec, hostile, url, ConnectionSettings(
                connection_id=f"conn-hostile-{name}", base_url=url,
                api_key=SecretStr("hostile-key-0001"), api_secret=SecretStr("hostile-sec-01")))
        return
    async with EmulatorServer(emulators.create_app(name)) as emulator, \
            httpx.AsyncClient(base_url=emulator.url) as admin:
        key, secret = await _emulator_credentials(spec, admin)
        hostile.upstream = emulator.url
        async with hostile.running() as url:
            yield Rig(spec, hostile, url, ConnectionSettings(
                connection_id=f"conn-hostile-{name}", base_url=url, api_key=key,
                api_secret=secret))


def _order() -> OrderRequest:
    return OrderRequest(symbol="AAPL", side=OrderSide.BUY, quantity=Decimal("1"),
                        order_type=OrderType.LIMIT, limit_price=Decimal("100.00"),
                        client_order_id="bl-hostile-0001")


Method = Callable[[BrokerInterface], Awaitable[Any]]

READS: dict[str, Method] = {
    "get_account": lambda b: b.get_account(),
    "get_balances": lambda b: b.get_balances(),
    "get_positions": lambda b: b.get_positions(),
    "get_order": lambda b: b.get_order("hostile-order-1"),
    "get_order_by_client_id": lambda b: b.get_order_by_client_id("bl-hostile-0001"),
    "get_orders": lambda b: b.get_orders(),
    "get_order_history": lambda b: b.get_order_history(date(2026, 3, 2), date(2026, 3, 3)),
    "get_transactions": lambda b: b.get_transactions(date(2026, 3, 2), date(2026, 3, 3)),
    "get_quote": lambda b: b.get_quote("AAPL"),
    "get_quotes": lambda b: b.get_quotes(["AAPL", "MSFT"]),
}
WRITES: dict[str, Method] = {
    "place_order": lambda b: b.place_order(_order()),
    "modify_order": lambda b: b.modify_order(
        "hostile-order-1", OrderModify(limit_price=Decimal("101.00"))),
    "cancel_order": lambda b: b.cancel_order("hostile-order-1"),
}


async def _outcome(call: Awaitable[Any]) -> BaseException | str:
    try:
        async with asyncio.timeout(CALL_BUDGET):
            await call
    except BaseException as exc:  # what ended the call is the result
        return exc
    return "returned"


def _verdict(method: str, case: Case, outcome: BaseException | str, *,
             wrote: bool = False) -> str | None:
    """Why ``outcome`` breaks the contract, or None if it keeps it. ``wrote``: the call
    sent the server a write (not only the reads some adapters make first)."""
    if isinstance(outcome, TimeoutError):
        return f"still running after {CALL_BUDGET} s"
    if isinstance(outcome, BaseException) and not isinstance(outcome, BrokerError):
        return f"untyped {type(outcome).__module__}.{type(outcome).__qualname__}: " \
               f"{str(outcome)[:120]}"
    if wrote and case.success:
        if isinstance(outcome, BrokerError) and not isinstance(outcome, RequestTimeoutError):
            return f"a 2xx write ended in {type(outcome).__name__}, a claim it was not " \
                   "acted on, though the broker may have acted"
        if outcome == "returned" and method != "cancel_order":
            return "reported success from an unreadable acknowledgement"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_call_ends_typed(rig: Rig, case: Case) -> None:
    spec = rig.spec
    rig.hostile.arm(None)
    connected = spec.connect(rig.settings)
    fresh = spec.connect(rig.settings)
    broken: list[str] = []

    def judge(name: str, outcome: BaseException | str, *, wrote: bool = False) -> None:
        why = _verdict(name, case, outcome, wrote=wrote)
        if why is not None:
            broken.append(f"{spec.broker_type.value}.{name} [{case.name}]: {why}")

    try:
        if rig.hostile.upstream is not None:
            await connected.connect()  # through the emulator, before the server turns
        rig.hostile.arm(case)
        reads: dict[str, Awaitable[Any]] = {"connect": fresh.connect()}
        if rig.hostile.upstream is not None:
            reads |= {name: method(connected) for name, method in READS.items()}
        # Reads (and connect) together, so retried ones cost one backoff, not many.
        for name, outcome in zip(reads, await asyncio.gather(
                *(_outcome(c) for c in reads.values())), strict=True):
            judge(name, outcome)
        if rig.hostile.upstream is not None:
            # Writes one at a time, to know whether each one's write reached the server.
            for name, method in WRITES.items():
                before = len(rig.hostile.seen)
                outcome = await _outcome(method(connected))
                wrote = any(s.method != "GET" for s in rig.hostile.seen[before:])
                judge(name, outcome, wrote=wrote)
    finally:
        rig.hostile.arm(None)
        await asyncio.gather(connected.disconnect(), fresh.disconnect(),
                             return_exceptions=True)
    assert not broken, "\n".join(broken)


async def test_a_huge_body_is_not_read_past_the_cap(rig: Rig) -> None:
    fresh = rig.spec.connect(rig.settings)
    rig.hostile.arm(Case("huge", endless=True))
    try:
        outcome = await _outcome(fresh.connect())
        seen = list(rig.hostile.seen)
    finally:
        rig.hostile.arm(None)
        await fresh.disconnect()
    assert isinstance(outcome, BrokerError), repr(outcome)
    assert seen, "the adapter never reached the server"
    for request in seen:
        assert request.body_bytes_sent <= DEFAULT_MAX_BODY_BYTES + SOCKET_SLACK, request

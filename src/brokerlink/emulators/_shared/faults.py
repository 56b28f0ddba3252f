"""Seeded, per-endpoint fault injection for emulators, as ASGI middleware.

A ``FaultInjector`` holds ``FaultRule`` s. Each rule matches requests by HTTP method
plus a path pattern (``fnmatch`` style, e.g. ``/v2/orders*``) and/or an *operation*
(the route's name, which is the endpoint function's name, e.g. ``place_order``), fires
with a ``probability`` drawn from ``random.Random(seed)`` (so a run is repeatable), and
stops after ``count`` firings if given. Kinds:

``latency``
    wait ``latency`` seconds, then handle the request normally (combines with others).
``error``
    answer ``status`` (default 500) with ``body`` (default: the broker's own body for
    that status, from ``FaultInjector.default_bodies``) without running the handler.
``rate_limit``
    answer 429 with a ``Retry-After: <retry_after>`` header and the broker's 429 body.
``reset``
    close the TCP connection without any response; the handler does not run.
``drop_after``
    run the handler (a write *takes effect*: the order is placed), then close the TCP
    connection without sending the response. The client cannot tell whether it worked.
``stream_drop``
    close a websocket stream after ``after_messages`` messages (or, without it, before
    each message with ``probability``); see ``StreamHub``.
``stream_skip``
    silently leave out one stream message, with ``probability`` per message (once
    ``after_messages`` have been sent on that connection, if given), at most ``count``
    times: the websocket stays open and later messages still arrive, so the client gets
    no disconnect signal and only a later read (a reconcile) can repair what it missed.

Stream rules match the stream's path (method ``GET``; no operation) and never apply to
HTTP requests; a stream message is checked against the drop rules first. Every rule
counts its firings: ``describe()`` (``GET /_emulator/faults``) lists them as ``fired``.

Closing a connection "for real" needs the socket: an exception in an ASGI app only makes
uvicorn answer 500. ``EmulatorServer`` therefore runs uvicorn with a small protocol
subclass that puts the connection's asyncio transport into
``scope["extensions"]["brokerlink.transport"]``; the middleware calls
``transport.abort()`` on it (an RST: clients see ``ReadError``/``RemoteProtocolError``).
The admin API (``/_emulator``) is never faulted.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from starlette.routing import BaseRoute, Match

from brokerlink.emulators._shared.jsonio import dumps, to_jsonable

logger = logging.getLogger("brokerlink.emulators.faults")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TRANSPORT_EXTENSION = "brokerlink.transport"
"""Key in ``scope["extensions"]`` under which ``EmulatorServer`` exposes the transport."""

ADMIN_PREFIX = "/_emulator"


class FaultKind(StrEnum):
    LATENCY = "latency"
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    RESET = "reset"
    DROP_AFTER = "drop_after"
    STREAM_DROP = "stream_drop"
    STREAM_SKIP = "stream_skip"


STREAM_KINDS = frozenset({FaultKind.STREAM_DROP, FaultKind.STREAM_SKIP})
"""Kinds applied to websocket stream messages, never to HTTP requests."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One fault. Match fields left ``None`` match anything; see the module docstring."""

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    operation: str | None = None
    probability: float = 1.0
    count: int | None = None
    latency: float = 0.0
    status: int = 500
    body: Any = None
    retry_after: float = 1.0
    after_messages: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.latency < 0 or self.retry_after < 0:
            raise ValueError("latency and retry_after cannot be negative")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build from the admin API's JSON. Raises ``ValueError``/``TypeError``."""
        fields = dict(data)
        fields["kind"] = FaultKind(fields["kind"])
        for name in ("latency", "retry_after", "probability"):
            if name in fields and fields[name] is not None:
                fields[name] = float(fields[name])
        return cls(**fields)

    def matches(self, method: str, path: str, operation: str | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.operation is None or self.operation == operation


@dataclass(slots=True)
class _Installed:
    rule_id: str
    rule: FaultRule
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.rule.count is not None and self.fired >= self.rule.count


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one request: wait ``latency`` seconds, then apply ``rule`` (if
    any non-latency rule fired)."""

    latency: float = 0.0
    rule: FaultRule | None = None


@dataclass(slots=True)
class FaultInjector:
    """The rule set and its seeded dice. Thread-safe enough for one event loop."""

    seed: int = 7
    default_bodies: dict[int, Any] = field(default_factory=dict)
    """Per-status bodies a broker app installs (e.g. Alpaca's 429 body)."""
    _rng: random.Random = field(init=False)
    _rules: list[_Installed] = field(init=False, default_factory=list)
    _ids: itertools.count[int] = field(init=False, default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311  (repeatable chaos, not secrecy)

    def add(self, rule: FaultRule) -> str:
        """Install ``rule``; returns its id."""
        rule_id = f"fault-{next(self._ids)}"
        self._rules.append(_Installed(rule_id, rule))
        return rule_id

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.rule_id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The installed rules as JSON-ready dicts, with how often each fired."""
        return [{"id": r.rule_id, "fired": r.fired, **to_jsonable(asdict(r.rule))}
                for r in self._rules]

    def _fire(self, installed: _Installed) -> bool:
        if installed.exhausted:
            return False
        if installed.rule.probability < 1.0 and \
                self._rng.random() >= installed.rule.probability:
            return False
        installed.fired += 1
        return True

    def decide(self, method: str, path: str, operation: str | None) -> FaultDecision:
        """Roll the dice for one HTTP request. The first firing non-latency rule wins;
        latency rules all add up."""
        latency = 0.0
        chosen: FaultRule | None = None
        for installed in list(self._rules):
            rule = installed.rule
            if rule.kind in STREAM_KINDS or not rule.matches(method, path, operation):
                continue
            if rule.kind is FaultKind.LATENCY:
                if self._fire(installed):
                    latency += rule.latency
            elif chosen is None and self._fire(installed):
                chosen = rule
        return FaultDecision(latency, chosen)

    def stream_should_drop(self, path: str, sent: int) -> bool:
        """Whether a stream on ``path`` that has sent ``sent`` messages should be closed
        now (checked before each message)."""
        for installed in self._stream_rules(FaultKind.STREAM_DROP, path):
            if installed.rule.after_messages is not None:
                if sent >= installed.rule.after_messages and not installed.exhausted:
                    installed.fired += 1
                    return True
            elif self._fire(installed):
                return True
        return False

    def stream_should_skip(self, path: str, sent: int) -> bool:
        """Whether the next message of a stream on ``path`` that has sent ``sent``
        messages should be left out (the connection stays open)."""
        for installed in self._stream_rules(FaultKind.STREAM_SKIP, path):
            after = installed.rule.after_messages
            if (after is None or sent >= after) and self._fire(installed):
                return True
        return False

    def stream_fault(self, path: str, sent: int) -> FaultKind | None:
        """What to do with the next message of a stream on ``path`` that has sent
        ``sent`` messages: ``STREAM_DROP`` (close the websocket), ``STREAM_SKIP`` (leave
        this message out) or ``None`` (send it)."""
        if self.stream_should_drop(path, sent):
            return FaultKind.STREAM_DROP
        if self.stream_should_skip(path, sent):
            return FaultKind.STREAM_SKIP
        return None

    def _stream_rules(self, kind: FaultKind, path: str) -> list[_Installed]:
        return [r for r in self._rules
                if r.rule.kind is kind and r.rule.matches("GET", path, None)]

    def body_for(self, rule: FaultRule, status: int) -> Any:
        if rule.body is not None:
            return rule.body
        return self.default_bodies.get(status, {"message": "injected fault"})


def _operation_for(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The name of the route ``scope`` would reach (the endpoint function's name)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            name = getattr(route, "name", None)
            return name if isinstance(name, str) else None
    return None


def _transport_of(scope: Scope, send: Send) -> asyncio.WriteTransport:
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    if transport is None:
        # Plain uvicorn: the h11/httptools cycle's bound ``send`` knows its transport.
        transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.WriteTransport):
        raise RuntimeError("connection faults need a real socket: serve the app with "
                           "EmulatorServer (an in-process ASGI transport cannot drop)")
    return transport


async def _drop(scope: Scope, send: Send) -> None:
    transport = _transport_of(scope, send)
    transport.abort()
    # Let connection_lost run before the server cycle notices no response was sent, so
    # uvicorn sees a disconnected client instead of writing a 500.
    await asyncio.sleep(0)
    await asyncio.sleep(0)


class FaultMiddleware:
    """ASGI middleware applying a ``FaultInjector`` to every HTTP request outside the
    admin API. ``routes`` (the broker routers' routes, prefixes included) give each
    request its operation name."""

    def __init__(self, app: ASGIApp, injector: FaultInjector,
                 routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.injector = injector
        self.routes = list(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        decision = self.injector.decide(scope["method"], path,
                                        _operation_for(self.routes, scope))
        if decision.latency:
            await asyncio.sleep(decision.latency)
        rule = decision.rule
        if rule is None:
            await self.app(scope, receive, send)
            return
        logger.info("injecting %s on %s %s", rule.kind.value, scope["method"], path)
        if rule.kind is FaultKind.RESET:
            await _drop(scope, send)
        elif rule.kind is FaultKind.DROP_AFTER:
            await self.app(scope, receive, _swallow)
            await _drop(scope, send)
        elif rule.kind is FaultKind.RATE_LIMIT:
            await _send_json(send, 429, self.injector.body_for(rule, 429),
                             [(b"retry-after", _seconds(rule.retry_after).encode())])
        else:
            await _send_json(send, rule.status, self.injector.body_for(rule, rule.status), [])


async def _swallow(message: Message) -> None:
    """A ``send`` that discards the response: the handler ran, nobody hears it."""


def _seconds(value: float) -> str:
    return str(Decimal(str(value)).normalize()) if value != int(value) else str(int(value))


async def _send_json(send: Send, status: int, body: Any,
                     extra_headers: list[tuple[bytes, bytes]]) -> None:
    payload = dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()),
                            *extra_headers]})
    await send({"type": "http.response.body", "body": payload})

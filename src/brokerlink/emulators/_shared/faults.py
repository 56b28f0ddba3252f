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
``late_placement``
    read the whole request at once, hold it for ``delay`` seconds (default 2), *then*
    run the handler, even if the client gave up in the meantime: a slow broker (or a
    gateway in front of it) that places an order after the client's read timeout. A
    lookup made while the request is held finds nothing; one made after finds the
    order. ``POST /_emulator/faults/{id}/release`` ends the hold at once and
    ``POST /_emulator/faults/{id}/wait`` waits for held requests to be placed, so tests
    need no timing. (``latency`` differs: it reads the body only after its wait, so a
    client that left takes the request with it.)
``malformed_ack``
    run the handler (the write takes effect) and, when it answers 2xx, replace the body
    by ``malformed``: ``empty_object`` (``{}``, the default), ``empty`` (no bytes),
    ``null``, ``list`` (``[]``), ``deep_json`` (objects nested ``depth`` deep, default
    10,000), ``truncated`` (the real body cut in half) or ``html`` (an HTML page with
    ``Content-Type: text/html``); or by ``body`` itself if given (a string is sent as
    is). Status and other headers stay; a non-2xx answer passes through untouched.

``late_placement`` and ``malformed_ack`` are for writes: without a ``method`` they
never match ``GET``/``HEAD``/``OPTIONS``, so ``{"kind": "late_placement", "delay": 2}``
leaves lookups alone.

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
import contextlib
import fnmatch
import itertools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
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
    LATE_PLACEMENT = "late_placement"
    MALFORMED_ACK = "malformed_ack"


class MalformedBody(StrEnum):
    """What a ``malformed_ack`` fault sends instead of the real 2xx body."""

    EMPTY_OBJECT = "empty_object"
    EMPTY = "empty"
    NULL = "null"
    LIST = "list"
    DEEP_JSON = "deep_json"
    TRUNCATED = "truncated"
    HTML = "html"


STREAM_KINDS = frozenset({FaultKind.STREAM_DROP, FaultKind.STREAM_SKIP})
"""Kinds applied to websocket stream messages, never to HTTP requests."""

WRITE_KINDS = frozenset({FaultKind.LATE_PLACEMENT, FaultKind.MALFORMED_ACK})
"""Kinds that, without an explicit ``method``, match only writes."""

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_DEPTH = 1_000_000


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
    delay: float = 2.0
    malformed: MalformedBody = MalformedBody.EMPTY_OBJECT
    depth: int = 10_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.latency < 0 or self.retry_after < 0 or self.delay < 0:
            raise ValueError("latency, retry_after and delay cannot be negative")
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
        # Coerce so a rule built from JSON (a plain str) is checked here, not at firing.
        object.__setattr__(self, "malformed", MalformedBody(self.malformed))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build from the admin API's JSON. Raises ``ValueError``/``TypeError``."""
        fields = dict(data)
        fields["kind"] = FaultKind(fields["kind"])
        for name in ("latency", "retry_after", "probability", "delay"):
            if name in fields and fields[name] is not None:
                fields[name] = float(fields[name])
        return cls(**fields)

    def matches(self, method: str, path: str, operation: str | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.method is None and self.kind in WRITE_KINDS and \
                method.upper() in READ_METHODS:
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.operation is None or self.operation == operation


@dataclass(slots=True)
class _Installed:
    rule_id: str
    rule: FaultRule
    fired: int = 0
    held: int = 0
    """``late_placement`` requests held or being placed right now."""
    placed: int = 0
    """``late_placement`` requests whose handler has finished."""
    _release: asyncio.Event | None = None
    _idle: asyncio.Event | None = None

    @property
    def exhausted(self) -> bool:
        return self.rule.count is not None and self.fired >= self.rule.count

    def release_event(self) -> asyncio.Event:
        # Created lazily: an Event binds to the loop that first waits on it, and the
        # injector is often built before the server's loop runs.
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    def idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self.held == 0:
                self._idle.set()
        return self._idle


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one request: wait ``latency`` seconds, then apply ``rule`` (if
    any non-latency rule fired)."""

    latency: float = 0.0
    rule: FaultRule | None = None
    rule_id: str | None = None


@dataclass(slots=True)
class FaultInjector:
    """The rule set and its seeded dice. Thread-safe enough for one event loop."""

    seed: int = 7
    default_bodies: dict[int, Any] = field(default_factory=dict)
    """Per-status bodies a broker app installs (from its ``EmulatorSpec.fault_bodies``)."""
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
        """The installed rules as JSON-ready dicts, with how often each fired (and, for
        ``late_placement``, how many requests are ``held`` and were ``placed``)."""
        return [{"id": r.rule_id, "fired": r.fired, "held": r.held, "placed": r.placed,
                 **to_jsonable(asdict(r.rule))} for r in self._rules]

    def _installed(self, rule_id: str) -> _Installed:
        for installed in self._rules:
            if installed.rule_id == rule_id:
                return installed
        raise KeyError(rule_id)

    @contextlib.asynccontextmanager
    async def hold(self, rule_id: str) -> AsyncIterator[None]:
        """Hold one ``late_placement`` request: wait up to the rule's ``delay`` (or until
        ``release``), then let the body of the ``async with`` place it. Counts it as
        ``held`` until the block ends and ``placed`` after."""
        installed = self._installed(rule_id)
        release = installed.release_event()
        installed.held += 1
        installed.idle_event().clear()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), installed.rule.delay)
            yield
            installed.placed += 1
        finally:
            installed.held -= 1
            if installed.held == 0:
                installed.idle_event().set()

    async def release(self, rule_id: str, *, within: float = 10.0) -> dict[str, Any]:
        """End the hold of every request ``rule_id`` holds now and wait (at most
        ``within`` seconds) until they are placed. Later requests are held again.
        Raises ``KeyError`` for an unknown rule."""
        installed = self._installed(rule_id)
        released = installed.held
        installed.release_event().set()
        installed._release = None  # the next request waits on a fresh event
        return await self.wait(rule_id, within=within, released=released)

    async def wait(self, rule_id: str, *, within: float = 10.0,
                   released: int | None = None) -> dict[str, Any]:
        """Wait (at most ``within`` seconds) until no request of ``rule_id`` is held.
        Returns ``{"id", "settled", "held", "placed"}`` (plus ``released``). Raises
        ``KeyError`` for an unknown rule."""
        installed = self._installed(rule_id)
        settled = True
        try:
            await asyncio.wait_for(installed.idle_event().wait(), within)
        except TimeoutError:
            settled = False
        result: dict[str, Any] = {"id": rule_id, "settled": settled,
                                  "held": installed.held, "placed": installed.placed}
        if released is not None:
            result["released"] = released
        return result

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
        chosen_id: str | None = None
        for installed in list(self._rules):
            rule = installed.rule
            if rule.kind in STREAM_KINDS or not rule.matches(method, path, operation):
                continue
            if rule.kind is FaultKind.LATENCY:
                if self._fire(installed):
                    latency += rule.latency
            elif chosen is None and self._fire(installed):
                chosen, chosen_id = rule, installed.rule_id
        return FaultDecision(latency, chosen, chosen_id if chosen is not None else None)

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
        elif rule.kind is FaultKind.LATE_PLACEMENT and decision.rule_id is not None:
            # Read the request now, while the client is still there: after the hold,
            # receive() would only say "disconnected" and the handler would lose it.
            replay = await _buffered(receive)
            async with self.injector.hold(decision.rule_id):
                # uvicorn's send is a no-op once the client left, so the late answer
                # simply goes nowhere; a patient client still receives it.
                await self.app(scope, replay, send)
        elif rule.kind is FaultKind.MALFORMED_ACK:
            await self.app(scope, receive, _malformed(send, rule))
        else:
            await _send_json(send, rule.status, self.injector.body_for(rule, rule.status), [])


async def _swallow(message: Message) -> None:
    """A ``send`` that discards the response: the handler ran, nobody hears it."""


async def _buffered(receive: Receive) -> Receive:
    """Read the whole request body now; return a ``receive`` that replays it, then
    defers to the real one (which reports the disconnect, if any)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        messages.append(message)
        if not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages)
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


HTML_PAGE = (b"<!doctype html><html><head><title>Service</title></head><body>"
             b"<h1>Request accepted</h1><p>Your request is being processed.</p></body></html>")


def malformed_body(rule: FaultRule, real: bytes) -> tuple[bytes, bytes]:
    """``(body, content type)`` that a ``malformed_ack`` rule sends instead of ``real``."""
    if rule.body is not None:
        raw = rule.body.encode() if isinstance(rule.body, str) else dumps(rule.body).encode()
        return raw, b"application/json"
    kind = rule.malformed
    if kind is MalformedBody.HTML:
        return HTML_PAGE, b"text/html; charset=utf-8"
    if kind is MalformedBody.DEEP_JSON:
        return b'{"a":' * rule.depth + b"1" + b"}" * rule.depth, b"application/json"
    if kind is MalformedBody.TRUNCATED:
        return (real[: len(real) // 2] if len(real) > 1 else b"{"), b"application/json"
    fixed = {MalformedBody.EMPTY_OBJECT: b"{}", MalformedBody.EMPTY: b"",
             MalformedBody.NULL: b"null", MalformedBody.LIST: b"[]"}
    return fixed[kind], b"application/json"


def _malformed(send: Send, rule: FaultRule) -> Send:
    """A ``send`` that buffers the handler's answer and, if it is a 2xx, sends
    ``malformed_body`` in its place (fixing ``Content-Length`` and ``Content-Type``)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def rewrite(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        real = b"".join(chunks)
        if not 200 <= int(start["status"]) < 300:
            await send(start)
            await send({"type": "http.response.body", "body": real})
            return
        body, content_type = malformed_body(rule, real)
        headers = [(k, v) for k, v in start.get("headers", [])
                   if k.lower() not in (b"content-length", b"content-type")]
        headers += [(b"content-type", content_type),
                    (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return rewrite


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

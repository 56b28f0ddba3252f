"""The admin API every emulator mounts under ``/_emulator`` (no broker auth, loopback only).

Tests and the CLI drive the simulated market with it over HTTP; JSON decimals are strings.

========================================  ============================================
``GET  /_emulator/status``                broker, clock, accounts, streams, faults
``GET  /_emulator/clock``                 ``now``, ``session``, ``is_open``, next open/close
``POST /_emulator/clock/advance``         ``{"seconds": N}``: the market moves forward
``POST /_emulator/clock/set``             ``{"at": "<ISO 8601, aware>"}``: jump forward
``POST /_emulator/prices``                ``{"symbol": "AAPL", "price": "150.00"}``
``GET  /_emulator/quotes/{symbol}``       the engine's quote (bid, ask, last)
``GET  /_emulator/options/{underlying}``  listed contracts: ``{"contracts": [{symbol,
                                          expiration, strike, option_type}]}``
``POST /_emulator/accounts``              ``{"cash", "account_type", "options_level",
                                          "bearer": bool, "token_expires_at"}`` ->
                                          ``{"account_id", "api_key_id", "api_secret"
                                          [, "access_token"]}``
``POST /_emulator/accounts/{id}/fund``    ``{"amount": "..."}`` (negative withdraws)
``POST /_emulator/accounts/{id}/tokens``  ``{"expires_at"}`` -> ``{"access_token"}``
``GET  /_emulator/accounts/{id}/orders``  the engine's orders (core ``Order`` JSON)
``GET  /_emulator/faults``                installed fault rules
``POST /_emulator/faults``                add a ``FaultRule`` (JSON of its fields) -> id
``DELETE /_emulator/faults``              remove every rule
``DELETE /_emulator/faults/{id}``         remove one rule
``POST /_emulator/faults/{id}/release``   ``{"within": 10}``: end the hold of the requests
                                          a ``late_placement`` rule holds now and wait
                                          until they are placed -> ``{"id", "released",
                                          "settled", "held", "placed"}``
``POST /_emulator/faults/{id}/wait``      ``{"within": 10}``: wait until its held
                                          requests are placed on their own (same answer,
                                          ``settled: false`` if ``within`` ran out)
========================================  ============================================

Fault rules (see ``_shared/faults.py`` for every kind and field), for example::

    POST /_emulator/faults {"kind": "late_placement", "delay": 2.0, "count": 1}
        the next write is read at once, held 2 s (past a shorter client read timeout:
        the client gives up, a lookup finds nothing), then placed anyway.
    POST /_emulator/faults {"kind": "malformed_ack", "malformed": "deep_json",
                            "operation": "place_order", "count": 1}
        the next order is placed and its 2xx answer's body replaced by ``malformed``:
        ``empty_object`` ({}), ``empty``, ``null``, ``list``, ``deep_json`` (``depth``
        levels, default 10,000), ``truncated`` or ``html``; or by ``body`` if given.

Without a ``method``, these two kinds match writes only (never GET/HEAD/OPTIONS).

Errors answer ``{"error": "..."}`` with 400 (bad input), 403 (not loopback) or 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from brokerlink.core.enums import AccountType
from brokerlink.core.errors import BrokerError
from brokerlink.core.numbers import MAX_PRICE
from brokerlink.core.values import to_utc
from brokerlink.emulators._shared.faults import ADMIN_PREFIX, FaultRule
from brokerlink.emulators._shared.jsonio import BodyError, json_response, read_json
from brokerlink.emulators._shared.numbers import NumberFieldError, read_number

if TYPE_CHECKING:
    from brokerlink.emulators._shared.env import EmulatorEnv

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})
MAX_WAIT = 300.0
MAX_ADVANCE = Decimal(10 * 366 * 86_400)
"""At most about ten years per clock advance (a larger one would overflow ``timedelta``)."""


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else None
    if host not in LOOPBACK_HOSTS:
        raise HTTPException(status_code=403, detail="the emulator admin API is loopback only")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _decimal(body: dict[str, Any], name: str, default: Decimal | None = None) -> Decimal:
    """Field ``name`` under the core Decimal policy (finite, bounded, ASCII digits).
    Raises ``AdminError`` (400) for anything else, or when it is missing without a
    ``default``."""
    try:
        result = read_number(body.get(name), name)
    except NumberFieldError as exc:
        raise AdminError(400, f"{name} must be a decimal number: {exc.rule}") from None
    if result is None:
        if default is None:
            raise AdminError(400, f"{name} is required")
        return default
    return result


def _datetime(value: Any, name: str) -> datetime:
    try:
        return to_utc(value)
    except ValueError as exc:
        raise AdminError(400, f"{name}: {exc}") from exc


def admin_router(env: EmulatorEnv) -> APIRouter:
    """The ``/_emulator`` router bound to ``env`` (see the module docstring)."""
    router = APIRouter(prefix=ADMIN_PREFIX, dependencies=[Depends(_loopback_only)],
                       include_in_schema=False)
    engine = env.engine

    async def guarded(request: Request,
                      action: Callable[[dict[str, Any]], Any]) -> Response:
        try:
            body = await read_json(request) if request.method in ("POST", "PUT") else {}
            result = action(body)
        except AdminError as exc:
            return json_response({"error": exc.message}, exc.status)
        except (BodyError, ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        except KeyError as exc:
            return json_response({"error": f"unknown {exc.args[0]!r}"}, 404)
        except BrokerError as exc:
            return json_response({"error": exc.message, "type": type(exc).__name__}, 404)
        return json_response(result)

    def clock_state() -> dict[str, Any]:
        return {"now": engine.now(), "session": engine.session().value,
                "is_open": engine.is_open(), "next_open": engine.next_open(),
                "next_close": engine.next_close()}

    def account_or_404(account_id: str) -> str:
        if not engine.has_account(account_id):
            raise AdminError(404, f"no account {account_id!r}")
        return account_id

    @router.get("/status")
    async def status(request: Request) -> Response:
        return await guarded(request, lambda _: {
            "broker": env.broker.value, "strict": env.strict,
            "follow_wall_clock": env.follow_wall_clock, "clock": clock_state(),
            "accounts": engine.account_ids(), "streams": env.streams.connection_count(),
            "faults": env.faults.describe()})

    @router.get("/clock")
    async def clock(request: Request) -> Response:
        env.sync_clock()
        return await guarded(request, lambda _: clock_state())

    def advance(body: dict[str, Any]) -> dict[str, Any]:
        seconds = _decimal(body, "seconds")
        if seconds < 0:
            raise AdminError(400, "seconds cannot be negative: time only moves forward")
        if seconds > MAX_ADVANCE:
            raise AdminError(400, f"seconds must be at most {MAX_ADVANCE} (about ten years)")
        env.advance(timedelta(seconds=float(seconds)))
        return clock_state()

    @router.post("/clock/advance")
    async def clock_advance(request: Request) -> Response:
        return await guarded(request, advance)

    def set_clock(body: dict[str, Any]) -> dict[str, Any]:
        env.set_clock(_datetime(body.get("at"), "at"))
        return clock_state()

    @router.post("/clock/set")
    async def clock_set(request: Request) -> Response:
        return await guarded(request, set_clock)

    def set_price(body: dict[str, Any]) -> dict[str, Any]:
        symbol = str(body.get("symbol") or "")
        price = _decimal(body, "price")
        if not 0 < price <= MAX_PRICE:
            raise AdminError(400, f"price must be above 0 and at most {MAX_PRICE}")
        engine.set_price(symbol, price)
        quote = engine.sim_quote(symbol)
        return {"symbol": quote.symbol, "bid": quote.bid, "ask": quote.ask, "last": quote.last}

    @router.post("/prices")
    async def prices(request: Request) -> Response:
        return await guarded(request, set_price)

    @router.get("/quotes/{symbol}")
    async def quote(symbol: str, request: Request) -> Response:
        def read(_: dict[str, Any]) -> dict[str, Any]:
            q = engine.sim_quote(symbol)
            return {"symbol": q.symbol, "bid": q.bid, "ask": q.ask, "last": q.last,
                    "previous_close": q.previous_close}
        return await guarded(request, read)

    @router.get("/options/{underlying}")
    async def options(underlying: str, request: Request) -> Response:
        def chain(_: dict[str, Any]) -> dict[str, Any]:
            today = engine.now().date()
            contracts = engine.universe.option_chain(underlying, today)
            return {"contracts": [
                {"symbol": c.symbol, "expiration": c.expiration, "strike": c.strike,
                 "option_type": c.option_type} for c in contracts]}
        return await guarded(request, chain)

    def open_account(body: dict[str, Any]) -> dict[str, Any]:
        account_id = engine.open_account(
            cash=_decimal(body, "cash", env.accounts.default_cash),
            account_type=AccountType(body.get("account_type") or AccountType.MARGIN),
            options_level=int(body.get("options_level", 2)),
            name=body.get("name"))
        key_id, secret = env.accounts.create_api_key(account_id)
        result: dict[str, Any] = {"account_id": account_id, "api_key_id": key_id,
                                  "api_secret": secret}
        if body.get("bearer"):
            expires = body.get("token_expires_at")
            result["access_token"] = env.accounts.mint_bearer(
                account_id, _datetime(expires, "token_expires_at") if expires else None)
        return result

    @router.post("/accounts")
    async def accounts(request: Request) -> Response:
        return await guarded(request, open_account)

    @router.post("/accounts/{account_id}/fund")
    async def fund(account_id: str, request: Request) -> Response:
        def deposit(body: dict[str, Any]) -> dict[str, Any]:
            engine.fund(account_or_404(account_id), _decimal(body, "amount"),
                        str(body.get("description") or "deposit"))
            return {"account_id": account_id, "cash": engine.balances(account_id).cash}
        return await guarded(request, deposit)

    @router.post("/accounts/{account_id}/tokens")
    async def tokens(account_id: str, request: Request) -> Response:
        def mint(body: dict[str, Any]) -> dict[str, Any]:
            expires = body.get("expires_at")
            token = env.accounts.mint_bearer(
                account_or_404(account_id),
                _datetime(expires, "expires_at") if expires else None)
            return {"access_token": token}
        return await guarded(request, mint)

    @router.get("/accounts/{account_id}/orders")
    async def orders(account_id: str, request: Request) -> Response:
        return await guarded(request, lambda _: {"orders": [
            o.model_dump(mode="json") for o in engine.orders(account_or_404(account_id))]})

    @router.get("/faults")
    async def faults(request: Request) -> Response:
        return await guarded(request, lambda _: {"faults": env.faults.describe()})

    @router.post("/faults")
    async def add_fault(request: Request) -> Response:
        return await guarded(request, lambda body: {
            "id": env.faults.add(FaultRule.from_json(body))})

    @router.delete("/faults")
    async def clear_faults(request: Request) -> Response:
        def clear(_: dict[str, Any]) -> dict[str, Any]:
            env.faults.clear()
            return {"faults": []}
        return await guarded(request, clear)

    @router.delete("/faults/{rule_id}")
    async def remove_fault(rule_id: str, request: Request) -> Response:
        def remove(_: dict[str, Any]) -> dict[str, Any]:
            if not env.faults.remove(rule_id):
                raise AdminError(404, f"no fault {rule_id!r}")
            return {"removed": rule_id}
        return await guarded(request, remove)

    async def settle(request: Request, rule_id: str, *, release: bool) -> Response:
        try:
            body = await read_json(request)
            within = float(_decimal(body, "within", Decimal(10)))
            if not 0 <= within <= MAX_WAIT:
                raise AdminError(400, f"within must be between 0 and {MAX_WAIT} seconds")
            if release:
                result = await env.faults.release(rule_id, within=within)
            else:
                result = await env.faults.wait(rule_id, within=within)
        except AdminError as exc:
            return json_response({"error": exc.message}, exc.status)
        except (BodyError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        except KeyError:
            return json_response({"error": f"no fault {rule_id!r}"}, 404)
        return json_response(result)

    @router.post("/faults/{rule_id}/release")
    async def release_fault(rule_id: str, request: Request) -> Response:
        return await settle(request, rule_id, release=True)

    @router.post("/faults/{rule_id}/wait")
    async def wait_fault(rule_id: str, request: Request) -> Response:
        return await settle(request, rule_id, release=False)

    return router

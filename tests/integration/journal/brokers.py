"""Test brokers around a real one: hiding the client-order-id lookup, losing answers,
holding orders to place them late, or becoming unreachable. They delegate everything
else unchanged."""

from __future__ import annotations

from datetime import date, datetime
from types import TracebackType
from typing import Self

from brokerlink.core.capabilities import Capabilities
from brokerlink.core.enums import BrokerType, OrderStatus
from brokerlink.core.errors import (
    BrokerConnectionError,
    BrokerError,
    NotSupportedError,
    RequestTimeoutError,
)
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.models import (
    AccountBalances,
    BrokerAccount,
    Order,
    OrderModify,
    OrderRequest,
    OrderResult,
    Position,
    Quote,
    Transaction,
)


class Wrapped:
    """A ``BrokerInterface`` without the client-order-id lookup (fingerprint-only:
    ``capabilities.client_order_ids`` is false and the lookup raises ``NotSupportedError``).

    ``lose_answers``: place the order, then raise ``RequestTimeoutError`` (the answer was
    lost). ``unreachable``: every read raises ``BrokerConnectionError``. ``placed``
    counts calls that reached the inner broker.
    """

    def __init__(self, inner: BrokerInterface, *, lose_answers: bool = False,
                 unreachable: bool = False, fail_sends: bool = False) -> None:
        self.inner = inner
        self.fail_sends = fail_sends
        self.lose_answers = lose_answers
        self.unreachable = unreachable
        self.placed = 0

    def _check(self) -> None:
        if self.unreachable:
            raise BrokerConnectionError("test broker is unreachable", broker="test")

    @property
    def broker_type(self) -> BrokerType:
        return self.inner.broker_type

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities.model_copy(update={"client_order_ids": False})

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def refresh_token(self) -> None:
        await self.inner.refresh_token()

    def is_connected(self) -> bool:
        return self.inner.is_connected()

    async def get_account(self) -> BrokerAccount:
        self._check()
        return await self.inner.get_account()

    async def get_balances(self) -> AccountBalances:
        self._check()
        return await self.inner.get_balances()

    async def get_positions(self) -> list[Position]:
        self._check()
        return await self.inner.get_positions()

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if self.fail_sends:
            raise BrokerConnectionError("connect failed (test)", broker="test")
        self.placed += 1
        result = await self.inner.place_order(order)
        if self.lose_answers:
            raise RequestTimeoutError("answer lost (test)", client_order_id=order.client_order_id)
        return result

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        return await self.inner.modify_order(order_id, changes)

    async def cancel_order(self, order_id: str) -> bool:
        return await self.inner.cancel_order(order_id)

    async def get_order(self, order_id: str) -> Order:
        self._check()
        return await self.inner.get_order(order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        raise NotSupportedError("this test broker has no client order id lookup",
                                broker="test")

    def order_updates(self) -> OrderUpdateStream:
        return self.inner.order_updates()

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        self._check()
        return await self.inner.get_orders(status)

    async def get_order_history(self, start: date | datetime,
                                end: date | datetime) -> list[Order]:
        self._check()
        return await self.inner.get_order_history(start, end)

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        self._check()
        return await self.inner.get_transactions(start, end)

    async def get_quote(self, symbol: str) -> Quote:
        self._check()
        return await self.inner.get_quote(symbol)

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        self._check()
        return await self.inner.get_quotes(symbols)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.disconnect()


class Lookup(Wrapped):
    """``Wrapped`` that keeps the client-order-id lookup (unreachable when told)."""

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        self._check()
        return await self.inner.get_order_by_client_id(client_order_id)


class Late(Lookup):
    """A broker (or gateway) that holds orders past the client's timeout: the next
    ``hold`` sends raise ``RequestTimeoutError`` without placing, keeping the request in
    ``held``; ``release()`` places the held orders at the inner broker, as the broker
    would late (the paper engine refuses a client order id it has seen, as Alpaca does).

    ``broker_type`` poses as another broker, so the journal applies that broker's spec
    (its late-order window and duplicate rule). ``arrive_before_next_send``: the held
    orders are placed just before the next send is handled (the first request overtakes
    the journal's resend).
    """

    def __init__(self, inner: BrokerInterface, *, hold: int = 1,
                 broker_type: BrokerType | None = None,
                 arrive_before_next_send: bool = False, **kwargs: bool) -> None:
        super().__init__(inner, **kwargs)
        self.hold = hold
        self.posing_as = broker_type
        self.arrive_before_next_send = arrive_before_next_send
        self.held: list[OrderRequest] = []
        self.sends = 0

    @property
    def broker_type(self) -> BrokerType:
        return self.posing_as or self.inner.broker_type

    async def place_order(self, order: OrderRequest) -> OrderResult:
        self.sends += 1
        if self.hold:
            self.hold -= 1
            self.held.append(order)
            raise RequestTimeoutError("read timeout (test: held by the broker)",
                                      client_order_id=order.client_order_id)
        if self.arrive_before_next_send:
            await self.release()
        return await super().place_order(order)

    async def release(self) -> list[OrderResult | BrokerError]:
        """Place every held order now (the late arrival); returns what the broker said
        to each (its result, or its refusal)."""
        held, self.held = self.held, []
        answers: list[OrderResult | BrokerError] = []
        for order in held:
            try:
                answers.append(await self.inner.place_order(order))
            except BrokerError as exc:
                answers.append(exc)
        return answers

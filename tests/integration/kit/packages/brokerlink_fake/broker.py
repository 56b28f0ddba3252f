"""``FakeBroker``: the fake broker's adapter, over HTTP to its emulator.

Small on purpose: it shows what a broker package needs to plug into brokerlink, not how
a production adapter is shaped (see docs/adding-a-broker.md for that). Every failure is
a ``BrokerError``; the keys go only into request headers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from brokerlink.core.capabilities import Capabilities
from brokerlink.core.enums import (
    AccountType,
    BrokerType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from brokerlink.core.errors import (
    AuthError,
    BrokerConnectionError,
    BrokerError,
    NotSupportedError,
    OrderNotFoundError,
    SymbolNotFoundError,
)
from brokerlink.core.events import OrderUpdateStream
from brokerlink.core.interface import BrokerBase
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

from .spec import FAKE, FAKE_CAPABILITIES


class FakeBroker(BrokerBase):
    """One account at the fake broker (its emulator at ``base_url``)."""

    def __init__(self, base_url: str, api_key: SecretStr, api_secret: SecretStr, *,
                 connection_id: str | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._key = api_key
        self._secret = api_secret
        self._connection_id = connection_id
        self._client: httpx.AsyncClient | None = None
        self._account_id: str | None = None

    def __repr__(self) -> str:
        return f"FakeBroker(base_url={self._base_url!r}, account={self._account_id!r})"

    @property
    def broker_type(self) -> BrokerType:
        return FAKE

    @property
    def capabilities(self) -> Capabilities:
        return FAKE_CAPABILITIES

    async def connect(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self._base_url, timeout=10.0, headers={
                "X-Fake-Key": self._key.get_secret_value(),
                "X-Fake-Secret": self._secret.get_secret_value()})
        try:
            self._account_id = str((await self._call("GET", "/v1/account"))["id"])
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def refresh_token(self) -> None:
        """Keys do not expire: nothing to refresh."""

    def is_connected(self) -> bool:
        return self._client is not None and self._account_id is not None

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._client is None:
            raise BrokerConnectionError("not connected; call connect() first",
                                        broker=FAKE.value, connection_id=self._connection_id)
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise BrokerConnectionError(f"fake broker unreachable ({type(exc).__name__})",
                                        broker=FAKE.value,
                                        connection_id=self._connection_id) from exc
        if response.status_code == 401:
            raise AuthError("fake broker refused the keys", broker=FAKE.value,
                            connection_id=self._connection_id)
        if response.status_code == 404:
            kind = SymbolNotFoundError if path.startswith("/v1/quotes") else OrderNotFoundError
            raise kind(f"fake broker: nothing at {path}", broker=FAKE.value,
                       connection_id=self._connection_id)
        if response.status_code >= 400:
            raise BrokerError(f"fake broker answered {response.status_code}",
                              broker=FAKE.value, connection_id=self._connection_id)
        try:
            return response.json()
        except ValueError as exc:
            raise BrokerError("fake broker sent an unreadable body", broker=FAKE.value,
                              connection_id=self._connection_id) from exc

    @property
    def _account(self) -> str:
        return self._account_id or ""

    async def get_account(self) -> BrokerAccount:
        wire = await self._call("GET", "/v1/account")
        return BrokerAccount(account_id=str(wire["id"]), broker=FAKE,
                             account_type=AccountType.CASH)

    async def get_balances(self) -> AccountBalances:
        wire = await self._call("GET", "/v1/account")
        cash, held = Decimal(wire["cash"]), Decimal(wire["positions_value"])
        return AccountBalances(account_id=str(wire["id"]), cash=cash, cash_available=cash,
                               cash_withdrawable=cash, buying_power=cash,
                               total_value=cash + held, market_value=held)

    async def get_positions(self) -> list[Position]:
        return [Position(account_id=self._account, symbol=p["symbol"],
                         quantity=Decimal(p["qty"]), quantity_available=Decimal(p["qty"]),
                         average_cost=Decimal(p["avg_price"]),
                         current_price=Decimal(p["price"]),
                         market_value=Decimal(p["qty"]) * Decimal(p["price"]))
                for p in await self._call("GET", "/v1/positions")]

    def _order(self, wire: dict[str, Any]) -> Order:
        return Order(order_id=wire["id"], client_order_id=wire["client_order_id"],
                     account_id=self._account, symbol=wire["symbol"],
                     side=OrderSide(wire["side"]), quantity=Decimal(wire["qty"]),
                     order_type=OrderType.MARKET, time_in_force=TimeInForce.DAY,
                     status=OrderStatus(wire["status"]),
                     filled_quantity=Decimal(wire["filled_qty"]),
                     average_fill_price=(Decimal(wire["fill_price"])
                                         if wire["fill_price"] is not None else None),
                     submitted_at=datetime.fromisoformat(wire["created_at"]))

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.order_type is not OrderType.MARKET:
            raise NotSupportedError("the fake broker takes market orders only",
                                    broker=FAKE.value, connection_id=self._connection_id)
        wire = await self._call("POST", "/v1/orders", {
            "symbol": order.symbol, "side": order.side.value, "qty": str(order.quantity),
            "client_order_id": order.client_order_id})
        placed = self._order(wire)
        return OrderResult(success=True, order_id=placed.order_id, status=placed.status,
                           filled_quantity=placed.filled_quantity,
                           filled_price=placed.average_fill_price,
                           submitted_at=placed.submitted_at,
                           client_order_id=placed.client_order_id, raw_status=wire["status"])

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        raise NotSupportedError("the fake broker cannot modify orders", broker=FAKE.value)

    async def cancel_order(self, order_id: str) -> bool:
        await self._call("DELETE", f"/v1/orders/{order_id}")
        return True

    async def get_order(self, order_id: str) -> Order:
        return self._order(await self._call("GET", f"/v1/orders/{order_id}"))

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        return self._order(await self._call("GET", f"/v1/orders:by_client/{client_order_id}"))

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        orders = [self._order(o) for o in await self._call("GET", "/v1/orders")]
        return [o for o in orders if status is None or o.status is status]

    async def get_order_history(self, start: date | datetime,
                                end: date | datetime) -> list[Order]:
        from brokerlink.core.dates import utc_range

        low, high = utc_range(start, end)
        return [o for o in await self.get_orders()
                if o.submitted_at is not None and low <= o.submitted_at <= high]

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        raise NotSupportedError("the fake broker keeps no activity", broker=FAKE.value)

    async def get_quote(self, symbol: str) -> Quote:
        wire = await self._call("GET", f"/v1/quotes/{symbol}")
        price = Decimal(wire["price"])
        return Quote(symbol=symbol, bid=price, ask=price, last=price,
                     timestamp=datetime.now(UTC))

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        return {symbol: await self.get_quote(symbol) for symbol in symbols}

    def order_updates(self) -> OrderUpdateStream:
        raise NotSupportedError("the fake broker has no stream", broker=FAKE.value)

"""``PaperBroker``: the full ``BrokerInterface`` on an in-process ``SimEngine``.

No network and no credentials: everything the engine refuses surfaces as the same
typed errors a real broker's adapter raises, tagged with this broker and connection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

from brokerlink.core.capabilities import Capabilities, ModifyStyle
from brokerlink.core.enums import (
    AccountType,
    AssetType,
    BrokerType,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from brokerlink.core.errors import BrokerConnectionError, BrokerError, SymbolNotFoundError
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
from brokerlink.sim.engine import DEFAULT_CASH, SimEngine
from brokerlink.sim.events import Subscription

T = TypeVar("T")

PAPER_CAPABILITIES = Capabilities(
    asset_types=frozenset({AssetType.EQUITY, AssetType.ETF, AssetType.OPTION}),
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce),
    fractional_shares=True,
    fractional_order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    short_selling=True,
    extended_hours=True,
    options=True,
    options_level=2,
    multi_leg=False,
    modify=ModifyStyle.NATIVE,
    streaming=True,
    order_preview=False,
    client_order_ids=True,
    quotes=True,
    option_quotes=True,
    transactions=True,
)


class PaperBroker(BrokerBase):
    """A paper account on a simulation engine, its own or one shared with others.

    ``market="always_open"`` keeps the market open at every instant (demos, benchmarks);
    ``"exchange"`` follows the NYSE calendar on the engine's virtual clock.
    """

    def __init__(
        self,
        engine: SimEngine | None = None,
        *,
        account_id: str | None = None,
        cash: Decimal | int | str = DEFAULT_CASH,
        market: Literal["exchange", "always_open"] = "exchange",
        seed: int = 7,
        account_type: AccountType | str = AccountType.MARGIN,
        options_level: int = 2,
        start: datetime | None = None,
        connection_id: str | None = None,
    ) -> None:
        self.engine = engine or SimEngine(seed=seed, market=market, start=start)
        self._account_id = account_id
        self._cash = Decimal(str(cash))
        self._account_type = AccountType(account_type)
        self._options_level = options_level
        self._connected = False
        self.connection_id = connection_id

    @property
    def broker_type(self) -> BrokerType:
        return BrokerType.PAPER

    @property
    def capabilities(self) -> Capabilities:
        return PAPER_CAPABILITIES

    @property
    def account_id(self) -> str:
        """The account this broker trades. Raises ``BrokerConnectionError`` before connect."""
        if self._account_id is None or not self._connected:
            raise BrokerConnectionError(
                "paper broker is not connected: call connect() or use 'async with'", broker="paper"
            )
        return self._account_id

    async def connect(self) -> None:
        """Open (or re-attach to) the paper account; idempotent."""
        if self._account_id is None or not self.engine.has_account(self._account_id):
            self._account_id = self.engine.open_account(
                account_id=self._account_id,
                cash=self._cash,
                account_type=self._account_type,
                options_level=self._options_level,
                name="Paper trading",
            )
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False

    async def refresh_token(self) -> None:
        """The paper broker has no tokens: nothing to refresh."""

    async def is_connected(self) -> bool:
        return self._connected

    async def get_account(self) -> BrokerAccount:
        return await self._call(lambda: self.engine.account(self.account_id))

    async def get_balances(self) -> AccountBalances:
        return await self._call(lambda: self.engine.balances(self.account_id))

    async def get_positions(self) -> list[Position]:
        return await self._call(lambda: self.engine.positions(self.account_id))

    async def place_order(self, order: OrderRequest) -> OrderResult:
        self.capabilities.check_order(order, broker="paper")
        # ``_call`` inline: the hot path of the paper broker, spared a closure and a coroutine.
        try:
            return self.engine.place_order_result(self.account_id, order)
        except BrokerError as exc:
            exc.broker = exc.broker or "paper"
            exc.connection_id = exc.connection_id or self.connection_id
            raise

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        self.capabilities.check_modify(changes, broker="paper")
        changed = await self._call(
            lambda: self.engine.modify_order(
                self.account_id, order_id, changes, style=self.capabilities.modify
            )
        )
        return changed.to_result()

    async def cancel_order(self, order_id: str) -> bool:
        canceled = await self._call(lambda: self.engine.cancel_order(self.account_id, order_id))
        return canceled.status is OrderStatus.CANCELED

    async def get_order(self, order_id: str) -> Order:
        return await self._call(lambda: self.engine.get_order(self.account_id, order_id))

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        return await self._call(
            lambda: self.engine.get_order_by_client_id(self.account_id, client_order_id)
        )

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        return await self._call(lambda: self.engine.orders(self.account_id, status))

    async def get_order_history(self, start: datetime, end: datetime) -> list[Order]:
        return await self._call(lambda: self.engine.order_history(self.account_id, start, end))

    async def get_transactions(self, start: datetime, end: datetime) -> list[Transaction]:
        return await self._call(lambda: self.engine.transactions(self.account_id, start, end))

    async def get_quote(self, symbol: str) -> Quote:
        return await self._call(lambda: self.engine.quote(symbol))

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        quotes: dict[str, Quote] = {}
        unknown: list[str] = []
        for symbol in symbols:
            try:
                quotes[symbol] = self.engine.quote(symbol)
            except SymbolNotFoundError:
                unknown.append(symbol)
        if unknown:
            raise SymbolNotFoundError(
                f"unknown symbols: {', '.join(unknown)}",
                symbol=unknown[0],
                broker="paper",
                connection_id=self.connection_id,
            )
        return quotes

    def subscribe(self) -> Subscription:
        """This account's order and cash events from now on, as an async stream (close it,
        or use ``async with``). Raises ``BrokerConnectionError`` before connect."""
        return self.engine.subscribe(self.account_id)

    async def advance(self, delta: timedelta) -> None:
        """Move the simulated market forward (paper only)."""
        self.engine.advance(delta)

    async def _call(self, operation: Callable[[], T]) -> T:
        """Run an engine call, tagging its errors with this broker and connection."""
        try:
            return operation()
        except BrokerError as exc:
            exc.broker = exc.broker or "paper"
            exc.connection_id = exc.connection_id or self.connection_id
            raise

"""``BrokerInterface``: the one async surface every broker presents.

An instance is bound to one account at one broker. Implementations are
``BrokerBase`` subclasses (for the shared context-manager behaviour), but the
manager and the faces depend only on the protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from brokerlink.core.capabilities import Capabilities
from brokerlink.core.enums import BrokerType, OrderStatus
from brokerlink.core.events import OrderUpdateStream
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


@runtime_checkable
class BrokerInterface(Protocol):
    """The unified broker API. Every method raises a ``BrokerError`` subclass on failure."""

    @property
    def broker_type(self) -> BrokerType: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def connect(self) -> None:
        """Authenticate and load the account. Raises ``AuthError`` or a transient error."""

    async def disconnect(self) -> None:
        """Release sockets and streams; idempotent."""

    async def refresh_token(self) -> None:
        """Refresh the access token where the broker uses one; a no-op otherwise."""

    def is_connected(self) -> bool:
        """Whether ``connect()`` succeeded and ``disconnect()`` has not been called since.
        A plain method: it answers from local state and does no I/O."""
        ...

    async def get_account(self) -> BrokerAccount: ...

    async def get_balances(self) -> AccountBalances: ...

    async def get_positions(self) -> list[Position]: ...

    async def place_order(self, order: OrderRequest) -> OrderResult:
        """Send a new order once. Raises a rejection error, or ``RequestTimeoutError`` when
        the outcome is unknown; never resends."""

    async def modify_order(self, order_id: str, changes: OrderModify) -> OrderResult:
        """Change an open order. At cancel-replace brokers the result has a new order id."""

    async def cancel_order(self, order_id: str) -> bool:
        """Ask the broker to cancel; True once it accepted the request."""

    async def get_order(self, order_id: str) -> Order:
        """Raises ``OrderNotFoundError`` for an id the broker does not know."""

    async def get_order_by_client_id(self, client_order_id: str) -> Order:
        """The order placed with ``client_order_id``. Raises ``OrderNotFoundError`` when the
        broker has none (which alone never proves an ambiguous write was not placed), and
        ``NotSupportedError`` where ``capabilities.client_order_ids`` is false."""

    async def get_orders(self, status: OrderStatus | None = None) -> list[Order]:
        """Orders, all of them or those with ``status``."""

    async def get_order_history(self, start: date | datetime,
                                end: date | datetime) -> list[Order]:
        """Orders created in the range; a ``date`` covers its whole UTC day, end inclusive
        (``core.dates.utc_range``)."""

    async def get_transactions(self, start: date | datetime,
                               end: date | datetime) -> list[Transaction]:
        """Account activity in the range, as ``get_order_history`` reads it."""

    async def get_quote(self, symbol: str) -> Quote:
        """Raises ``SymbolNotFoundError`` for an unknown symbol."""

    async def get_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Raises ``SymbolNotFoundError`` naming every unknown symbol."""

    def order_updates(self) -> OrderUpdateStream:
        """A new, not yet entered stream of this account's order events. Raises
        ``NotSupportedError`` where ``capabilities.streaming`` is false."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BrokerBase(ABC):
    """Shared behaviour of implementations: ``async with`` connects and disconnects."""

    @property
    @abstractmethod
    def broker_type(self) -> BrokerType: ...

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

"""brokerlink: one typed, async interface to real brokerage accounts.

The curated public API. Everything here is stable; anything not listed is internal.
"""

from brokerlink.adapters.registry import create_broker
from brokerlink.core.capabilities import Capabilities, ModifyStyle
from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    BrokerType,
    DataSource,
    OptionType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import (
    AuthError,
    BrokerConnectionError,
    BrokerError,
    BrokerUnavailableError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    ManualInteractionRequiredError,
    MarketClosedError,
    NotSupportedError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ReauthRequiredError,
    Recovery,
    RequestTimeoutError,
    SymbolNotFoundError,
)
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.lifecycle import can_transition
from brokerlink.core.models import (
    AccountBalances,
    BrokerAccount,
    BrokerCredentials,
    Order,
    OrderModify,
    OrderRequest,
    OrderResult,
    Position,
    Quote,
    Transaction,
)
from brokerlink.core.symbols import OptionContract, format_occ, parse_occ

__version__ = "0.1.0"

__all__ = [
    "AccountBalances",
    "AccountStatus",
    "AccountType",
    "AssetType",
    "AuthError",
    "BrokerAccount",
    "BrokerConnectionError",
    "BrokerCredentials",
    "BrokerError",
    "BrokerInterface",
    "BrokerType",
    "BrokerUnavailableError",
    "Capabilities",
    "DataSource",
    "DuplicateOrderError",
    "InsufficientFundsError",
    "InvalidOrderError",
    "ManualInteractionRequiredError",
    "MarketClosedError",
    "ModifyStyle",
    "NotSupportedError",
    "OptionContract",
    "OptionType",
    "Order",
    "OrderModify",
    "OrderNotFoundError",
    "OrderRequest",
    "OrderResult",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PermissionDeniedError",
    "Position",
    "Quote",
    "RateLimitError",
    "ReauthRequiredError",
    "Recovery",
    "RequestTimeoutError",
    "SymbolNotFoundError",
    "TimeInForce",
    "Transaction",
    "TransactionType",
    "__version__",
    "can_transition",
    "create_broker",
    "format_occ",
    "parse_occ",
]

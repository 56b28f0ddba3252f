"""brokerlink: one typed, async interface to real brokerage accounts.

The curated public API. Everything here is stable; anything not listed is internal.
"""

# The names are imported on first use (PEP 562), not with the package: every
# ``brokerlink`` command imports this package first, and the models behind these names
# (pydantic, the registry of brokers) would cost ``brokerlink --help`` a third of its
# start-up. ``from brokerlink import OrderRequest`` works exactly as before.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS = {
    "create_broker": "brokerlink.adapters.registry",
    "Capabilities": "brokerlink.core.capabilities",
    "ModifyStyle": "brokerlink.core.capabilities",
    "AccountStatus": "brokerlink.core.enums",
    "AccountType": "brokerlink.core.enums",
    "AssetType": "brokerlink.core.enums",
    "BrokerType": "brokerlink.core.enums",
    "DataSource": "brokerlink.core.enums",
    "OptionType": "brokerlink.core.enums",
    "OrderSide": "brokerlink.core.enums",
    "OrderStatus": "brokerlink.core.enums",
    "OrderType": "brokerlink.core.enums",
    "TimeInForce": "brokerlink.core.enums",
    "TransactionType": "brokerlink.core.enums",
    "AuthError": "brokerlink.core.errors",
    "BrokerConnectionError": "brokerlink.core.errors",
    "BrokerError": "brokerlink.core.errors",
    "BrokerUnavailableError": "brokerlink.core.errors",
    "DuplicateOrderError": "brokerlink.core.errors",
    "InsufficientFundsError": "brokerlink.core.errors",
    "InvalidOrderError": "brokerlink.core.errors",
    "ManualInteractionRequiredError": "brokerlink.core.errors",
    "MarketClosedError": "brokerlink.core.errors",
    "NotSupportedError": "brokerlink.core.errors",
    "OrderNotFoundError": "brokerlink.core.errors",
    "PermissionDeniedError": "brokerlink.core.errors",
    "RateLimitError": "brokerlink.core.errors",
    "ReauthRequiredError": "brokerlink.core.errors",
    "Recovery": "brokerlink.core.errors",
    "RequestTimeoutError": "brokerlink.core.errors",
    "SymbolNotFoundError": "brokerlink.core.errors",
    "BrokerInterface": "brokerlink.core.interface",
    "can_transition": "brokerlink.core.lifecycle",
    "AccountBalances": "brokerlink.core.models",
    "BrokerAccount": "brokerlink.core.models",
    "BrokerCredentials": "brokerlink.core.models",
    "Order": "brokerlink.core.models",
    "OrderModify": "brokerlink.core.models",
    "OrderRequest": "brokerlink.core.models",
    "OrderResult": "brokerlink.core.models",
    "Position": "brokerlink.core.models",
    "Quote": "brokerlink.core.models",
    "Transaction": "brokerlink.core.models",
    "OptionContract": "brokerlink.core.symbols",
    "format_occ": "brokerlink.core.symbols",
    "parse_occ": "brokerlink.core.symbols",
}
"""Each public name and the module that defines it."""

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'brokerlink' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

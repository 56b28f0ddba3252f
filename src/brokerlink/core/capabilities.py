"""What a broker (and a given account at it) can do, as types rather than strings.

``Capabilities.check_order`` is the one gate every adapter calls before sending an
order: anything the broker has no route for fails here with ``NotSupportedError``,
so nothing unsupported ever reaches the wire.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from brokerlink.core.enums import AssetType, OrderSide, OrderType, TimeInForce
from brokerlink.core.errors import InvalidOrderError, NotSupportedError
from brokerlink.core.models import OrderModify, OrderRequest
from brokerlink.core.numbers import MAX_QUANTITY_PLACES, places


class ModifyStyle(StrEnum):
    """How a broker changes an open order."""

    NATIVE = "native"
    """The order keeps its id (Tradier's PUT)."""
    CANCEL_REPLACE = "cancel_replace"
    """A new order replaces the old one, with a new id (Alpaca's PATCH)."""
    NONE = "none"


Feature = Literal["fractional_shares", "short_selling", "extended_hours", "options",
                  "multi_leg", "streaming", "order_preview", "client_order_ids", "quotes",
                  "option_quotes", "transactions"]
"""The yes/no capabilities, by name (``Capabilities.require``)."""

FEATURES: tuple[Feature, ...] = get_args(Feature)


class Capabilities(BaseModel):
    """A frozen description of one broker's (or account's) trading surface."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_types: frozenset[AssetType]
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    fractional_shares: bool = False
    fractional_order_types: frozenset[OrderType] = frozenset({OrderType.MARKET})
    quantity_places: int = Field(default=0, ge=0, le=MAX_QUANTITY_PLACES)
    """Decimal places a fractional quantity may carry (the broker's precision: Alpaca 9,
    most retail brokers 6); 0 = whole shares only. A finer quantity is refused."""
    short_selling: bool = False
    extended_hours: bool = False
    options: bool = False
    options_level: int = 0
    multi_leg: bool = False
    modify: ModifyStyle = ModifyStyle.CANCEL_REPLACE
    streaming: bool = False
    order_preview: bool = False
    client_order_ids: bool = False
    quotes: bool = True
    option_quotes: bool = False
    transactions: bool = True

    def require(self, feature: Feature, *, broker: str) -> None:
        """The gate of an interface method that only some brokers have
        (``order_updates`` needs ``streaming``, ``get_order_by_client_id`` needs
        ``client_order_ids``...): call it first, before any I/O. Raises
        ``NotSupportedError`` naming the feature when this broker's flag is false."""
        if not getattr(self, feature):
            raise NotSupportedError(
                f"{broker} does not support {feature.replace('_', ' ')} "
                f"(capabilities.{feature} is false)", broker=broker)

    def check_order(self, order: OrderRequest, *, broker: str) -> None:
        """Refuse, before any I/O, an order this broker cannot take.

        Raises ``NotSupportedError`` naming the unsupported feature, or
        ``InvalidOrderError`` (field ``quantity``) for a quantity finer than
        ``quantity_places``.
        """
        asset = order.asset_type
        if asset not in self.asset_types:
            raise NotSupportedError(f"{broker} does not trade {asset.value} here",
                                    broker=broker)
        if asset is AssetType.OPTION and not self.options:
            raise NotSupportedError(f"{broker} does not take option orders", broker=broker)
        if order.order_type not in self.order_types:
            raise NotSupportedError(
                f"{broker} does not take {order.order_type.value} orders; it takes "
                f"{_names(self.order_types)}", broker=broker)
        if order.time_in_force not in self.time_in_force:
            raise NotSupportedError(
                f"{broker} does not take time_in_force {order.time_in_force.value}; it takes "
                f"{_names(self.time_in_force)}", broker=broker)
        if order.quantity != order.quantity.to_integral_value():
            if not self.fractional_shares:
                raise NotSupportedError(f"{broker} does not take fractional quantities",
                                        broker=broker)
            if order.order_type not in self.fractional_order_types:
                raise NotSupportedError(
                    f"{broker} takes fractional quantities only on "
                    f"{_names(self.fractional_order_types)} orders", broker=broker)
            self._check_places(order.quantity, broker=broker)
        if order.side in (OrderSide.SELL_SHORT,) and not self.short_selling:
            raise NotSupportedError(f"{broker} does not allow short selling here",
                                    broker=broker)
        if order.extended_hours and not self.extended_hours:
            raise NotSupportedError(f"{broker} does not take extended-hours orders",
                                    broker=broker)

    def check_modify(self, change: OrderModify, *, broker: str) -> None:
        """Refuse a change this broker cannot make. Raises ``NotSupportedError``, or
        ``InvalidOrderError`` for a quantity finer than ``quantity_places``."""
        if self.modify is ModifyStyle.NONE:
            raise NotSupportedError(
                f"{broker} cannot change an open order; cancel it and place a new one",
                broker=broker)
        if change.time_in_force is not None and change.time_in_force not in self.time_in_force:
            raise NotSupportedError(
                f"{broker} does not take time_in_force {change.time_in_force.value}",
                broker=broker)
        if change.quantity is not None:
            self._check_places(change.quantity, broker=broker)

    def _check_places(self, quantity: Decimal, *, broker: str) -> None:
        if places(quantity) > self.quantity_places:
            rule = (f"at most {self.quantity_places} decimal places" if self.quantity_places
                    else "whole shares only")
            raise InvalidOrderError(
                f"quantity {quantity:f} is finer than {broker} takes ({rule}; "
                "capabilities.quantity_places)", field="quantity", broker=broker)


def _names(values: frozenset[OrderType] | frozenset[TimeInForce]) -> str:
    return ", ".join(sorted(v.value for v in values))

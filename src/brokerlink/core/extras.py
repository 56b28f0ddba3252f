"""Broker-neutral models for features some brokers offer beyond ``BrokerInterface``.

An adapter exposes such a feature as an extra method that takes and returns these core
models (never its wire models), so a caller writes the same code whichever broker has
the feature. Today Tradier implements all three:

* ``MultiLegOrderRequest`` (2 to 4 legs on one underlying, at a net price): an option
  spread, or a combo with one equity leg.
* ``OrderPreview``: what an order would cost, without placing it.
* ``ClosedPosition``: one closed lot with its realised gain.

Requests validate completely in their constructor: every failure is an
``InvalidOrderError`` naming the field, as for ``OrderRequest``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from brokerlink.core.enums import OrderSide, TimeInForce
from brokerlink.core.errors import InvalidOrderError
from brokerlink.core.models import Model
from brokerlink.core.values import Dec, UtcDatetime, new_client_order_id

_ZERO = Decimal(0)


class NetPriceType(StrEnum):
    """How a multileg order is priced as a whole."""

    MARKET = "market"
    DEBIT = "debit"
    """Pay at most ``price`` for the package."""
    CREDIT = "credit"
    """Receive at least ``price`` for the package."""
    EVEN = "even"
    """Neither pay nor receive."""


class _Request(Model):
    """A request model whose every validation failure is an ``InvalidOrderError``."""

    @model_validator(mode="wrap")
    @classmethod
    def _as_invalid_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            message = first["msg"].removeprefix("Value error, ")
            where = f"{cls.__name__}.{field}" if field else cls.__name__
            raise InvalidOrderError(f"{where}: {message}", field=field) from exc


class OrderLeg(_Request):
    """One leg: an OCC option symbol, or (in a combo) the underlying's ticker."""

    symbol: str = Field(min_length=1, max_length=32)
    side: OrderSide
    quantity: Dec

    @property
    def is_option(self) -> bool:
        return len(self.symbol) > 15


class MultiLegOrderRequest(_Request):
    """A multileg order on ``underlying``: 2 to 4 legs at one net price."""

    underlying: str = Field(min_length=1, max_length=16)
    legs: tuple[OrderLeg, ...] = Field(min_length=2, max_length=4)
    price_type: NetPriceType = NetPriceType.MARKET
    price: Dec | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: str = Field(default_factory=new_client_order_id, min_length=1,
                                 max_length=48, pattern=r"^[A-Za-z0-9_\-.]+$")

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        # Raised directly: pydantic runs "after" validators outside the wrap above.
        for index, leg in enumerate(self.legs):
            if leg.quantity <= _ZERO or leg.quantity != leg.quantity.to_integral_value():
                raise InvalidOrderError(
                    f"MultiLegOrderRequest.legs.{index}.quantity must be a whole number "
                    f"above zero, got {leg.quantity}", field=f"legs.{index}.quantity")
        if sum(1 for leg in self.legs if not leg.is_option) > 1:
            raise InvalidOrderError("MultiLegOrderRequest.legs: at most one leg may be "
                                    "the underlying's shares", field="legs")
        priced = self.price_type in (NetPriceType.DEBIT, NetPriceType.CREDIT)
        if priced and self.price is None:
            raise InvalidOrderError(f"MultiLegOrderRequest.price: a {self.price_type.value} "
                                    "order needs a price", field="price")
        if not priced and self.price is not None:
            raise InvalidOrderError(f"MultiLegOrderRequest.price: a {self.price_type.value} "
                                    "order takes no price", field="price")
        if self.price is not None and self.price <= _ZERO:
            raise InvalidOrderError("MultiLegOrderRequest.price must be greater than zero, "
                                    f"got {self.price}", field="price")
        return self


class OrderPreview(Model):
    """What a broker says an order would cost, without placing it."""

    accepted: bool
    cost: Dec | None = None
    order_cost: Dec | None = None
    commission: Dec | None = None
    fees: Dec | None = None
    margin_change: Dec | None = None
    extended_hours: bool = False
    day_trades: int | None = None


class ClosedPosition(Model):
    """One closed lot: what it cost, what it fetched, the difference."""

    symbol: str
    quantity: Dec
    cost: Dec
    proceeds: Dec
    gain_loss: Dec
    gain_loss_percent: Dec | None = None
    opened_at: UtcDatetime
    closed_at: UtcDatetime
    term_days: int | None = None


__all__ = ["ClosedPosition", "MultiLegOrderRequest", "NetPriceType", "OrderLeg",
           "OrderPreview"]

"""``CommissionRule``: what one order is expected to cost in fees at one broker.

Per order, per share and per option contract, with a minimum and an optional maximum.
Each broker's spec carries its published retail rule; ``manager.commissions`` lets a
user override it per broker or per connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from brokerlink.core.enums import AssetType
from brokerlink.core.models import OrderRequest

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CommissionRule:
    """Fees for one order: ``per_order + per_share * shares`` (or ``per_contract *
    contracts`` for options), then at least ``minimum`` and at most ``maximum``."""

    per_order: Decimal = ZERO
    per_share: Decimal = ZERO
    per_contract: Decimal = ZERO
    minimum: Decimal = ZERO
    maximum: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("per_order", "per_share", "per_contract", "minimum"):
            if getattr(self, name) < 0:
                raise ValueError(f"commission {name} cannot be negative")
        if self.maximum is not None and self.maximum < self.minimum:
            raise ValueError("commission maximum is below its minimum")

    def estimate(self, order: OrderRequest) -> Decimal:
        """The expected fee for ``order`` (exact; never negative)."""
        if order.asset_type is AssetType.OPTION:
            fee = self.per_order + self.per_contract * order.quantity
        else:
            fee = self.per_order + self.per_share * order.quantity
        fee = max(fee, self.minimum)
        return min(fee, self.maximum) if self.maximum is not None else fee


FREE = CommissionRule()

__all__ = ["FREE", "ZERO", "CommissionRule"]

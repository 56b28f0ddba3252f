"""Commission schedules: what an order is expected to cost in fees, per broker.

A ``CommissionRule`` is per order, per share and per option contract, with a minimum
and an optional maximum per order. A ``CommissionSchedule`` maps brokers (or single
connections, which win) to rules; the defaults reflect the brokers' published retail
pricing and are meant to be overridden with your own account's terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from brokerlink.core.enums import AssetType, BrokerType
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

DEFAULT_RULES: Mapping[BrokerType, CommissionRule] = {
    # Alpaca: commission-free stocks and options (regulatory fees aside).
    BrokerType.ALPACA: FREE,
    # Tradier's default retail plan: free stocks, $0.35 per option contract.
    BrokerType.TRADIER: CommissionRule(per_contract=Decimal("0.35")),
    BrokerType.PAPER: FREE,
}


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """Rules by broker, overridable per connection; brokers not listed use ``default``."""

    by_broker: Mapping[BrokerType, CommissionRule] = field(
        default_factory=lambda: dict(DEFAULT_RULES))
    by_connection: Mapping[str, CommissionRule] = field(default_factory=dict)
    default: CommissionRule = FREE

    def rule_for(self, broker: BrokerType, connection_id: str | None = None) -> CommissionRule:
        """The rule that applies: the connection's, else the broker's, else ``default``."""
        if connection_id is not None and connection_id in self.by_connection:
            return self.by_connection[connection_id]
        return self.by_broker.get(broker, self.default)

    def estimate(self, broker: BrokerType, order: OrderRequest,
                 connection_id: str | None = None) -> Decimal:
        """The expected fee of ``order`` at ``broker`` (or that connection)."""
        return self.rule_for(broker, connection_id).estimate(order)

"""Commission schedules: what an order is expected to cost in fees, per broker.

A broker's published retail rule comes from its spec (``BrokerSpec.commissions``); a
``CommissionSchedule`` overrides it per broker or per connection (the connection wins),
for your own account's terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from brokerlink.adapters.registry import resolve
from brokerlink.core.commissions import FREE, CommissionRule
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import NotSupportedError
from brokerlink.core.models import OrderRequest


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """Rules by broker, overridable per connection. A broker with neither an override nor
    an installed spec uses ``default``."""

    by_broker: Mapping[BrokerType, CommissionRule] = field(default_factory=dict)
    by_connection: Mapping[str, CommissionRule] = field(default_factory=dict)
    default: CommissionRule = FREE

    def rule_for(self, broker: BrokerType, connection_id: str | None = None) -> CommissionRule:
        """The rule that applies: the connection's, else the broker's override, else its
        spec's published rule, else ``default``."""
        if connection_id is not None and connection_id in self.by_connection:
            return self.by_connection[connection_id]
        if broker in self.by_broker:
            return self.by_broker[broker]
        try:
            return resolve(broker).commissions
        except NotSupportedError:
            return self.default

    def estimate(self, broker: BrokerType, order: OrderRequest,
                 connection_id: str | None = None) -> Decimal:
        """The expected fee of ``order`` at ``broker`` (or that connection)."""
        return self.rule_for(broker, connection_id).estimate(order)


__all__ = ["CommissionRule", "CommissionSchedule"]

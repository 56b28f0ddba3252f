"""The built-in paper broker: ``BrokerInterface`` directly on the simulation engine."""

from brokerlink.adapters.paper.broker import PAPER_CAPABILITIES, PaperBroker

__all__ = ["PAPER_CAPABILITIES", "PaperBroker"]

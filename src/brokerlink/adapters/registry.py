"""``BrokerType`` -> adapter factory: how ``create_broker`` finds an implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import NotSupportedError
from brokerlink.core.interface import BrokerInterface

BrokerFactory = Callable[..., BrokerInterface]


def _paper(**settings: Any) -> BrokerInterface:
    from brokerlink.adapters.paper import PaperBroker

    return PaperBroker(**settings)


def _alpaca(**settings: Any) -> BrokerInterface:
    from brokerlink.adapters.alpaca.broker import create

    return create(**settings)


def _tradier(**settings: Any) -> BrokerInterface:
    from brokerlink.adapters.tradier.broker import create

    return create(**settings)


_FACTORIES: dict[BrokerType, BrokerFactory] = {
    BrokerType.PAPER: _paper,
    BrokerType.ALPACA: _alpaca,
    BrokerType.TRADIER: _tradier,
}


def register(broker: BrokerType, factory: BrokerFactory) -> None:
    """Make ``create_broker(broker, ...)`` build with ``factory``."""
    _FACTORIES[broker] = factory


def available() -> list[BrokerType]:
    """Brokers with an adapter in this installation."""
    return [b for b in BrokerType if b in _FACTORIES]


def create_broker(broker: BrokerType | str, **settings: Any) -> BrokerInterface:
    """Build the ``BrokerInterface`` for ``broker`` (a ``BrokerType`` or its name).

    Settings go to the adapter (for paper: ``cash``, ``market``, ``seed``, ...). Raises
    ``ValueError`` for an unknown broker name and ``NotSupportedError`` for a broker
    whose adapter is not available yet. Nothing connects until ``connect()``.
    """
    kind = BrokerType.parse(broker)
    factory = _FACTORIES.get(kind)
    if factory is None:
        ready = ", ".join(b.value for b in available())
        raise NotSupportedError(
            f"no adapter for {kind.value} yet; available: {ready}", broker=kind.value
        )
    return factory(**settings)

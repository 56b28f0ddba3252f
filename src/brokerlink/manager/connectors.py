"""How to build a stored connection's adapter: through its broker's spec, by name.

``connector_for(broker)`` gives one keyword signature for every broker, so the
connection service never needs to know an adapter's constructor. ``source`` is the
credential source of an OAuth connection (a refreshing ``TokenManager``); ``api_key`` and
``api_secret`` are for brokers that sign in with keys. ``states`` gives the store where a
broker keeps state of its own that must outlive the process (a spec with
``stores_state``; ``manager.broker_state.BrokerStates`` over the database); without it
that state lives in memory.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from brokerlink.adapters._shared.audit import AuditSink
from brokerlink.adapters._shared.credentials import CredentialSource
from brokerlink.adapters._shared.spec import ConnectionSettings
from brokerlink.adapters._shared.state import BrokerStateStore
from brokerlink.adapters._shared.urls import is_loopback
from brokerlink.adapters.registry import resolve
from brokerlink.core.enums import BrokerType
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.values import utc_now


class BrokerStateStores(Protocol):
    """Where brokers that keep state of their own store it, one store per connection
    (``manager.broker_state.BrokerStates``)."""

    def store_for(self, connection_id: str, *, broker: str) -> BrokerStateStore:
        """The store of ``connection_id``; ``broker`` names it in the store's errors."""
        ...


class Connector(Protocol):
    def __call__(
        self,
        *,
        connection_id: str,
        base_url: str | None,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        source: CredentialSource | None,
        audit: AuditSink | None,
        states: BrokerStateStores | None = None,
    ) -> BrokerInterface: ...


def connector_for(broker: BrokerType | str) -> Connector:
    """The builder for ``broker``. Raises ``NotSupportedError`` if it is not installed."""
    spec = resolve(broker)

    def connect(*, connection_id: str, base_url: str | None, api_key: SecretStr | None,
                api_secret: SecretStr | None, source: CredentialSource | None,
                audit: AuditSink | None, states: BrokerStateStores | None = None
                ) -> BrokerInterface:
        state = None
        if spec.stores_state and states is not None:
            state = states.store_for(connection_id, broker=spec.broker_type.value)
        return spec.connect(ConnectionSettings(
            connection_id=connection_id, base_url=base_url, api_key=api_key,
            api_secret=api_secret, source=source, audit=audit, state=state,
            wall_clock=utc_now if state is not None else None))

    return connect


__all__ = ["BrokerStateStores", "Connector", "connector_for", "is_loopback"]

"""How to build each broker's adapter for a stored connection.

One function per broker, all with the same keyword signature, so the connection
service never needs to know an adapter's constructor. ``source`` is the credential
source of an OAuth connection (a refreshing ``TokenManager``); ``api_key`` and
``api_secret`` are for brokers that sign in with keys.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from brokerlink.adapters._shared import AuditSink, CredentialSource
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import NotSupportedError
from brokerlink.core.interface import BrokerInterface


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
    ) -> BrokerInterface: ...


def is_loopback(base_url: str | None) -> bool:
    """Whether ``base_url`` names this machine (a local emulator)."""
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _alpaca(
    *,
    connection_id: str,
    base_url: str | None,
    api_key: SecretStr | None,
    api_secret: SecretStr | None,
    source: CredentialSource | None,
    audit: AuditSink | None,
) -> BrokerInterface:
    from brokerlink.adapters.alpaca.auth import AlpacaAuth
    from brokerlink.adapters.alpaca.broker import AlpacaBroker
    from brokerlink.adapters.alpaca.config import AlpacaConfig

    auth = AlpacaAuth(key_id=api_key, secret_key=api_secret, source=source)
    if is_loopback(base_url):
        assert base_url is not None  # noqa: S101  (is_loopback is False for None)
        config = AlpacaConfig.emulator(base_url)
    elif base_url:
        config = AlpacaConfig(base_url=base_url, paper="paper" in base_url)
    else:
        config = AlpacaConfig.paper_trading()
    return AlpacaBroker(auth, config=config, connection_id=connection_id, audit=audit)


def _tradier(
    *,
    connection_id: str,
    base_url: str | None,
    api_key: SecretStr | None,
    api_secret: SecretStr | None,
    source: CredentialSource | None,
    audit: AuditSink | None,
) -> BrokerInterface:
    from brokerlink.adapters.tradier.broker import create

    # Tradier signs in with a bearer token only: an access token kept as the "api key".
    local = is_loopback(base_url)
    return create(access_token=api_key, token_source=source,
                  emulator_url=base_url if local else None,
                  base_url=None if local else base_url,
                  connection_id=connection_id, audit=audit)


CONNECTORS: dict[BrokerType, Connector] = {
    BrokerType.ALPACA: _alpaca,
    BrokerType.TRADIER: _tradier,
}


def connector_for(broker: BrokerType) -> Connector:
    """The builder for ``broker``. Raises ``NotSupportedError`` if there is none."""
    found = CONNECTORS.get(broker)
    if found is None:
        ready = ", ".join(sorted(b.value for b in CONNECTORS))
        raise NotSupportedError(f"connections to {broker.value} are not available yet; "
                                f"available: {ready}", broker=broker.value)
    return found


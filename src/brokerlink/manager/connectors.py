"""How to build each broker's adapter for a stored connection.

One function per broker, all with the same keyword signature, so the connection
service never needs to know an adapter's constructor. ``source`` is the credential
source of an OAuth connection (a refreshing ``TokenManager``); ``api_key`` and
``api_secret`` are for brokers that sign in with keys. ``database`` is where a broker
keeps state of its own that must outlive the process: only the paper broker has any
(its account); without it the paper account lives in memory.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Literal, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import SecretStr

from brokerlink.adapters._shared import AuditSink, CredentialSource
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import BrokerError, NotSupportedError
from brokerlink.core.interface import BrokerInterface
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database


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
        database: Database | None = None,
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
    database: Database | None = None,
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
    database: Database | None = None,
) -> BrokerInterface:
    from brokerlink.adapters.tradier.broker import create

    # Tradier signs in with a bearer token only: an access token kept as the "api key".
    local = is_loopback(base_url)
    return create(access_token=api_key, token_source=source,
                  emulator_url=base_url if local else None,
                  base_url=None if local else base_url,
                  connection_id=connection_id, audit=audit)


PAPER_SCHEME = "paper"
PaperMarket = Literal["exchange", "always_open"]


def paper_url(*, account_id: str, cash: Decimal, seed: int, market: PaperMarket) -> str:
    """The ``base_url`` a paper connection is stored under: its settings, no secrets.

    A paper broker has no host to name, so the URL's query is the place its settings
    go: ``paper:?account_id=...&cash=...&seed=...&market=...``. The settings travel
    with the connection row and are deleted with it; they say how the account opens,
    while the account itself (orders, positions, cash) is stored in ``paper_accounts``.
    """
    query = urlencode({"account_id": account_id, "cash": str(cash), "seed": str(seed),
                       "market": market})
    return f"{PAPER_SCHEME}:?{query}"


def parse_paper_url(base_url: str | None) -> tuple[str | None, Decimal, int, PaperMarket]:
    """``(account_id, cash, seed, market)`` from a ``paper_url``; defaults for ``None``.

    Raises ``ValueError`` on a malformed setting.
    """
    if not base_url:
        return None, Decimal(100_000), 7, "exchange"
    parts = urlsplit(base_url)
    if parts.scheme != PAPER_SCHEME:
        raise ValueError(f"a paper connection's base_url starts with {PAPER_SCHEME}:")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        cash = Decimal(query.get("cash", "100000"))
    except InvalidOperation as exc:
        raise ValueError("paper cash must be a decimal number") from exc
    market = query.get("market", "exchange")
    if market not in ("exchange", "always_open"):
        raise ValueError("paper market must be exchange or always_open")
    return (query.get("account_id"), cash, int(query.get("seed", "7")),
            "always_open" if market == "always_open" else "exchange")


def _paper(
    *,
    connection_id: str,
    base_url: str | None,
    api_key: SecretStr | None,
    api_secret: SecretStr | None,
    source: CredentialSource | None,
    audit: AuditSink | None,
    database: Database | None = None,
) -> BrokerInterface:
    from brokerlink.adapters.paper import PaperBroker
    from brokerlink.manager.paper_state import DatabasePaperStore

    # No credentials and no network: the settings are all in the stored base_url. With a
    # database the account is kept there (every process sees the same one, its market
    # catching up with the wall clock); without one it lives in this broker's memory.
    try:
        account_id, cash, seed, market = parse_paper_url(base_url)
    except ValueError as exc:
        raise BrokerError(f"stored paper settings are unreadable: {exc}",
                                broker=BrokerType.PAPER.value,
                                connection_id=connection_id) from exc
    if database is None:
        return PaperBroker(account_id=account_id, cash=cash, seed=seed, market=market,
                           connection_id=connection_id)
    return PaperBroker(account_id=account_id, cash=cash, seed=seed, market=market,
                       connection_id=connection_id,
                       store=DatabasePaperStore(database, connection_id), wall_clock=utc_now)


CONNECTORS: dict[BrokerType, Connector] = {
    BrokerType.ALPACA: _alpaca,
    BrokerType.TRADIER: _tradier,
    BrokerType.PAPER: _paper,
}


def connector_for(broker: BrokerType) -> Connector:
    """The builder for ``broker``. Raises ``NotSupportedError`` if there is none."""
    found = CONNECTORS.get(broker)
    if found is None:
        ready = ", ".join(sorted(b.value for b in CONNECTORS))
        raise NotSupportedError(f"connections to {broker.value} are not available yet; "
                                f"available: {ready}", broker=broker.value)
    return found


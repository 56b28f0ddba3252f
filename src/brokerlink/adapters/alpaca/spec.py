"""Alpaca's ``BrokerSpec`` (``specs/alpaca/REFERENCE.md``): keys or OAuth, paper by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from brokerlink.adapters._shared.audit import AuditSink
from brokerlink.adapters._shared.spec import (
    BrokerSettings,
    BrokerSpec,
    ClientAuthMethod,
    ConnectionSettings,
    CredentialKind,
    CredentialSpec,
    Environment,
    EnvironmentKind,
    OAuthEndpoints,
    RateBudget,
)
from brokerlink.core.capabilities import Capabilities, ModifyStyle
from brokerlink.core.commissions import FREE
from brokerlink.core.enums import AssetType, BrokerType, OrderType, TimeInForce

if TYPE_CHECKING:
    from brokerlink.core.interface import BrokerInterface

ALPACA = BrokerType.ALPACA

LIVE_URL = "https://api.alpaca.markets"
PAPER_URL = "https://paper-api.alpaca.markets"

BASE_CAPABILITIES = Capabilities(
    asset_types=frozenset({AssetType.EQUITY, AssetType.ETF, AssetType.OPTION}),
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce),
    fractional_shares=True,
    fractional_order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    # The OpenAPI spec's Order.qty: "Can take up to 9 decimal points".
    quantity_places=9,
    short_selling=True,
    extended_hours=True,
    options=True,
    options_level=2,
    multi_leg=False,
    modify=ModifyStyle.CANCEL_REPLACE,
    streaming=True,
    order_preview=False,
    client_order_ids=True,
    quotes=True,
    option_quotes=True,
    transactions=True,
)
"""What Alpaca offers; ``broker.capabilities_for`` narrows it to an account."""


class AlpacaSettings(BrokerSettings):
    """``create_broker("alpaca", ...)``: keys (or an OAuth access token) and where to go.

    ``emulator_url`` points everything at a local emulator; else ``base_url``; else
    paper trading unless ``paper=False``.
    """

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    base_url: str | None = None
    paper: bool = True
    emulator_url: str | None = None
    connection_id: str | None = None
    audit: AuditSink | None = None


def _create(settings: AlpacaSettings) -> BrokerInterface:
    from brokerlink.adapters.alpaca.broker import create

    return create(api_key=settings.api_key, api_secret=settings.api_secret,
                  access_token=settings.access_token, base_url=settings.base_url,
                  paper=settings.paper, emulator_url=settings.emulator_url,
                  connection_id=settings.connection_id, audit=settings.audit)


def _connect(settings: ConnectionSettings) -> BrokerInterface:
    from brokerlink.adapters.alpaca.auth import AlpacaAuth
    from brokerlink.adapters.alpaca.broker import AlpacaBroker
    from brokerlink.adapters.alpaca.config import AlpacaConfig

    auth = AlpacaAuth(key_id=settings.api_key, secret_key=settings.api_secret,
                      source=settings.source)
    return AlpacaBroker(auth, config=AlpacaConfig.for_url(settings.base_url),
                        connection_id=settings.connection_id, audit=settings.audit)


SPEC = BrokerSpec(
    broker_type=ALPACA,
    display_name="Alpaca",
    capabilities=BASE_CAPABILITIES,
    credentials=(
        CredentialSpec(CredentialKind.API_KEY, key_env="ALPACA_API_KEY_ID",
                       secret_env="ALPACA_API_SECRET_KEY",  # noqa: S106  (a variable name)
                       description="an API key id and secret key"),
        CredentialSpec(CredentialKind.OAUTH, description="an Alpaca Connect app (OAuth)"),
    ),
    oauth=OAuthEndpoints(
        authorize_url="https://app.alpaca.markets/oauth/authorize",
        token_url="https://api.alpaca.markets/oauth/token",  # noqa: S106  (a URL)
        client_auth=ClientAuthMethod.POST,
        default_scopes=("account:write", "trading"),
    ),
    environments=(
        Environment("paper", EnvironmentKind.PAPER, PAPER_URL),
        Environment("live", EnvironmentKind.LIVE, LIVE_URL),
        Environment("emulator", EnvironmentKind.EMULATOR),
    ),
    default_environment="paper",
    connect=_connect,
    settings_model=AlpacaSettings,
    create=_create,
    # Trading API: 200 requests per minute per account; orders share that window.
    # Alpaca refuses a client_order_id it has seen (422 "client_order_id must be unique").
    rejects_duplicate_client_order_id=True,
    read_budget=RateBudget(200, 60.0),
    order_budget=RateBudget(200, 60.0),
    commissions=FREE,
)

__all__ = ["ALPACA", "BASE_CAPABILITIES", "LIVE_URL", "PAPER_URL", "SPEC", "AlpacaSettings"]

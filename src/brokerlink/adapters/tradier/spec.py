"""Tradier's ``BrokerSpec`` (``specs/tradier/REFERENCE.md``): a bearer token or OAuth,
the sandbox by default."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import SecretStr

from brokerlink.adapters._shared.audit import AuditSink
from brokerlink.adapters._shared.credentials import CredentialSource
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
from brokerlink.adapters._shared.urls import is_loopback
from brokerlink.core.capabilities import Capabilities, ModifyStyle
from brokerlink.core.commissions import CommissionRule
from brokerlink.core.enums import AssetType, BrokerType, OrderType, TimeInForce
from brokerlink.core.models import BrokerCredentials

if TYPE_CHECKING:
    from brokerlink.core.interface import BrokerInterface

TRADIER = BrokerType.TRADIER

LIVE_API = "https://api.tradier.com/v1"
SANDBOX_API = "https://sandbox.tradier.com/v1"

TRADIER_CAPABILITIES = Capabilities(
    asset_types=frozenset({AssetType.EQUITY, AssetType.ETF, AssetType.OPTION}),
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                           OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
    fractional_shares=False,
    quantity_places=0,  # whole shares and contracts only
    short_selling=True,
    extended_hours=True,
    options=True,
    options_level=6,
    # Multileg orders go through TradierBroker.place_multileg_order (a core
    # MultiLegOrderRequest), not place_order.
    multi_leg=True,
    modify=ModifyStyle.NATIVE,
    streaming=True,
    order_preview=True,
    # Tradier has no client-order-id field, but the id rides in the order's tag and
    # get_order_by_client_id finds it by listing the orders (broker.py): the lookup works.
    client_order_ids=True,
    quotes=True,
    option_quotes=True,
    transactions=True,
)


class TradierSettings(BrokerSettings):
    """``create_broker("tradier", ...)``: a token (or a refreshing ``token_source``) and
    where to go. ``emulator_url`` points at a local emulator; else ``base_url``; else the
    sandbox unless ``sandbox=False``. Without ``account_id`` the profile's first account
    is used."""

    access_token: SecretStr | None = None
    credentials: BrokerCredentials | None = None
    token_source: CredentialSource | None = None
    account_id: str | None = None
    base_url: str | None = None
    sandbox: bool = True
    emulator_url: str | None = None
    connection_id: str | None = None
    audit: AuditSink | None = None


def _create(settings: TradierSettings) -> BrokerInterface:
    from brokerlink.adapters.tradier.broker import create

    return create(settings.credentials, access_token=settings.access_token,
                  account_id=settings.account_id, base_url=settings.base_url,
                  sandbox=settings.sandbox, emulator_url=settings.emulator_url,
                  token_source=settings.token_source,
                  connection_id=settings.connection_id, audit=settings.audit)


def _connect(settings: ConnectionSettings) -> BrokerInterface:
    from brokerlink.adapters.tradier.broker import create

    # Tradier signs in with a bearer token only: an access token kept as the "api key",
    # or the OAuth token source.
    local = is_loopback(settings.base_url)
    return create(access_token=settings.api_key, token_source=settings.source,
                  emulator_url=settings.base_url if local else None,
                  base_url=None if local else settings.base_url, sandbox=True,
                  connection_id=settings.connection_id, audit=settings.audit)


SPEC = BrokerSpec(
    broker_type=TRADIER,
    display_name="Tradier",
    capabilities=TRADIER_CAPABILITIES,
    credentials=(
        CredentialSpec(CredentialKind.ACCESS_TOKEN, key_env="TRADIER_ACCESS_TOKEN",
                       description="an access token from the Tradier dashboard"),
        CredentialSpec(CredentialKind.OAUTH, description="a Tradier partner app (OAuth)"),
    ),
    oauth=OAuthEndpoints(
        authorize_url="https://api.tradier.com/v1/oauth/authorize",
        token_url="https://api.tradier.com/v1/oauth/accesstoken",  # noqa: S106  (a URL)
        refresh_url="https://api.tradier.com/v1/oauth/refreshtoken",
        client_auth=ClientAuthMethod.BASIC,
        default_scopes=("read", "write", "market", "trade", "stream"),
        scope_separator=",",
        access_token_lifetime=timedelta(hours=24),
    ),
    environments=(
        Environment("sandbox", EnvironmentKind.PAPER, SANDBOX_API),
        Environment("live", EnvironmentKind.LIVE, LIVE_API),
        Environment("emulator", EnvironmentKind.EMULATOR),
    ),
    default_environment="sandbox",
    connect=_connect,
    settings_model=TradierSettings,
    create=_create,
    # Account and order reads share the 120-a-minute standard window (live; the sandbox
    # allows 60); trading has its own 60-a-minute window.
    read_budget=RateBudget(120, 60.0),
    order_budget=RateBudget(60, 60.0),
    # The default retail plan: free stocks, $0.35 per option contract.
    commissions=CommissionRule(per_contract=Decimal("0.35")),
    aliases=("tradier_brokerage",),
)

__all__ = ["LIVE_API", "SANDBOX_API", "SPEC", "TRADIER", "TRADIER_CAPABILITIES",
           "TradierSettings"]

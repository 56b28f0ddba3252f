"""The fake broker's ``BrokerSpec``: API keys from FAKE_KEY_ID / FAKE_SECRET, a sandbox
by default, its own rate budgets and a per-order commission."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import SecretStr

from brokerlink.adapters._shared.spec import (
    BrokerSettings,
    BrokerSpec,
    ConnectionSettings,
    CredentialKind,
    CredentialSpec,
    Environment,
    EnvironmentKind,
    RateBudget,
)
from brokerlink.core.capabilities import Capabilities
from brokerlink.core.commissions import CommissionRule
from brokerlink.core.enums import AssetType, BrokerType, OrderType, TimeInForce

if TYPE_CHECKING:
    from brokerlink.core.interface import BrokerInterface

FAKE = BrokerType("fake")
KEY_ENV = "FAKE_KEY_ID"
SECRET_ENV = "FAKE_SECRET"

FAKE_CAPABILITIES = Capabilities(
    asset_types=frozenset({AssetType.EQUITY}),
    order_types=frozenset({OrderType.MARKET}),
    time_in_force=frozenset({TimeInForce.DAY}),
    client_order_ids=True,
    quotes=True,
    transactions=False,
)


class FakeSettings(BrokerSettings):
    """``create_broker("fake", ...)``: keys and the emulator's URL."""

    api_key: SecretStr
    api_secret: SecretStr
    base_url: str
    connection_id: str | None = None


def _create(settings: FakeSettings) -> BrokerInterface:
    from .broker import FakeBroker

    return FakeBroker(settings.base_url, settings.api_key, settings.api_secret,
                      connection_id=settings.connection_id)


def _connect(settings: ConnectionSettings) -> BrokerInterface:
    from brokerlink.core.errors import AuthError

    from .broker import FakeBroker

    if settings.api_key is None or settings.api_secret is None or not settings.base_url:
        raise AuthError("fake needs a key, a secret and a base URL", broker=FAKE.value,
                        connection_id=settings.connection_id)
    return FakeBroker(settings.base_url, settings.api_key, settings.api_secret,
                      connection_id=settings.connection_id)


SPEC = BrokerSpec(
    broker_type=FAKE,
    display_name="Fake",
    capabilities=FAKE_CAPABILITIES,
    credentials=(CredentialSpec(CredentialKind.API_KEY, key_env=KEY_ENV,
                                secret_env=SECRET_ENV, description="a key and secret"),),
    environments=(Environment("sandbox", EnvironmentKind.PAPER, "https://sandbox.fake.test"),
                  Environment("emulator", EnvironmentKind.EMULATOR)),
    default_environment="sandbox",
    connect=_connect,
    settings_model=FakeSettings,
    create=_create,
    aliases=("fakebroker",),
    read_budget=RateBudget(50, 1.0),
    order_budget=RateBudget(10, 1.0),
    commissions=CommissionRule(per_order=Decimal("1.25")),
)

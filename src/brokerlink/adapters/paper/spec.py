"""The paper broker's ``BrokerSpec``: a simulated account on ``brokerlink.sim``."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from brokerlink.adapters._shared.spec import (
    BrokerSettings,
    BrokerSpec,
    ConnectionSettings,
    CredentialKind,
    CredentialSpec,
    Environment,
    EnvironmentKind,
)
from brokerlink.core.capabilities import Capabilities, ModifyStyle
from brokerlink.core.enums import AccountType, AssetType, BrokerType, OrderType, TimeInForce
from brokerlink.core.errors import BrokerError

if TYPE_CHECKING:
    from brokerlink.core.interface import BrokerInterface

PAPER = BrokerType.PAPER
DEFAULT_CASH = Decimal(100_000)

PAPER_CAPABILITIES = Capabilities(
    asset_types=frozenset({AssetType.EQUITY, AssetType.ETF, AssetType.OPTION}),
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce),
    fractional_shares=True,
    fractional_order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    # Six places, like most retail brokers' fractional shares (so 1e-7 is refused).
    quantity_places=6,
    short_selling=True,
    extended_hours=True,
    options=True,
    options_level=2,
    multi_leg=False,
    modify=ModifyStyle.NATIVE,
    streaming=True,
    order_preview=False,
    client_order_ids=True,
    quotes=True,
    option_quotes=True,
    transactions=True,
)


class PaperSettings(BrokerSettings):
    """``create_broker("paper", ...)``: how the simulated account opens.

    ``market="always_open"`` keeps the market open at every instant; ``"exchange"``
    follows the NYSE calendar on the engine's virtual clock.
    """

    account_id: str | None = None
    cash: Decimal = DEFAULT_CASH
    market: Literal["exchange", "always_open"] = "exchange"
    seed: int = 7
    account_type: AccountType = AccountType.MARGIN
    options_level: int = 2
    start: datetime | None = None
    connection_id: str | None = None


def _create(settings: PaperSettings) -> BrokerInterface:
    from brokerlink.adapters.paper.broker import PaperBroker

    return PaperBroker(account_id=settings.account_id, cash=settings.cash,
                       market=settings.market, seed=settings.seed,
                       account_type=settings.account_type,
                       options_level=settings.options_level, start=settings.start,
                       connection_id=settings.connection_id)


def _connect(settings: ConnectionSettings) -> BrokerInterface:
    from brokerlink.adapters.paper.broker import PaperBroker
    from brokerlink.adapters.paper.config import parse_paper_url

    # No credentials and no network: the settings are all in the stored base_url. With a
    # state store the account is kept there (every process sees the same one, its market
    # catching up with the wall clock); without one it lives in this broker's memory.
    try:
        account_id, cash, seed, market = parse_paper_url(settings.base_url)
    except ValueError as exc:
        raise BrokerError(f"stored paper settings are unreadable: {exc}",
                          broker=PAPER.value, connection_id=settings.connection_id) from exc
    if settings.state is None:
        return PaperBroker(account_id=account_id, cash=cash, seed=seed, market=market,
                           connection_id=settings.connection_id)
    return PaperBroker(account_id=account_id, cash=cash, seed=seed, market=market,
                       connection_id=settings.connection_id, store=settings.state,
                       wall_clock=settings.wall_clock)


def _connection_url(settings: PaperSettings, connection_id: str) -> str:
    from brokerlink.adapters.paper.config import paper_url

    # The URL carries what opens the account; the account itself is stored apart.
    if settings.cash < 0:
        raise ValueError("paper cash cannot be negative")
    unstored = sorted(settings.model_fields_set - {"account_id", "cash", "seed", "market"})
    if unstored:
        raise ValueError(f"a stored paper connection keeps only account_id, cash, seed and "
                         f"market, not {', '.join(unstored)}")
    account_id = settings.account_id or f"PAPER-{connection_id.removeprefix('conn-')}"
    return paper_url(account_id=account_id, cash=settings.cash, seed=settings.seed,
                     market=settings.market)


SPEC = BrokerSpec(
    broker_type=PAPER,
    display_name="Paper (simulated)",
    capabilities=PAPER_CAPABILITIES,
    credentials=(CredentialSpec(CredentialKind.NONE, description="no credentials"),),
    environments=(Environment("paper", EnvironmentKind.PAPER),),
    default_environment="paper",
    connect=_connect,
    settings_model=PaperSettings,
    create=_create,
    aliases=("sim", "simulated"),
    stores_state=True,
    # In-process: an order is in the engine's state or it is not; nothing is in flight
    # that could be placed late, so one lookup after a crash is conclusive.
    late_order_window=timedelta(0),
    connection_url=_connection_url,
)

__all__ = ["DEFAULT_CASH", "PAPER", "PAPER_CAPABILITIES", "SPEC", "PaperSettings"]

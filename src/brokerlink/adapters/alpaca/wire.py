"""Pydantic models mirroring Alpaca's JSON exactly (``trading-api.json``,
``market-data-api.json``): the spec's field names, ``Decimal`` for every number.
Answers are ``Wire`` models; what the client sends are ``WireRequest`` models at the end
(bodies and query strings), so no request is an ad-hoc dict.

Models ignore fields they do not know (Alpaca adds fields over time) but keep enum-like
strings as ``str``: mapping to core enums, including unknown values, is ``mapping.py``'s
job, so a new status never fails parsing.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from brokerlink.adapters._shared.wire_client import DecimalText, WireRequest
from brokerlink.core.values import to_decimal, to_utc


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return to_decimal(value)


def _utc_or_none(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    return to_utc(value)


WireDecimal = Annotated[Decimal, BeforeValidator(to_decimal)]
OptDecimal = Annotated[Decimal | None, BeforeValidator(_decimal_or_none)]
WireTime = Annotated[datetime, BeforeValidator(to_utc)]
OptTime = Annotated[datetime | None, BeforeValidator(_utc_or_none)]


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class AlpacaAccount(Wire):
    id: str
    account_number: str | None = None
    status: str
    currency: str = "USD"
    cash: OptDecimal = None
    buying_power: OptDecimal = None
    regt_buying_power: OptDecimal = None
    daytrading_buying_power: OptDecimal = None
    non_marginable_buying_power: OptDecimal = None
    options_buying_power: OptDecimal = None
    portfolio_value: OptDecimal = None
    equity: OptDecimal = None
    last_equity: OptDecimal = None
    long_market_value: OptDecimal = None
    short_market_value: OptDecimal = None
    initial_margin: OptDecimal = None
    maintenance_margin: OptDecimal = None
    multiplier: str | None = None
    shorting_enabled: bool | None = None
    options_approved_level: int | None = None
    options_trading_level: int | None = None
    trading_blocked: bool = False
    account_blocked: bool = False
    pattern_day_trader: bool | None = None
    created_at: OptTime = None


class AlpacaPosition(Wire):
    asset_id: str
    symbol: str
    exchange: str = ""
    asset_class: str
    avg_entry_price: WireDecimal
    qty: WireDecimal
    qty_available: OptDecimal = None
    side: str
    market_value: OptDecimal = None
    cost_basis: OptDecimal = None
    unrealized_pl: OptDecimal = None
    unrealized_plpc: OptDecimal = None
    unrealized_intraday_pl: OptDecimal = None
    unrealized_intraday_plpc: OptDecimal = None
    current_price: OptDecimal = None
    lastday_price: OptDecimal = None
    change_today: OptDecimal = None


class AlpacaOrder(Wire):
    id: str
    client_order_id: str
    created_at: OptTime = None
    updated_at: OptTime = None
    submitted_at: OptTime = None
    filled_at: OptTime = None
    expired_at: OptTime = None
    canceled_at: OptTime = None
    failed_at: OptTime = None
    replaced_at: OptTime = None
    replaced_by: str | None = None
    replaces: str | None = None
    asset_id: str | None = None
    symbol: str | None = None
    asset_class: str | None = None
    notional: OptDecimal = None
    qty: OptDecimal = None
    filled_qty: OptDecimal = None
    filled_avg_price: OptDecimal = None
    order_class: str = ""
    type: str | None = None
    order_type: str | None = None
    side: str | None = None
    position_intent: str | None = None
    time_in_force: str
    limit_price: OptDecimal = None
    stop_price: OptDecimal = None
    status: str
    extended_hours: bool = False
    legs: list[AlpacaOrder] | None = None
    trail_percent: OptDecimal = None
    trail_price: OptDecimal = None
    hwm: OptDecimal = None


class AlpacaActivity(Wire):
    """One entry of ``/v2/account/activities``: a ``TradingActivities`` (FILL) or a
    ``NonTradeActivities`` object; fields of the other kind stay None."""

    id: str
    activity_type: str
    # trade activities
    transaction_time: OptTime = None
    type: str | None = None
    price: OptDecimal = None
    qty: OptDecimal = None
    side: str | None = None
    symbol: str | None = None
    leaves_qty: OptDecimal = None
    cum_qty: OptDecimal = None
    order_id: str | None = None
    order_status: str | None = None
    # non-trade activities
    date: str | None = None
    created_at: OptTime = None
    net_amount: OptDecimal = None
    per_share_amount: OptDecimal = None
    description: str | None = None
    status: str | None = None
    currency: str | None = None


class AlpacaAsset(Wire):
    id: str
    asset_class: str = Field(alias="class")
    exchange: str
    symbol: str
    name: str | None = None
    status: str
    tradable: bool
    marginable: bool
    shortable: bool
    easy_to_borrow: bool | None = None
    fractionable: bool


class AlpacaClock(Wire):
    timestamp: WireTime
    is_open: bool
    next_open: WireTime
    next_close: WireTime


class AlpacaCalendarDay(Wire):
    date: dt.date
    open: str
    close: str
    session_open: str | None = None
    session_close: str | None = None
    settlement_date: dt.date | None = None


class AlpacaQuote(Wire):
    """A stock or option quote from the data API (prices arrive as JSON numbers)."""

    t: WireTime
    ap: WireDecimal
    bp: WireDecimal
    as_: WireDecimal = Field(alias="as")
    bs: WireDecimal
    ax: str | None = None
    bx: str | None = None


class AlpacaLatestQuote(Wire):
    symbol: str
    quote: AlpacaQuote


class AlpacaLatestQuotes(Wire):
    quotes: dict[str, AlpacaQuote]


class AlpacaTrade(Wire):
    """A stock or option trade from the data API."""

    t: WireTime
    p: WireDecimal
    s: WireDecimal
    x: str | None = None


class AlpacaLatestTrades(Wire):
    trades: dict[str, AlpacaTrade]


class AlpacaTradeUpdate(Wire):
    """``data`` of a ``trade_updates`` stream message."""

    event: str
    timestamp: OptTime = None
    order: AlpacaOrder
    execution_id: str | None = None
    price: OptDecimal = None
    qty: OptDecimal = None
    position_qty: OptDecimal = None


# --- requests ---------------------------------------------------------------------------


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as Alpaca's query parameters accept."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


QueryTime = Annotated[datetime, PlainSerializer(timestamp, return_type=str)]


class AlpacaOrderRequest(WireRequest):
    """``POST /v2/orders``. Decimals go out as text (``"10.5"``), as Alpaca's own
    examples send them; the client order id is always present."""

    symbol: str
    qty: DecimalText
    side: Literal["buy", "sell"]
    type: str
    time_in_force: str
    client_order_id: str
    position_intent: str | None = None
    limit_price: DecimalText | None = None
    stop_price: DecimalText | None = None
    trail_price: DecimalText | None = None
    trail_percent: DecimalText | None = None
    extended_hours: bool | None = None


class AlpacaReplaceRequest(WireRequest):
    """``PATCH /v2/orders/{id}``: only the fields given change; ``trail`` is the new
    trail amount or percent, whichever the order uses."""

    qty: DecimalText | None = None
    time_in_force: str | None = None
    limit_price: DecimalText | None = None
    stop_price: DecimalText | None = None
    trail: DecimalText | None = None
    client_order_id: str | None = None


class AlpacaOrdersQuery(WireRequest):
    """``GET /v2/orders`` query; ``symbols`` comma-separated."""

    status: Literal["open", "closed", "all"] = "open"
    limit: int = Field(default=500, ge=1, le=500)
    direction: Literal["asc", "desc"] = "desc"
    after: QueryTime | None = None
    until: QueryTime | None = None
    symbols: str | None = None


class AlpacaActivitiesQuery(WireRequest):
    """``GET /v2/account/activities`` query; ``activity_types`` comma-separated."""

    direction: Literal["asc", "desc"] = "asc"
    page_size: int = Field(default=100, ge=1, le=100)
    activity_types: str | None = None
    after: QueryTime | None = None
    until: QueryTime | None = None
    page_token: str | None = None


class AlpacaClientOrderIdQuery(WireRequest):
    """``GET /v2/orders:by_client_order_id`` query."""

    client_order_id: str


class AlpacaCalendarQuery(WireRequest):
    """``GET /v2/calendar`` query (ISO dates)."""

    start: dt.date
    end: dt.date


class AlpacaSymbolsQuery(WireRequest):
    """Market-data ``latest`` query: ``symbols`` comma-separated."""

    symbols: str

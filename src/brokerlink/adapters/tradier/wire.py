"""Pydantic models mirroring Tradier's JSON exactly (REFERENCE.md sections 3 and 7).

Tradier writes numbers as JSON numbers; the client parses with ``parse_float=Decimal``
and every amount here is a ``Decimal``. Dates are ISO strings with ``Z`` except quote
dates (epoch milliseconds). **Collections** come in three shapes and every model here
accepts all of them: the string ``"null"`` (empty), a single object, or an array
(``{"orders": "null"}``, ``{"orders": {"order": {...}}}``, ``{"orders": {"order": [...]}}``).
Unknown keys are ignored: Tradier adds fields without notice.

Every answer is wrapped in an envelope (``{"profile": {...}}``, ``{"order": {...}}``):
the ``*Answer`` models read those, so a body without its envelope (``{}``, ``null``) is
refused by validation. Ids are bounded (``WireId``) and epoch times checked, so a hostile
number is a validation error, never an ``OverflowError``. What the adapter sends is
typed too: the request models at the end (``OrderForm``, ``ChangeForm``,
``MultilegOrder``, the queries) are ``WireRequest`` s whose ``to_wire()`` gives the form
fields or query parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from brokerlink.adapters._shared.wire_client import DecimalText, WireRequest
from brokerlink.core.values import Dec, UtcDatetime

NULL = "null"


def many(value: Any) -> list[Any]:
    """The inner half of the collection quirk: ``"null"``/None -> [], one object ->
    [object], an array -> itself."""
    if value is None or value == NULL:
        return []
    if isinstance(value, list):
        return value
    return [value]


def unwrap(value: Any, key: str) -> list[Any]:
    """A whole collection: ``"null"``, ``{key: obj}`` or ``{key: [...]}`` -> a list.

    Raises ``ValueError`` for anything else (pydantic reports it against the field).
    """
    if value is None or value == NULL:
        return []
    if isinstance(value, Mapping):
        return many(value.get(key))
    if isinstance(value, list):
        return value
    raise ValueError(f"expected the string 'null' or an object with {key!r}, "
                     f"got {type(value).__name__}")


def _epoch_ms(value: Any) -> Any:
    """Epoch milliseconds -> an aware UTC datetime. Raises ``ValueError`` (reported by
    pydantic against the field) for numbers no datetime can hold: without this a huge or
    infinite number escaped as an untyped ``OverflowError``."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a time in epoch milliseconds") from exc
    return value


def _null_is_none(value: Any) -> Any:
    return None if value == NULL else value


Many = BeforeValidator(many)
WireId = Annotated[int, Field(ge=0, lt=2**63)]
"""Tradier's numeric ids. Bounded: an absurd number in a hostile body would otherwise
become an int too long to print (``ValueError`` far from the parser)."""
EpochMs = Annotated[datetime, BeforeValidator(_epoch_ms)]
OptDec = Annotated[Dec | None, BeforeValidator(_null_is_none)]


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


# --- profile -----------------------------------------------------------------------------


class WireAccount(Wire):
    account_number: str
    classification: str | None = None
    date_created: UtcDatetime | None = None
    day_trader: bool = False
    option_level: int = 0
    status: str = "active"
    type: str = "cash"
    last_update_date: UtcDatetime | None = None


class WireProfile(Wire):
    id: str
    name: str | None = None
    account: Annotated[list[WireAccount], Many] = Field(default_factory=list)


# --- balances ----------------------------------------------------------------------------


class WireMarginBalances(Wire):
    """The ``margin`` and ``pdt`` sub-objects (the ``pdt`` one has no ``sweep``)."""

    fed_call: OptDec = None
    maintenance_call: OptDec = None
    option_buying_power: OptDec = None
    stock_buying_power: OptDec = None
    stock_short_value: OptDec = None
    sweep: OptDec = None
    day_trade_buying_power: OptDec = None


class WireCashBalances(Wire):
    cash_available: OptDec = None
    sweep: OptDec = None
    unsettled_funds: OptDec = None


class WireBalances(Wire):
    account_number: str
    account_type: str
    total_equity: Dec
    total_cash: Dec
    market_value: Dec = Decimal(0)
    option_short_value: OptDec = None
    close_pl: OptDec = None
    current_requirement: OptDec = None
    equity: OptDec = None
    long_market_value: OptDec = None
    open_pl: OptDec = None
    option_long_value: OptDec = None
    option_requirement: OptDec = None
    pending_orders_count: int = 0
    short_market_value: OptDec = None
    stock_long_value: OptDec = None
    uncleared_funds: OptDec = None
    pending_cash: OptDec = None
    margin: WireMarginBalances | None = None
    cash: WireCashBalances | None = None
    pdt: WireMarginBalances | None = None


# --- positions ---------------------------------------------------------------------------


class WirePosition(Wire):
    """All Tradier says about a position: no price, value or P&L."""

    cost_basis: Dec
    date_acquired: UtcDatetime | None = None
    id: WireId
    quantity: Dec
    symbol: str


# --- orders ------------------------------------------------------------------------------


class WireOrder(Wire):
    id: WireId
    type: str
    symbol: str
    side: str
    quantity: Dec
    status: str
    duration: str | None = None
    price: OptDec = None
    stop_price: OptDec = None
    avg_fill_price: OptDec = None
    exec_quantity: Dec = Decimal(0)
    last_fill_price: OptDec = None
    last_fill_quantity: OptDec = None
    remaining_quantity: OptDec = None
    create_date: UtcDatetime | None = None
    transaction_date: UtcDatetime | None = None
    order_class: str = Field(default="equity", alias="class")
    option_symbol: str | None = None
    tag: str | None = None
    reason_description: str | None = None
    num_legs: int | None = None
    strategy: str | None = None
    leg: Annotated[list[WireOrder], Many] = Field(default_factory=list)


class WireOrderAck(Wire):
    """What place, change and cancel answer: ``{"order": {"id", "status": "ok"}}``."""

    id: WireId | None = None
    status: str
    partner_id: str | None = None


class WireOrderPreview(Wire):
    status: str
    result: bool = True
    commission: OptDec = None
    cost: OptDec = None
    fees: OptDec = None
    order_cost: OptDec = None
    margin_change: OptDec = None
    symbol: str | None = None
    quantity: OptDec = None
    side: str | None = None
    type: str | None = None
    duration: str | None = None
    request_date: str | None = None
    """Written without a zone in Tradier's example; kept as text."""
    extended_hours: bool = False
    order_class: str | None = Field(default=None, alias="class")
    strategy: str | None = None
    day_trades: int | None = None


# --- history and gain/loss ---------------------------------------------------------------


class WireTrade(Wire):
    commission: OptDec = None
    description: str | None = None
    price: OptDec = None
    quantity: OptDec = None
    symbol: str | None = None
    trade_type: str | None = None


class WireHistoryDetail(Wire):
    """The detail object of a non-trade event (``adjustment``, ``journal``, ``ach``...)."""

    description: str | None = None
    quantity: OptDec = None
    option_type: str | None = None


HISTORY_DETAIL_KEYS = ("option", "adjustment", "journal", "ach", "wire", "dividend", "fee",
                       "tax", "check", "transfer", "interest")


class WireHistoryEvent(Wire):
    amount: Dec
    date: UtcDatetime
    type: str
    trade: WireTrade | None = None
    details: dict[str, WireHistoryDetail] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_details(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            details = {k: data[k] for k in HISTORY_DETAIL_KEYS if isinstance(data.get(k),
                                                                             Mapping)}
            return {**data, "details": details}
        return data

    @property
    def detail(self) -> WireHistoryDetail | None:
        return self.details.get(self.type) or next(iter(self.details.values()), None)


class WireClosedPosition(Wire):
    close_date: UtcDatetime
    cost: Dec
    gain_loss: Dec
    gain_loss_percent: OptDec = None
    open_date: UtcDatetime
    proceeds: Dec
    quantity: Dec
    symbol: str
    term: int | None = None


# --- market data -------------------------------------------------------------------------


class WireQuote(Wire):
    symbol: str
    description: str | None = None
    exch: str | None = None
    type: str | None = None
    last: OptDec = None
    change: OptDec = None
    volume: OptDec = None
    open: OptDec = None
    high: OptDec = None
    low: OptDec = None
    close: OptDec = None
    bid: OptDec = None
    ask: OptDec = None
    change_percentage: OptDec = None
    average_volume: OptDec = None
    last_volume: OptDec = None
    trade_date: EpochMs | None = None
    prevclose: OptDec = None
    week_52_high: OptDec = None
    week_52_low: OptDec = None
    bidsize: OptDec = None
    bidexch: str | None = None
    bid_date: EpochMs | None = None
    asksize: OptDec = None
    askexch: str | None = None
    ask_date: EpochMs | None = None
    root_symbols: str | None = None
    underlying: str | None = None
    strike: OptDec = None
    open_interest: OptDec = None
    contract_size: OptDec = None
    expiration_date: date | None = None
    expiration_type: str | None = None
    option_type: str | None = None
    root_symbol: str | None = None
    greeks: dict[str, Any] | None = None


class WireQuotes(Wire):
    quote: Annotated[list[WireQuote], Many] = Field(default_factory=list)
    unmatched: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _unmatched(cls, data: Any) -> Any:
        if data is None or data == NULL:
            return {}
        if isinstance(data, Mapping):
            raw = data.get("unmatched_symbols")
            symbols = unwrap(raw, "symbol") if raw is not None else []
            return {**data, "unmatched": [str(s) for s in symbols]}
        return data


class WireClock(Wire):
    date: date
    description: str | None = None
    state: str
    timestamp: int
    next_change: str | None = None
    next_state: str | None = None


# --- streaming ---------------------------------------------------------------------------


class WireStreamSession(Wire):
    url: str
    sessionid: str


class WireOrderEvent(Wire):
    """One account-stream order message."""

    id: WireId
    event: Literal["order"]
    status: str
    type: str | None = None
    price: OptDec = None
    stop_price: OptDec = None
    avg_fill_price: OptDec = None
    exec_quantity: OptDec = None
    last_fill_quantity: OptDec = None
    remaining_quantity: OptDec = None
    transaction_date: UtcDatetime | None = None
    create_date: UtcDatetime | None = None
    account: str | None = None
    tag: str | None = None
    parent_id: WireId | None = None


# --- requests ----------------------------------------------------------------------------
#
# What the adapter sends, typed: each model checks Tradier's documented values, and
# ``to_wire()`` gives the form fields or query parameters (amounts as plain decimal text,
# never a float; unset fields left out).

Side = Literal["buy", "sell", "sell_short", "buy_to_cover", "buy_to_open", "buy_to_close",
               "sell_to_open", "sell_to_close"]
Duration = Literal["day", "gtc", "pre", "post"]


class OrderForm(WireRequest):
    """``POST /accounts/{id}/orders`` for one equity or option order (REFERENCE.md
    section 3.5). ``preview=True`` asks Tradier to validate it and place nothing."""

    order_class: Literal["equity", "option"] = Field(alias="class")
    symbol: str
    side: Side
    quantity: DecimalText
    type: Literal["market", "limit", "stop", "stop_limit"]
    duration: Duration
    price: DecimalText | None = None
    stop: DecimalText | None = None
    option_symbol: str | None = None
    tag: str | None = None
    preview: bool | None = None

    @property
    def instrument(self) -> str:
        return self.option_symbol or self.symbol


class ChangeForm(WireRequest):
    """``PUT /accounts/{id}/orders/{order_id}``: only what changes."""

    price: DecimalText | None = None
    stop: DecimalText | None = None
    duration: Literal["day", "gtc"] | None = None


class MultilegLeg(WireRequest):
    """One leg of a multileg order: an option (``option_symbol``) or, in a combo, the
    equity leg (no ``option_symbol``)."""

    side: Side
    quantity: DecimalText
    option_symbol: str | None = None


class MultilegOrder(WireRequest):
    """Tradier's multileg (or combo, with an equity leg) order: 2 to 4 legs on one
    underlying, at a net ``debit``/``credit`` price, ``even`` or ``market``. Its legs go
    out as indexed fields (``side[0]``, ``quantity[0]``, ``option_symbol[0]``...)."""

    symbol: str
    type: Literal["market", "debit", "credit", "even"]
    duration: Literal["day", "gtc"] = "day"
    price: DecimalText | None = None
    legs: tuple[MultilegLeg, ...] = Field(min_length=2, max_length=4)
    tag: str | None = None

    @model_validator(mode="after")
    def _price_rules(self) -> MultilegOrder:
        if self.type in ("debit", "credit") and self.price is None:
            raise ValueError(f"a {self.type} multileg order needs a price")
        if self.type in ("market", "even") and self.price is not None:
            raise ValueError(f"a {self.type} multileg order takes no price")
        return self

    @property
    def order_class(self) -> Literal["multileg", "combo"]:
        return "multileg" if all(leg.option_symbol for leg in self.legs) else "combo"

    def to_wire(self) -> dict[str, Any]:
        """The form fields, legs indexed as Tradier takes them."""
        fields = super().to_wire()
        legs = fields.pop("legs")
        fields["class"] = self.order_class
        for index, leg in enumerate(legs):
            for name, value in leg.items():
                fields[f"{name}[{index}]"] = value
        return fields


class DateRangeQuery(WireRequest):
    """The query of ``/history`` (``start``, ``end``, ``type``, ``limit``) and
    ``/gainloss`` (``start``, ``end``)."""

    start: date | None = None
    end: date | None = None
    type: str | None = None
    limit: int | None = Field(default=None, ge=1, le=10_000)


class OrdersQuery(WireRequest):
    """``GET /accounts/{id}/orders``: tags included (they carry client order ids), and
    every order, not only today's."""

    include_tags: bool = Field(default=True, alias="includeTags")
    filter: Literal["all", "intraday"] = "all"


class OrderQuery(WireRequest):
    include_tags: bool = Field(default=True, alias="includeTags")


class QuotesQuery(WireRequest):
    symbols: str
    greeks: bool = False


# --- answers: the envelopes Tradier wraps every body in ------------------------------------


def _unwrapping(key: str) -> BeforeValidator:
    return BeforeValidator(lambda value: unwrap(value, key))


class ProfileAnswer(Wire):
    profile: WireProfile


class BalancesAnswer(Wire):
    balances: WireBalances


class PositionsAnswer(Wire):
    positions: Annotated[list[WirePosition], _unwrapping("position")]


class HistoryAnswer(Wire):
    history: Annotated[list[WireHistoryEvent], _unwrapping("event")]


class GainLossAnswer(Wire):
    gainloss: Annotated[list[WireClosedPosition], _unwrapping("closed_position")]


class OrdersAnswer(Wire):
    orders: Annotated[list[WireOrder], _unwrapping("order")]


class OrderAnswer(Wire):
    order: WireOrder


class AckAnswer(Wire):
    order: WireOrderAck


class PreviewAnswer(Wire):
    order: WireOrderPreview


class QuotesAnswer(Wire):
    quotes: WireQuotes


class ClockAnswer(Wire):
    clock: WireClock


class StreamSessionAnswer(Wire):
    stream: WireStreamSession

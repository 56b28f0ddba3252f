"""The unified, frozen models every broker maps into and out of.

Requests (``OrderRequest``, ``OrderModify``) validate completely in their
constructor, before any I/O: every failure is an ``InvalidOrderError`` that names the
field and says what to fix. Read models carry ``as_of`` and ``source`` so a consumer
can tell a live answer from a cached one.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from brokerlink.core.enums import (
    AccountStatus,
    AccountType,
    AssetType,
    BrokerType,
    DataSource,
    OptionType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TransactionType,
)
from brokerlink.core.errors import InvalidOrderError, SymbolNotFoundError
from brokerlink.core.numbers import (
    percent_problem,
    price_problem,
    quantity_problem,
    strike_problem,
)
from brokerlink.core.symbols import OCC_MIN_LENGTH, OptionContract, format_occ, parse_occ
from brokerlink.core.values import Dec, UtcDatetime, new_client_order_id, utc_now

_HUNDRED = Decimal(100)
# Enum members and sets bound once: requests are validated on every order, and class
# attribute access on an enum is slow in Python 3.11.
_LIMIT = OrderType.LIMIT
_OPTION, _EQUITY = AssetType.OPTION, AssetType.EQUITY
_ZERO = Decimal(0)
_TRAILING_STOP = OrderType.TRAILING_STOP
_NEEDS_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_STOP = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_AUCTIONS = frozenset({TimeInForce.OPG, TimeInForce.CLS})
_AUCTION_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})
_EXTENDED_HOURS_TIF = frozenset({TimeInForce.DAY, TimeInForce.GTC})
_OPTION_INTENT = frozenset(side for side in OrderSide if side.is_option_intent)


class Model(BaseModel):
    """Base of every unified model: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ReadModel(Model):
    """A model read from a broker, stamped with when and how it was read."""

    as_of: UtcDatetime = Field(default_factory=utc_now)
    source: DataSource = DataSource.LIVE


class BrokerAccount(ReadModel):
    account_id: str
    broker: BrokerType
    account_type: AccountType
    account_name: str | None = None
    status: AccountStatus = AccountStatus.ACTIVE
    can_trade_stocks: bool = True
    can_trade_options: bool = False
    can_trade_margin: bool = False
    can_short: bool = False
    opened_date: date | None = None
    last_sync: UtcDatetime | None = None
    currency: str = "USD"
    raw_status: str | None = None


class AccountBalances(ReadModel):
    account_id: str
    currency: str = "USD"
    cash: Dec
    cash_available: Dec
    cash_withdrawable: Dec
    buying_power: Dec
    day_trading_buying_power: Dec | None = None
    margin_balance: Dec | None = None
    margin_buying_power: Dec | None = None
    margin_maintenance: Dec | None = None
    total_value: Dec
    market_value: Dec
    day_pnl: Dec | None = None
    total_pnl: Dec | None = None


class Position(ReadModel):
    account_id: str
    symbol: str
    asset_type: AssetType = AssetType.EQUITY
    quantity: Dec
    quantity_available: Dec
    average_cost: Dec
    current_price: Dec | None = None
    market_value: Dec | None = None
    unrealized_pnl: Dec | None = None
    unrealized_pnl_pct: Dec | None = None
    day_pnl: Dec | None = None
    option_type: OptionType | None = None
    strike: Dec | None = None
    expiration: date | None = None
    underlying: str | None = None
    currency: str = "USD"

    @property
    def cost_basis(self) -> Decimal:
        multiplier = _HUNDRED if self.asset_type is AssetType.OPTION else Decimal(1)
        return self.quantity * self.average_cost * multiplier


def _invalid_order_from(exc: ValidationError, model: str) -> InvalidOrderError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    where = f"{model}.{field}" if field else model
    return InvalidOrderError(f"{where}: {message}", field=field)


class OrderRequest(Model):
    """A new order. Option orders give either an OCC symbol or the underlying plus
    ``option_type``, ``strike`` and ``expiration``; both spellings end up filled in."""

    symbol: str
    side: OrderSide
    quantity: Dec
    order_type: OrderType = OrderType.MARKET
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False
    trail_amount: Dec | None = None
    trail_percent: Dec | None = None
    option_type: OptionType | None = None
    strike: Dec | None = None
    expiration: date | None = None
    client_order_id: str = Field(default_factory=new_client_order_id, min_length=1,
                                 max_length=48, pattern=r"^[A-Za-z0-9_\-.]+$")

    @model_validator(mode="wrap")
    @classmethod
    def _as_invalid_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(_fill_option_fields(data))
        except ValidationError as exc:
            raise _invalid_order_from(exc, "OrderRequest") from exc

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        # Fields read once into locals; the checks run in a fixed order, so the first
        # problem reported is always the same one.
        quantity = self.quantity
        limit_price, stop_price = self.limit_price, self.stop_price
        trail_amount, trail_percent = self.trail_amount, self.trail_percent
        strike = self.strike
        _check_positive("quantity", quantity)
        if limit_price is not None:
            _check_positive("limit_price", limit_price)
        if stop_price is not None:
            _check_positive("stop_price", stop_price)
        if trail_amount is not None:
            _check_positive("trail_amount", trail_amount)
        if trail_percent is not None:
            _check_positive("trail_percent", trail_percent)
        if strike is not None:
            _check_positive("strike", strike)
        order_type = self.order_type
        _check_prices_for_type(order_type, limit_price, stop_price, trail_amount,
                               trail_percent)
        option_type, expiration = self.option_type, self.expiration
        if (option_type is not None or strike is not None or expiration is not None) and (
            option_type is None or strike is None or expiration is None
        ):
            raise InvalidOrderError(
                "an option order needs option_type, strike and expiration together "
                "(or an OCC symbol such as AAPL250117C00150000)", field="option_type")
        is_option = option_type is not None
        side = self.side
        option_intent = side in _OPTION_INTENT
        if option_intent and not is_option:
            raise InvalidOrderError(
                f"side {side.value} is for options only; use buy or sell for shares",
                field="side")
        if is_option:
            if not option_intent:
                raise InvalidOrderError(
                    f"option orders state their intent: use buy_to_open, buy_to_close, "
                    f"sell_to_open or sell_to_close instead of {side.value}",
                    field="side")
            if quantity != quantity.to_integral_value():
                raise InvalidOrderError("option contracts trade in whole numbers",
                                        field="quantity")
        _check_order_numbers(quantity=quantity, limit_price=limit_price,
                             stop_price=stop_price, trail_amount=trail_amount,
                             trail_percent=trail_percent, strike=strike, option=is_option)
        time_in_force = self.time_in_force
        if time_in_force in _AUCTIONS and order_type not in _AUCTION_ORDER_TYPES:
            raise InvalidOrderError(
                f"time_in_force {time_in_force.value} (an auction) takes market or "
                "limit orders only", field="time_in_force")
        if self.extended_hours and (
            order_type is not _LIMIT or time_in_force not in _EXTENDED_HOURS_TIF
        ):
            raise InvalidOrderError(
                "extended-hours orders must be limit orders with time_in_force day or gtc",
                field="extended_hours")
        return self

    @property
    def asset_type(self) -> AssetType:
        return _OPTION if self.option_type is not None else _EQUITY

    @property
    def option_contract(self) -> OptionContract | None:
        if self.option_type is None or self.strike is None or self.expiration is None:
            return None
        return OptionContract(self.symbol, self.expiration, self.option_type, self.strike)

    @property
    def instrument_symbol(self) -> str:
        """The symbol that trades: the OCC symbol for an option, else the ticker."""
        contract = self.option_contract
        return format_occ(contract) if contract else self.symbol


def _fill_option_fields(data: Any) -> Any:
    """Turn an OCC ``symbol`` into the underlying plus option fields."""
    if not isinstance(data, dict):
        return data
    symbol = data.get("symbol")
    if not isinstance(symbol, str):
        return data
    if len(symbol) < OCC_MIN_LENGTH:
        # Too short to be an OCC symbol: skip the parse (and its exception) on the hot path.
        normalized = symbol.strip().upper()
        # Already normalised (the usual case): the input as it is, not a copy.
        if normalized == symbol and type(symbol) is str:
            return data
        return {**data, "symbol": normalized}
    try:
        contract = parse_occ(symbol)
    except (SymbolNotFoundError, InvalidOrderError):
        return {**data, "symbol": symbol.strip().upper()}
    for name, value in (("option_type", contract.option_type), ("strike", contract.strike),
                        ("expiration", contract.expiration)):
        given = data.get(name)
        if given is not None and str(given) != str(value):
            raise InvalidOrderError(
                f"{name}={given} contradicts the OCC symbol {symbol!r} ({value})", field=name)
    return {**data, "symbol": contract.root, "option_type": contract.option_type,
            "strike": contract.strike, "expiration": contract.expiration}


def _check_order_numbers(*, quantity: Decimal | None, limit_price: Decimal | None,
                         stop_price: Decimal | None, trail_amount: Decimal | None,
                         trail_percent: Decimal | None, strike: Decimal | None,
                         option: bool) -> None:
    """The order rules of ``core.numbers``: raises ``InvalidOrderError`` naming the field
    and the rule it breaks."""
    problems: list[tuple[str, str | None]] = []
    if quantity is not None:
        problems.append(("quantity", quantity_problem(quantity, whole=option)))
    for name, price in (("limit_price", limit_price), ("stop_price", stop_price),
                        ("trail_amount", trail_amount)):
        if price is not None:
            problems.append((name, price_problem(price, option=option, what=name)))
    if trail_percent is not None:
        problems.append(("trail_percent", percent_problem(trail_percent)))
    if strike is not None:
        problems.append(("strike", strike_problem(strike)))
    for field, problem in problems:
        if problem is not None:
            raise InvalidOrderError(problem, field=field)


def _check_positive(field: str, value: Decimal) -> None:
    if value <= _ZERO:
        raise InvalidOrderError(f"{field} must be greater than zero, got {value}", field=field)


def _check_prices_for_type(
    order_type: OrderType,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    trail_amount: Decimal | None,
    trail_percent: Decimal | None,
) -> None:
    needs_limit = order_type in _NEEDS_LIMIT
    needs_stop = order_type in _NEEDS_STOP
    if needs_limit and limit_price is None:
        raise InvalidOrderError(f"a {order_type.value} order needs limit_price",
                                field="limit_price")
    if not needs_limit and limit_price is not None:
        raise InvalidOrderError(
            f"a {order_type.value} order takes no limit_price; use order_type limit or "
            "stop_limit", field="limit_price")
    if needs_stop and stop_price is None:
        raise InvalidOrderError(f"a {order_type.value} order needs stop_price",
                                field="stop_price")
    if not needs_stop and stop_price is not None:
        raise InvalidOrderError(
            f"a {order_type.value} order takes no stop_price; use order_type stop or "
            "stop_limit", field="stop_price")
    trailing = order_type is _TRAILING_STOP
    if trailing and (trail_amount is None) == (trail_percent is None):
        raise InvalidOrderError(
            "a trailing_stop order needs exactly one of trail_amount or trail_percent",
            field="trail_amount")
    if not trailing and (trail_amount is not None or trail_percent is not None):
        raise InvalidOrderError(
            f"a {order_type.value} order takes no trail_amount or trail_percent",
            field="trail_amount" if trail_amount is not None else "trail_percent")
    if trail_percent is not None and trail_percent >= _HUNDRED:
        raise InvalidOrderError("trail_percent must be below 100", field="trail_percent")


class OrderModify(Model):
    """Changes to an open order; give at least one field."""

    quantity: Dec | None = None
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    time_in_force: TimeInForce | None = None
    trail_amount: Dec | None = None
    trail_percent: Dec | None = None
    client_order_id: str | None = Field(default=None, min_length=1, max_length=48,
                                        pattern=r"^[A-Za-z0-9_\-.]+$")

    @model_validator(mode="wrap")
    @classmethod
    def _as_invalid_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise _invalid_order_from(exc, "OrderModify") from exc

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        changes = (self.quantity, self.limit_price, self.stop_price, self.time_in_force,
                   self.trail_amount, self.trail_percent)
        if all(c is None for c in changes):
            raise InvalidOrderError(
                "OrderModify changes nothing: give quantity, limit_price, stop_price, "
                "time_in_force, trail_amount or trail_percent")
        for name in ("quantity", "limit_price", "stop_price", "trail_amount", "trail_percent"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value)
        # The asset is not known here: the share rules, the looser of the two, apply; the
        # broker holds an option's change to its own tick.
        _check_order_numbers(quantity=self.quantity, limit_price=self.limit_price,
                             stop_price=self.stop_price, trail_amount=self.trail_amount,
                             trail_percent=self.trail_percent, strike=None, option=False)
        if self.trail_amount is not None and self.trail_percent is not None:
            raise InvalidOrderError("give trail_amount or trail_percent, not both",
                                    field="trail_amount")
        return self


class OrderResult(Model):
    """What a broker said when it took (or refused) an order."""

    success: bool
    order_id: str | None
    status: OrderStatus
    message: str | None = None
    filled_quantity: Dec = Decimal(0)
    filled_price: Dec | None = None
    submitted_at: UtcDatetime | None = None
    filled_at: UtcDatetime | None = None
    client_order_id: str | None = None
    raw_status: str | None = None


class Order(ReadModel):
    """The full state of one order at a broker."""

    order_id: str
    client_order_id: str | None = None
    account_id: str
    symbol: str
    asset_type: AssetType = AssetType.EQUITY
    side: OrderSide
    quantity: Dec
    order_type: OrderType
    limit_price: Dec | None = None
    stop_price: Dec | None = None
    trail_amount: Dec | None = None
    trail_percent: Dec | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False
    status: OrderStatus
    raw_status: str | None = None
    filled_quantity: Dec = Decimal(0)
    average_fill_price: Dec | None = None
    submitted_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    filled_at: UtcDatetime | None = None
    canceled_at: UtcDatetime | None = None
    expired_at: UtcDatetime | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    option_type: OptionType | None = None
    strike: Dec | None = None
    expiration: date | None = None
    reject_reason: str | None = None

    @property
    def remaining_quantity(self) -> Decimal:
        if self.status.is_terminal:
            return Decimal(0)
        return max(self.quantity - self.filled_quantity, Decimal(0))

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def to_result(self, message: str | None = None) -> OrderResult:
        return OrderResult(
            success=self.status is not OrderStatus.REJECTED,
            order_id=self.order_id,
            status=self.status,
            message=message or self.reject_reason,
            filled_quantity=self.filled_quantity,
            filled_price=self.average_fill_price,
            submitted_at=self.submitted_at,
            filled_at=self.filled_at,
            client_order_id=self.client_order_id,
            raw_status=self.raw_status,
        )


class Transaction(ReadModel):
    """One entry of an account's ledger: a fill, a fee or a cash movement."""

    transaction_id: str
    account_id: str
    type: TransactionType
    timestamp: UtcDatetime
    amount: Dec
    symbol: str | None = None
    side: OrderSide | None = None
    quantity: Dec | None = None
    price: Dec | None = None
    fees: Dec = Decimal(0)
    order_id: str | None = None
    description: str | None = None
    currency: str = "USD"


class Quote(ReadModel):
    symbol: str
    bid: Dec | None = None
    ask: Dec | None = None
    last: Dec | None = None
    bid_size: Dec | None = None
    ask_size: Dec | None = None
    last_size: Dec | None = None
    volume: Dec | None = None
    previous_close: Dec | None = None
    timestamp: UtcDatetime

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


class BrokerCredentials(Model):
    """What a connection signs in with. Every secret is a ``SecretStr``: its repr,
    str and JSON dump show ``**********``; call ``get_secret_value()`` only at the
    moment a header or body is built."""

    broker: BrokerType
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    access_token_expires_at: UtcDatetime | None = None
    refresh_token_expires_at: UtcDatetime | None = None
    account_id: str | None = None
    base_url: str | None = None
    extra: dict[str, SecretStr] = Field(default_factory=dict)

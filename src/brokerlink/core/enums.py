"""Enumerations shared by every broker: the unified vocabulary of brokerlink."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, ClassVar

from pydantic_core import CoreSchema, core_schema


class BrokerType(str):
    """A broker's identifier: an open set, so a broker package added later needs no edit here.

    Each adapter package declares its own in its ``BrokerSpec``; the constants below are the
    product's vocabulary for user code (``create_broker(BrokerType.ALPACA)``). A value is
    the lower-case snake-case name (``"interactive_brokers"``). Aliases (``"ibkr"``) are
    resolved by the adapter registry, which knows every spec's aliases.
    """

    __slots__ = ()

    INTERACTIVE_BROKERS: ClassVar[BrokerType]
    SCHWAB: ClassVar[BrokerType]
    FIDELITY: ClassVar[BrokerType]
    TD_AMERITRADE: ClassVar[BrokerType]
    ROBINHOOD: ClassVar[BrokerType]
    ALPACA: ClassVar[BrokerType]
    TRADIER: ClassVar[BrokerType]
    PAPER: ClassVar[BrokerType]

    def __new__(cls, value: str) -> BrokerType:
        key = normalize_broker_name(value)
        if not _BROKER_NAME.fullmatch(key):
            raise ValueError(
                f"broker name {value!r} is not valid: use 1 to 40 lower-case letters, digits "
                "and underscores, starting with a letter")
        # Interned, so ``kind is BrokerType.PAPER`` keeps meaning what it did for an enum.
        found = _INTERNED.get(key)
        if found is None:
            found = super().__new__(cls, key)
            if len(_INTERNED) < _MAX_INTERNED:
                _INTERNED[key] = found
        return found

    @property
    def value(self) -> str:
        """The plain string, as an enum member's ``value`` would be."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"BrokerType({self.value!r})"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: BrokerType | str) -> BrokerType:
        """Normalise ``value`` (any case, dashes or spaces for underscores).

        Raises ``ValueError`` for a malformed name. Whether a broker by that name is
        installed is the registry's question (``brokerlink.adapters.registry.resolve``).
        """
        if isinstance(value, BrokerType):
            return value
        if not isinstance(value, str):
            raise ValueError(f"a broker name is text, not {type(value).__name__}")
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str))


_BROKER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_INTERNED: dict[str, BrokerType] = {}
_MAX_INTERNED = 1024


def normalize_broker_name(value: str) -> str:
    """``"Interactive-Brokers "`` -> ``"interactive_brokers"``."""
    return value.strip().lower().replace("-", "_").replace(" ", "_")


BrokerType.INTERACTIVE_BROKERS = BrokerType("interactive_brokers")
BrokerType.SCHWAB = BrokerType("schwab")
BrokerType.FIDELITY = BrokerType("fidelity")
BrokerType.TD_AMERITRADE = BrokerType("td_ameritrade")
BrokerType.ROBINHOOD = BrokerType("robinhood")
BrokerType.ALPACA = BrokerType("alpaca")
BrokerType.TRADIER = BrokerType("tradier")
BrokerType.PAPER = BrokerType("paper")


class AccountType(StrEnum):
    CASH = "cash"
    MARGIN = "margin"
    IRA = "ira"
    UNKNOWN = "unknown"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    RESTRICTED = "restricted"
    CLOSED = "closed"
    PENDING = "pending"
    UNKNOWN = "unknown"


class AssetType(StrEnum):
    EQUITY = "equity"
    ETF = "etf"
    OPTION = "option"
    MUTUAL_FUND = "mutual_fund"
    BOND = "bond"
    CRYPTO = "crypto"
    CASH_EQUIVALENT = "cash_equivalent"
    OTHER = "other"


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"
    SELL_SHORT = "sell_short"
    BUY_TO_COVER = "buy_to_cover"
    BUY_TO_OPEN = "buy_to_open"
    BUY_TO_CLOSE = "buy_to_close"
    SELL_TO_OPEN = "sell_to_open"
    SELL_TO_CLOSE = "sell_to_close"

    @property
    def is_buy(self) -> bool:
        return self in _BUY_SIDES

    @property
    def is_option_intent(self) -> bool:
        return self in _OPTION_SIDES

    @property
    def opens_short(self) -> bool:
        return self in (OrderSide.SELL_SHORT, OrderSide.SELL_TO_OPEN)


_BUY_SIDES = frozenset({OrderSide.BUY, OrderSide.BUY_TO_COVER, OrderSide.BUY_TO_OPEN,
                        OrderSide.BUY_TO_CLOSE})
_OPTION_SIDES = frozenset({OrderSide.BUY_TO_OPEN, OrderSide.BUY_TO_CLOSE,
                           OrderSide.SELL_TO_OPEN, OrderSide.SELL_TO_CLOSE})


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return self not in TERMINAL_STATUSES and self is not OrderStatus.UNKNOWN


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REPLACED,
                               OrderStatus.REJECTED, OrderStatus.EXPIRED})


class TransactionType(StrEnum):
    FILL = "fill"
    FEE = "fee"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    DIVIDEND = "dividend"
    INTEREST = "interest"
    TRANSFER = "transfer"
    OTHER = "other"


class DataSource(StrEnum):
    """Where a read model came from, so a consumer can judge its freshness."""

    LIVE = "live"
    STREAM = "stream"
    POLL = "poll"
    CACHE = "cache"
    SIMULATION = "simulation"

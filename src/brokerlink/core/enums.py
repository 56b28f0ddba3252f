"""Enumerations shared by every broker: the unified vocabulary of brokerlink."""

from __future__ import annotations

from enum import StrEnum


class BrokerType(StrEnum):
    """Every broker brokerlink speaks to, plus the built-in paper broker."""

    INTERACTIVE_BROKERS = "interactive_brokers"
    SCHWAB = "schwab"
    FIDELITY = "fidelity"
    TD_AMERITRADE = "td_ameritrade"
    ROBINHOOD = "robinhood"
    ALPACA = "alpaca"
    TRADIER = "tradier"
    PAPER = "paper"

    @classmethod
    def parse(cls, value: BrokerType | str) -> BrokerType:
        """Accept a member, its value or its name in any case (``"PAPER"``, ``"paper"``).

        Raises ``ValueError`` naming the accepted spellings.
        """
        if isinstance(value, BrokerType):
            return value
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        for member in cls:
            if key in (member.value, member.name.lower()):
                return member
        aliases = {"ibkr": cls.INTERACTIVE_BROKERS, "ib": cls.INTERACTIVE_BROKERS,
                   "tda": cls.TD_AMERITRADE}
        if key in aliases:
            return aliases[key]
        accepted = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown broker {value!r}; use one of: {accepted}")


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

"""Option and share-class symbology.

OCC option symbols come in two spellings: the padded 21-character form, with the
root left-justified in six columns (``AAPL  250117C00150000``), and the compact form
brokers such as Alpaca use (``AAPL250117C00150000``). The last 15 characters are
always ``YYMMDD`` + ``C``/``P`` + the strike times 1000 in eight digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from brokerlink.core.enums import OptionType
from brokerlink.core.errors import InvalidOrderError, SymbolNotFoundError

OCC_ROOT_WIDTH = 6
OCC_MIN_LENGTH = 16
"""A one-letter root plus the 15-character date, type and strike."""
_STRIKE_SCALE = Decimal(1000)
_MAX_STRIKE = Decimal("99999.999")
_OCC_TAIL = re.compile(r"(?P<date>\d{6})(?P<cp>[CP])(?P<strike>\d{8})")
_ROOT = re.compile(r"[A-Z0-9]{1,6}|[A-Z0-9]{1,4}\.[A-Z]")
_SHARE_CLASS = re.compile(r"^(?P<base>[A-Z]{1,5})(?:[./ ]|-)(?P<cls>[A-Z]{1,2})$")


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed option: its root, expiry, call or put, and strike."""

    root: str
    expiration: date
    option_type: OptionType
    strike: Decimal

    def __post_init__(self) -> None:
        if not _ROOT.fullmatch(self.root):
            raise InvalidOrderError(
                f"option root {self.root!r} must be 1-6 upper-case letters or digits, with "
                "an optional class suffix such as BF.B",
                field="symbol",
            )
        if self.strike <= 0 or self.strike > _MAX_STRIKE:
            raise InvalidOrderError(
                f"strike {self.strike} must be above 0 and at most {_MAX_STRIKE}",
                field="strike",
            )
        if (self.strike * _STRIKE_SCALE) % 1 != 0:
            raise InvalidOrderError(
                f"strike {self.strike} has more than three decimals", field="strike"
            )

    @property
    def occ(self) -> str:
        """The compact OCC symbol."""
        return format_occ(self)


def parse_occ(symbol: str) -> OptionContract:
    """Parse a padded or compact OCC option symbol.

    Raises ``SymbolNotFoundError`` when ``symbol`` is not an OCC symbol at all, and
    ``InvalidOrderError`` when it has the shape but an impossible date or strike.
    """
    text = symbol.strip().upper()
    if len(text) < OCC_MIN_LENGTH:
        raise SymbolNotFoundError(
            f"{symbol!r} is not an OCC option symbol: expected ROOT + YYMMDD + C/P + "
            "8-digit strike, e.g. AAPL250117C00150000",
            symbol=symbol,
        )
    tail = _OCC_TAIL.fullmatch(text[-15:])
    root = text[:-15].rstrip()
    if tail is None or not root or " " in root or len(root) > OCC_ROOT_WIDTH:
        raise SymbolNotFoundError(
            f"{symbol!r} is not an OCC option symbol: expected ROOT (1-6 chars) + YYMMDD + "
            "C/P + 8-digit strike, e.g. AAPL250117C00150000",
            symbol=symbol,
        )
    if len(text) == 21 and len(text[:-15]) != OCC_ROOT_WIDTH:
        raise SymbolNotFoundError(f"{symbol!r} has a malformed padded root", symbol=symbol)
    raw_date = tail["date"]
    try:
        expiration = date(2000 + int(raw_date[:2]), int(raw_date[2:4]), int(raw_date[4:]))
    except ValueError as exc:
        raise InvalidOrderError(
            f"{symbol!r} has an impossible expiration date {raw_date}", field="expiration"
        ) from exc
    strike = Decimal(tail["strike"]) / _STRIKE_SCALE
    option_type = OptionType.CALL if tail["cp"] == "C" else OptionType.PUT
    return OptionContract(root, expiration, option_type, strike.quantize(Decimal("0.001")))


def format_occ(contract: OptionContract, *, padded: bool = False) -> str:
    """Write ``contract`` as an OCC symbol, compact by default or padded to 21 characters."""
    root = contract.root.ljust(OCC_ROOT_WIDTH) if padded else contract.root
    strike = int((contract.strike * _STRIKE_SCALE).to_integral_exact())
    cp = "C" if contract.option_type is OptionType.CALL else "P"
    return f"{root}{contract.expiration:%y%m%d}{cp}{strike:08d}"


def is_occ(symbol: str) -> bool:
    """Whether ``symbol`` is shaped like an OCC option symbol."""
    try:
        parse_occ(symbol)
    except (SymbolNotFoundError, InvalidOrderError):
        return False
    return True


def normalize_equity_symbol(symbol: str) -> str:
    """Canonical equity ticker: upper case, share classes written with a dot (``BRK.B``).

    Accepts ``BRK.B``, ``BRK B``, ``BRK/B`` and ``BRK-B``. Raises ``SymbolNotFoundError``
    for an empty or malformed ticker.
    """
    text = " ".join(symbol.strip().upper().split())
    share_class = _SHARE_CLASS.fullmatch(text)
    if share_class:
        return f"{share_class['base']}.{share_class['cls']}"
    if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", text):
        raise SymbolNotFoundError(
            f"{symbol!r} is not a valid ticker: use letters and digits, with a share class "
            "as BRK.B",
            symbol=symbol,
        )
    return text


def share_class_parts(symbol: str) -> tuple[str, str | None]:
    """Split a normalised ticker into its base and share class (``("BRK", "B")``)."""
    normal = normalize_equity_symbol(symbol)
    base, _, cls = normal.partition(".")
    return base, cls or None

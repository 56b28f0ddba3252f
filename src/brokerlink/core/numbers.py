"""The one Decimal policy: what a price or a quantity may be, everywhere.

Every number that enters brokerlink (a library call, the CLI, the HTTP service, an
emulator's request, a broker's answer) is an exact, finite ``Decimal`` of bounded size,
read from ASCII digits only. Orders are stricter: a quantity within the asset's
increment (option contracts and non-fractional shares whole, fractional shares to at
most ``MAX_QUANTITY_PLACES``), prices on the US tick rules (Reg NMS Rule 612 for shares:
cents from $1.00, hundredths of a cent below; cents for options). Anything else is refused
with a message naming the field and the rule.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_ADJUSTED_EXPONENT = 18
"""No value reaches 10**19: larger numbers are garbage, and would overflow arithmetic."""
MIN_ADJUSTED_EXPONENT = -30
"""No non-zero value is below 10**-30 in size: smaller is garbage (``1e-400``)."""
MAX_DIGITS = 40
"""Significant digits at most: computed values carry 28 (the decimal context's precision);
a longer input is garbage that would only cost time."""

MAX_ORDER_QUANTITY = Decimal(1_000_000_000)
MAX_QUANTITY_PLACES = 9
"""Fractional shares: the finest any supported broker takes (Alpaca: 9 decimal places)."""
MAX_PRICE = Decimal(10_000_000)
"""Ten million dollars a share or contract: above any listed US security."""
MAX_STRIKE_PLACES = 3
"""An OCC symbol carries the strike in thousandths of a dollar."""
MAX_PERCENT_PLACES = 4

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,12})?")
_MAX_TEXT = 100
_CENT = Decimal("0.01")
_HUNDREDTH_CENT = Decimal("0.0001")
_ONE = Decimal(1)


class NumberPolicyError(ValueError):
    """A number outside the policy; the message says which rule."""


def parse_decimal_text(text: str) -> Decimal:
    """``text`` (ASCII digits, one optional point and exponent, surrounding spaces allowed)
    as a bounded ``Decimal``. Raises ``NumberPolicyError`` for anything else: other
    digits (``"١٢"``), ``nan``, ``inf``, underscores, or a value out of bounds."""
    stripped = text.strip()
    if len(stripped) > _MAX_TEXT:
        raise NumberPolicyError(f"{text[:20]!r}... is too long to be a number")
    if not stripped.isascii() or not _NUMBER.fullmatch(stripped):
        raise NumberPolicyError(
            f"{text[:40]!r} is not a number written with ASCII digits (like 12 or 0.5)")
    try:
        value = Decimal(stripped)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise NumberPolicyError(f"{text[:40]!r} is not a number") from exc
    return check_bounded(value)


def check_bounded(value: Decimal) -> Decimal:
    """``value`` if finite and of sane size: below 10**19, and if not zero at least
    10**-30, with at most 40 significant digits (a zero with any exponent is plain zero).
    Raises ``NumberPolicyError``."""
    if not value.is_finite():
        raise NumberPolicyError("must be a finite number")
    if value.is_zero():
        return Decimal(0)
    adjusted = value.adjusted()
    if adjusted > MAX_ADJUSTED_EXPONENT:
        raise NumberPolicyError(f"{_show(value)} is too large (at most 18 digits before "
                                "the point)")
    if adjusted < MIN_ADJUSTED_EXPONENT:
        raise NumberPolicyError(f"{_show(value)} is too small to be a price or quantity")
    if len(value.as_tuple().digits) > MAX_DIGITS:
        raise NumberPolicyError(f"{_show(value)} has more than {MAX_DIGITS} digits")
    return value


def places(value: Decimal) -> int:
    """Decimal places ``value`` needs (trailing zeros ignored): ``1.50`` -> 1."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantity_problem(value: Decimal, *, whole: bool, what: str = "quantity") -> str | None:
    """Why ``value`` cannot be an order quantity, or ``None`` if it can."""
    if value > MAX_ORDER_QUANTITY:
        return f"{what} {_show(value)} is above the limit of {MAX_ORDER_QUANTITY:,}"
    if whole and value != value.to_integral_value():
        return f"{what} must be a whole number here, not {_show(value)}"
    if places(value) > MAX_QUANTITY_PLACES:
        return (f"{what} {_show(value)} is finer than {MAX_QUANTITY_PLACES} decimal places, "
                "the smallest fraction any broker takes")
    return None


def price_problem(value: Decimal, *, option: bool, what: str = "price") -> str | None:
    """Why ``value`` is not a valid order price (limit, stop or trail amount), or ``None``.

    Shares: whole cents from $1.00, hundredths of a cent below $1.00 (Reg NMS Rule 612).
    Options: whole cents (the finest option tick). At most ``MAX_PRICE``.
    """
    if value > MAX_PRICE:
        return f"{what} {_show(value)} is above the limit of {MAX_PRICE:,}"
    if option:
        if value % _CENT:
            return f"{what} {_show(value)} is not in whole cents, the option tick"
        return None
    tick = _CENT if value >= _ONE else _HUNDREDTH_CENT
    if value % tick:
        rule = ("whole cents from $1.00" if tick == _CENT
                else "hundredths of a cent below $1.00")
        return f"{what} {_show(value)} is off the tick: shares are priced in {rule}"
    return None


def strike_problem(value: Decimal) -> str | None:
    """Why ``value`` is not an option strike (OCC: thousandths, below $100,000)."""
    if value >= Decimal(100_000) or places(value) > MAX_STRIKE_PLACES:
        return (f"strike {_show(value)} must be below 100000 with at most "
                f"{MAX_STRIKE_PLACES} decimal places (as an OCC symbol carries it)")
    return None


def percent_problem(value: Decimal, what: str = "trail_percent") -> str | None:
    """Why ``value`` is not a trailing percentage (at most 4 decimal places)."""
    if places(value) > MAX_PERCENT_PLACES:
        return f"{what} {_show(value)} has more than {MAX_PERCENT_PLACES} decimal places"
    return None


def _show(value: Decimal) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:21]}..."


__all__ = ["MAX_ORDER_QUANTITY", "MAX_PRICE", "MAX_QUANTITY_PLACES", "NumberPolicyError",
           "check_bounded", "parse_decimal_text", "percent_problem", "places",
           "price_problem", "quantity_problem", "strike_problem"]

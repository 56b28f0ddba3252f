"""The core Decimal policy (``core.numbers``) applied to the numbers an emulator's
request carries, so an emulator is at least as strict as the brokers it models.

A value read here is finite, bounded, exact, and written with ASCII digits only (a
JSON number arrives as ``Decimal`` or ``int``, form text as ``str``); anything else,
booleans included, is a ``NumberFieldError`` naming the field and the rule. Each
emulator turns that error into its broker's documented error shape. The order rules
(positive, the asset's increment, the tick) are the ``*_problem`` helpers below, each
returning a message or ``None``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from brokerlink.core.numbers import (
    MAX_ORDER_QUANTITY,
    NumberPolicyError,
    percent_problem,
    places,
    price_problem,
    quantity_problem,
)
from brokerlink.core.values import to_decimal

__all__ = ["NumberFieldError", "amount_field_problem", "percent_field_problem",
           "price_field_problem", "quantity_field_problem", "read_number"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class NumberFieldError(ValueError):
    """A request number outside the policy: ``field`` and the ``rule`` it breaks."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def read_number(value: Any, field: str) -> Decimal | None:
    """``value`` (a request field) as a policy-bounded ``Decimal``; ``None`` when absent
    (``None`` or ``""``). Raises ``NumberFieldError`` for a boolean, a container, text
    that is not an ASCII decimal (``"١٢"``, ``"nan"``, ``"1_0"``), a non-finite number
    or one outside ``core.numbers``' bounds (``1e400``, ``1e-400``)."""
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except (NumberPolicyError, ValueError) as exc:
        raise NumberFieldError(field, str(exc)) from None


def quantity_field_problem(value: Decimal, field: str, *, whole: bool,
                           max_places: int) -> str | None:
    """Why ``value`` cannot be the order quantity ``field``, or ``None``: it must be
    positive, at most ``MAX_ORDER_QUANTITY``, whole when ``whole``, and carry at most
    ``max_places`` decimal places (the broker's precision)."""
    if value <= _ZERO:
        return f"{field} must be greater than 0"
    problem = quantity_problem(value, whole=whole, what=field)
    if problem is not None:
        return problem
    if places(value) > max_places:
        return (f"{field} {value:f} has more than {max_places} decimal places"
                if max_places else f"{field} must be a whole number, not {value:f}")
    return None


def price_field_problem(value: Decimal, field: str, *, option: bool) -> str | None:
    """Why ``value`` cannot be the order price ``field`` (limit, stop or trail amount),
    or ``None``: positive, on the US tick (``core.numbers.price_problem``)."""
    if value <= _ZERO:
        return f"{field} must be greater than 0"
    return price_problem(value, option=option, what=field)


def percent_field_problem(value: Decimal, field: str) -> str | None:
    """Why ``value`` cannot be a trailing percentage, or ``None``: above 0, below 100,
    at most 4 decimal places."""
    if value <= _ZERO or value >= _HUNDRED:
        return f"{field} must be greater than 0 and below 100"
    return percent_problem(value, what=field)


def amount_field_problem(value: Decimal, field: str, *, max_places: int) -> str | None:
    """Why ``value`` cannot be a dollar amount to trade (a notional), or ``None``:
    positive, at most the order-size bound, at most ``max_places`` decimal places."""
    if value <= _ZERO:
        return f"{field} must be greater than 0"
    if value > MAX_ORDER_QUANTITY:
        return f"{field} {value:f} is above the limit of {MAX_ORDER_QUANTITY:,}"
    if places(value) > max_places:
        return f"{field} {value:f} has more than {max_places} decimal places"
    return None

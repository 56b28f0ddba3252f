"""One rule-table type for every adapter's ``errors.py``.

An adapter lists ``ErrorRule`` rows: each names what it matches (HTTP status(es), broker
code(s), a message pattern, operations) and what it becomes (a ``BrokerError`` class and
a recovery hint for the user). ``ErrorRules`` resolves a response to the MOST SPECIFIC
matching row, i.e. the one that matched on the most criteria (ties go to the row listed
first), and falls back to ``default_error_for`` when no row matches. It is an
``ErrorMapper``: pass it to the ``Transport`` as ``error_mapper``.

Example::

    RULES = ErrorRules("Alpaca", [
        ErrorRule(InvalidOrderError, status=422, hint="Fix the request"),
        ErrorRule(DuplicateOrderError, status=422, code=40010001,
                  message="client_order_id", hint="Look the order up"),
    ])

A 422 with code 40010001 about ``client_order_id`` matches both rows; the second matched
on three criteria and wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from brokerlink.core.errors import (
    BrokerError,
    DuplicateOrderError,
    RateLimitError,
    RequestTimeoutError,
)
from brokerlink.core.values import utc_now

from .errors import ErrorResponse, default_error_for, error_code, error_message
from .ratelimit import retry_after_from_headers
from .redaction import redact_text, truncate

Extras = Callable[[ErrorResponse], dict[str, Any]]
"""Extra keyword arguments for the error class, read from the response (e.g. the
``required``/``available`` amounts of ``InsufficientFundsError``). Must not raise."""

MESSAGE_CHARS = 300
"""How much of the broker's own message an error quotes."""


def _ints(value: int | Collection[int] | None) -> frozenset[int] | None:
    if value is None:
        return None
    return frozenset({value}) if isinstance(value, int) else frozenset(value)


def _codes(value: str | int | Collection[str | int] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return frozenset({str(value)})
    return frozenset(str(v) for v in value)


@dataclass(frozen=True, init=False)
class ErrorRule:
    """One row of an error table.

    Criteria (each optional; all given ones must match): ``status`` (one or several HTTP
    statuses), ``code`` (one or several broker codes, compared as text), ``message`` (a
    regular expression searched, case-insensitively, in the broker's message),
    ``operations`` (the transport operation names it applies to). The result is
    ``error(message, **context, **extras(response))`` where the message is the broker's
    words followed by ``hint``. A rule with no criterion matches everything.
    """

    error: type[BrokerError]
    statuses: frozenset[int] | None
    codes: frozenset[str] | None
    message: re.Pattern[str] | None
    operations: frozenset[str] | None
    hint: str
    extras: Extras | None = field(default=None, compare=False)

    def __init__(self, error: type[BrokerError], *,
                 status: int | Collection[int] | None = None,
                 code: str | int | Collection[str | int] | None = None,
                 message: str | re.Pattern[str] | None = None,
                 operations: Collection[str] | None = None,
                 hint: str = "", extras: Extras | None = None) -> None:
        pattern = re.compile(message, re.IGNORECASE) if isinstance(message, str) else message
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "statuses", _ints(status))
        object.__setattr__(self, "codes", _codes(code))
        object.__setattr__(self, "message", pattern)
        object.__setattr__(self, "operations",
                           frozenset(operations) if operations is not None else None)
        object.__setattr__(self, "hint", hint)
        object.__setattr__(self, "extras", extras)

    @property
    def specificity(self) -> int:
        """How many criteria this rule names: the more, the more specific."""
        return sum(c is not None for c in (self.statuses, self.codes, self.message,
                                           self.operations))

    def matches(self, response: ErrorResponse, code: str | None, said: str) -> bool:
        """True if every criterion this rule names holds for ``response`` (``code`` and
        ``said`` are the broker's code and message, already extracted)."""
        return ((self.statuses is None or response.status in self.statuses)
                and (self.codes is None or code in self.codes)
                and (self.message is None or self.message.search(said) is not None)
                and (self.operations is None or response.operation in self.operations))

    def build(self, response: ErrorResponse, text: str) -> BrokerError:
        """The error for ``response``; ``text`` is the redacted account of what the
        broker said."""
        message = f"{text}. {self.hint}" if self.hint else text
        kwargs: dict[str, Any] = dict(self.extras(response)) if self.extras else {}
        if issubclass(self.error, RateLimitError) and "retry_after" not in kwargs:
            kwargs["retry_after"] = retry_after_from_headers(response.headers, now=utc_now())
        if issubclass(self.error, DuplicateOrderError | RequestTimeoutError):
            kwargs.setdefault("client_order_id", response.client_order_id)
        return self.error(message, **response.context(), **kwargs)


class ErrorRules:
    """An adapter's error table, usable as the transport's ``ErrorMapper``.

    ``code_of`` and ``message_of`` extract the broker's code and message from a body
    (defaults: the common shapes in ``errors.py``). Calling it never raises and never
    returns None: unmatched responses get ``default_error_for``.
    """

    def __init__(self, broker: str, rules: Iterable[ErrorRule], *,
                 code_of: Callable[[object], str | None] = error_code,
                 message_of: Callable[[object], str | None] = error_message) -> None:
        self.broker = broker
        self.rules: tuple[ErrorRule, ...] = tuple(rules)
        self._code_of = code_of
        self._message_of = message_of

    def __repr__(self) -> str:
        return f"ErrorRules({self.broker!r}, {len(self.rules)} rules)"

    def resolve(self, response: ErrorResponse) -> ErrorRule | None:
        """The most specific rule matching ``response`` (first listed on a tie), or None."""
        code = self._code_of(response.body)
        said = self._message_of(response.body) or response.text or ""
        best: ErrorRule | None = None
        for rule in self.rules:
            if rule.matches(response, code, said) and (
                    best is None or rule.specificity > best.specificity):
                best = rule
        return best

    def describe(self, response: ErrorResponse) -> str:
        """``"<Broker> <operation> failed (HTTP <status>): <what it said>"``, redacted."""
        said = self._message_of(response.body)
        # The transport scrubbed known secrets from the body; credential-like patterns
        # are scrubbed here before the broker's words go into a message.
        detail = truncate(redact_text(said), MESSAGE_CHARS) if said else (
            response.text or "no body")
        return f"{self.broker} {response.operation} failed (HTTP {response.status}): {detail}"

    def __call__(self, response: ErrorResponse, /) -> BrokerError:
        """The typed error for ``response``: the most specific rule's, else
        ``default_error_for``. Never raises."""
        rule = self.resolve(response)
        if rule is None:
            return default_error_for(response)
        return rule.build(response, self.describe(response))


__all__ = ["MESSAGE_CHARS", "ErrorRule", "ErrorRules", "Extras"]

"""``ErrorRules``: the most specific matching rule wins (ties go to the first listed),
nothing matching falls back to ``default_error_for``, and messages keep the broker's
words, redacted, followed by the rule's hint."""

from __future__ import annotations

import json
from typing import Any

import httpx

from brokerlink.adapters._shared.error_rules import ErrorRule, ErrorRules
from brokerlink.adapters._shared.errors import ErrorResponse
from brokerlink.core.errors import (
    BrokerError,
    BrokerUnavailableError,
    DuplicateOrderError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
)


def response(status: int, body: Any, operation: str = "place_order",
             headers: dict[str, str] | None = None) -> ErrorResponse:
    return ErrorResponse(status=status, body=body, text=json.dumps(body),
                         headers=httpx.Headers(headers or {}), operation=operation,
                         broker="acme", connection_id="c1", request_id="r1",
                         client_order_id="cid-9")


# Listed least specific first on purpose: order in the table must not decide.
RULES = ErrorRules("Acme", [
    ErrorRule(InvalidOrderError, status=(400, 422), hint="Fix it"),
    ErrorRule(PermissionDeniedError, status=403, hint="Ask for access"),
    ErrorRule(InsufficientFundsError, status=403, code=4031, message="buying power",
              hint="Add funds"),
    ErrorRule(DuplicateOrderError, status=422, code="4001", message=r"client_order_id",
              hint="Look it up"),
    ErrorRule(OrderNotFoundError, status=404, operations={"get_order", "cancel_order"}),
    ErrorRule(RateLimitError, status=429, hint="Slow down"),
])


def test_most_specific_rule_wins_whatever_the_order() -> None:
    funds = RULES(response(403, {"code": 4031, "message": "Insufficient BUYING POWER"}))
    assert type(funds) is InsufficientFundsError
    assert funds.message == ("Acme place_order failed (HTTP 403): Insufficient BUYING POWER. "
                             "Add funds")
    other = RULES(response(403, {"code": 4031, "message": "qty too large"}))
    assert type(other) is PermissionDeniedError
    duplicate = RULES(response(422, {"code": 4001, "message": "client_order_id must be unique"}))
    assert type(duplicate) is DuplicateOrderError
    assert duplicate.client_order_id == "cid-9"
    assert type(RULES(response(422, {"code": 4001, "message": "bad"}))) is InvalidOrderError


def test_resolve_names_the_rule_and_ties_go_to_the_first() -> None:
    rules = ErrorRules("Acme", [ErrorRule(InvalidOrderError, status=400, hint="first"),
                                ErrorRule(PermissionDeniedError, status=400, hint="second")])
    rule = rules.resolve(response(400, {"message": "no"}))
    assert rule is not None
    assert rule.hint == "first"
    assert rule.specificity == 1
    assert rules.resolve(response(401, {})) is None


def test_operations_narrow_a_rule() -> None:
    assert type(RULES(response(404, {"message": "gone"}, "get_order"))) is OrderNotFoundError
    # Not an order operation: the default mapping, which knows nothing better.
    missing = RULES(response(404, {"message": "gone"}, "get_account"))
    assert type(missing) is BrokerError


def test_no_match_falls_back_to_the_default() -> None:
    assert type(RULES(response(503, {"message": "down"}))) is BrokerUnavailableError
    assert type(RULES(response(401, {"message": "who"}))).__name__ == "AuthError"


def test_rate_limit_takes_retry_after_and_context() -> None:
    limited = RULES(response(429, {"code": 42910000, "message": "slow"},
                             headers={"Retry-After": "7"}))
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 7
    assert (limited.broker, limited.connection_id, limited.http_status,
            limited.broker_code, limited.request_id) == ("acme", "c1", 429, "42910000", "r1")


def test_extras_and_redaction() -> None:
    rules = ErrorRules("Acme", [ErrorRule(
        InsufficientFundsError, status=403,
        extras=lambda r: {"available": r.body["bp"] if isinstance(r.body, dict) else None})])
    said = "no funds; Authorization: Bearer abcdefghijklmnop1234"
    error = rules(response(403, {"message": said, "bp": 10}))
    assert isinstance(error, InsufficientFundsError)
    assert error.available == 10
    assert "abcdefghijklmnop1234" not in error.message

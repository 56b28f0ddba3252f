"""Secrets never leave: not in exceptions, logs, audit events or URLs."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import (
    REDACTED,
    RedactingFilter,
    StaticHeaders,
    Transport,
    is_sensitive_name,
    redact_body,
    redact_headers,
    redact_mapping,
    redact_text,
    redact_url,
    scrub_values,
)

KEY_ID = "PKPLANTEDKEYID0001"
SECRET = "planted-secret-value-0002"
QUERY_TOKEN = "planted-query-token-0003"
PLANTED = (KEY_ID, SECRET, QUERY_TOKEN)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "APCA-API-KEY-ID",
        "APCA-API-SECRET-KEY",
        "api_key",
        "apiKey",
        "access_token",
        "refresh_token",
        "client_secret",
        "code_verifier",
        "code",
        "password",
        "X-Session-Token",
        "sessionid",
        "otp",
        "Cookie",
    ],
)
def test_credential_names_are_sensitive(name: str) -> None:
    assert is_sensitive_name(name)


@pytest.mark.parametrize(
    "name", ["symbol", "qty", "client_order_id", "status", "Content-Type", "session", "option_type"]
)
def test_ordinary_names_are_not_sensitive(name: str) -> None:
    assert not is_sensitive_name(name)


def test_redact_headers_and_nested_mappings() -> None:
    headers = httpx.Headers({"APCA-API-KEY-ID": KEY_ID, "Accept": "application/json"})
    assert redact_headers(headers) == {"apca-api-key-id": REDACTED, "accept": "application/json"}
    nested = {"grant": {"refresh_token": "r", "scope": "read"}, "legs": [{"password": "p"}]}
    assert redact_mapping(nested) == {
        "grant": {"refresh_token": REDACTED, "scope": "read"},
        "legs": [{"password": REDACTED}],
    }


def test_redact_text_by_value_and_by_pattern() -> None:
    text = (
        f"echo {SECRET} Authorization: Bearer abc.def-ghi "
        f'{{"access_token": "xyz", "code": 40010001}} url?api_key=k1&symbol=AAPL'
    )
    result = redact_text(text, [SECRET])
    assert SECRET not in result
    assert "abc.def-ghi" not in result
    assert "xyz" not in result
    assert "k1&" not in result
    # Broker error codes and ordinary parameters stay readable.
    assert '"code": 40010001' in result
    assert "symbol=AAPL" in result


def test_short_values_are_not_replaced_everywhere() -> None:
    assert redact_text("a 1 b", ["1"]) == "a 1 b"


def test_redact_body_truncates_after_redacting() -> None:
    body = SECRET + "x" * 2000
    result = redact_body(body, [SECRET])
    assert SECRET not in result
    assert len(result) < 600
    assert "truncated from 2025 chars" in result


def test_redaction_is_linear_on_long_unbroken_text() -> None:
    # A pathological body must not make redaction backtrack for seconds.
    assert redact_text("x" * 200_000 + " token=abc") == "x" * 200_000 + f" token={REDACTED}"


def test_redact_url_drops_userinfo_and_secret_params() -> None:
    url = f"https://user:{SECRET}@api.example/v1/x?access_token={QUERY_TOKEN}&symbol=AAPL"
    result = redact_url(url)
    assert SECRET not in result
    assert QUERY_TOKEN not in result
    assert "symbol=AAPL" in result


def test_scrub_values_keeps_structure_and_numbers() -> None:
    assert scrub_values({"note": f"key {SECRET}", "n": [1, "x"]}, [SECRET]) == {
        "note": f"key {REDACTED}",
        "n": [1, "x"],
    }


def test_redacting_filter_scrubs_message_args_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("brokerlink.test.redaction")
    scrubber = RedactingFilter([SECRET])
    log.addFilter(scrubber)
    try:
        with caplog.at_level(logging.INFO, logger="brokerlink.test.redaction"):
            log.info("sending %s with Authorization: Bearer %s", SECRET, QUERY_TOKEN)
            try:
                raise ValueError(f"bad {SECRET}")
            except ValueError:
                log.exception("failed")
        scrubber.add_secret(KEY_ID)
        with caplog.at_level(logging.INFO, logger="brokerlink.test.redaction"):
            log.warning("key %s", KEY_ID)
    finally:
        log.removeFilter(scrubber)
    assert caplog.records
    for secret in PLANTED:
        assert secret not in caplog.text
    assert "ValueError" in caplog.text


def test_reprs_hide_secrets() -> None:
    credentials = StaticHeaders({"APCA-API-SECRET-KEY": SecretStr(SECRET)})
    transport = Transport(broker="alpaca", base_url="http://127.0.0.1:1", credentials=credentials)
    assert SECRET not in repr(credentials)
    assert SECRET not in repr(transport)

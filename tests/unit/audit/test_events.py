"""Redaction and canonical JSON: what may enter the log and the bytes the MAC covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum

import pytest
from pydantic import SecretStr

from brokerlink.audit.events import REDACTED, canonical_json, is_sensitive_key, redact


class Side(Enum):
    BUY = "buy"


def test_sensitive_keys_lose_their_values_at_any_depth() -> None:
    detail = {
        "symbol": "AAPL",
        "access_token": "t1", "Refresh-Token": "t2", "client_secret": "s", "password": "p",
        "Authorization": "Bearer x", "api_key": "k", "apiKey": "k2", "code_verifier": "v",
        "nested": {"headers": [{"X-API-KEY": "k3", "accept": "json"}]},
    }
    cleaned = redact(detail)
    assert cleaned["symbol"] == "AAPL"
    for key in ("access_token", "Refresh-Token", "client_secret", "password", "Authorization",
                "api_key", "apiKey", "code_verifier"):
        assert cleaned[key] == REDACTED, key
    assert cleaned["nested"]["headers"][0] == {"X-API-KEY": REDACTED, "accept": "json"}
    assert not is_sensitive_key("client_order_id")
    assert not is_sensitive_key("quantity")


def test_secret_types_and_bearer_strings_are_redacted() -> None:
    cleaned = redact({"note": SecretStr("s"), "header": "Bearer abc.def", "plain": "ok"})
    assert cleaned == {"note": REDACTED, "header": REDACTED, "plain": "ok"}


def test_canonical_json_is_stable_and_exact() -> None:
    moment = datetime(2026, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    text = canonical_json({"b": Decimal("1.10"), "a": moment, "side": Side.BUY,
                           "raw": b"\x00\x01", "list": (1, 2)})
    assert text == ('{"a":"2026-01-02T14:30:00.000000+00:00","b":"1.10","list":[1,2],'
                    '"raw":"<2 bytes>","side":"buy"}')
    assert canonical_json({"x": 1, "y": 2}) == canonical_json({"y": 2, "x": 1})


def test_unknown_objects_become_type_names_and_naive_times_are_refused() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "Bearer leaked"

    assert redact({"o": Opaque()}) == {"o": "<Opaque>"}
    with pytest.raises(ValueError, match="timezone"):
        redact({"at": datetime(2026, 1, 1)})  # noqa: DTZ001
    assert redact({"at": datetime(2026, 1, 1, tzinfo=UTC)})["at"].endswith("+00:00")

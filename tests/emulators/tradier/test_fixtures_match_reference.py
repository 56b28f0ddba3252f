"""The fixtures the emulator is checked against are the payloads of
``../shared/specs/tradier/REFERENCE.md``, not something drifted from them: each
fixture restating a documented example must equal the example in the reference."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from tests.adapters.tradier.payloads import payload
from tests.suite import SPECS, requires_specs

REFERENCE = SPECS / "tradier" / "REFERENCE.md"

# Skipped where the reference is missing, failed under CI=true (tests/suite.py).
pytestmark = requires_specs("tradier", "REFERENCE.md")


def _examples() -> list[Any]:
    text = REFERENCE.read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    return [json.loads(block, parse_float=Decimal) for block in blocks]


def _find(key: str) -> Any:
    for example in _examples():
        if isinstance(example, dict) and key in example:
            return example
    raise AssertionError(f"no {key!r} example in REFERENCE.md")


@pytest.mark.parametrize(("fixture", "key"), [
    ("profile", "profile"), ("balances_margin", "balances"),
    ("positions_many", "positions"), ("history", "history"),
    ("quotes_one_unmatched", "quotes")])
def test_fixture_is_the_documented_example(fixture: str, key: str) -> None:
    assert payload(fixture) == _find(key)


def test_orders_fixture_matches_except_the_elided_leg_keys() -> None:
    documented = _find("orders")["orders"]["order"]
    ours = payload("orders_many")["orders"]["order"]
    assert [{k: v for k, v in o.items() if k != "leg"} for o in ours] == \
        [{k: v for k, v in o.items() if k != "leg"} for o in documented]
    for our_leg, leg in zip(ours[2]["leg"], documented[2]["leg"], strict=True):
        known = {k: v for k, v in leg.items() if k != "…"}
        assert {k: our_leg[k] for k in known} == known

"""Reference payloads from ``tests/fixtures/tradier`` (each file says where it came from),
parsed the way the adapter parses the wire: JSON numbers with a fraction as ``Decimal``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tradier"


def payload(name: str) -> Any:
    """The ``body`` of ``tests/fixtures/tradier/<name>.json``."""
    document = json.loads((FIXTURES / f"{name}.json").read_text(), parse_float=Decimal)
    assert document["provenance"]
    return document["body"]

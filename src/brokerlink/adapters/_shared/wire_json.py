"""JSON frames off a websocket, decoded the one way every adapter needs.

Numbers with a fraction become ``Decimal`` (never ``float``), so a price read from a
stream is exact from the first byte on. Frames may be text or binary (UTF-8 JSON).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def decode_frame(raw: str | bytes) -> Any:
    """Parse one websocket frame as JSON with exact decimals.

    Raises ``ValueError`` (``json.JSONDecodeError`` or ``UnicodeDecodeError``) when the
    frame is not UTF-8 JSON.
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    return json.loads(text, parse_float=Decimal)


__all__ = ["decode_frame"]

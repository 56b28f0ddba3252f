"""Tradier's error answers, as the emulator sends them (REFERENCE.md section 5).

Bodies are ``{"errors": {"error": <message or list>}}`` (``errors_body``, defined with
the spec so the shared framework can answer unknown routes in it). Validation errors
are 400; downstream rejections arrive with 200; a missing order is 404; a bad or
missing token is 401 with the plain text ``Invalid Access Token``.
"""

from __future__ import annotations

from brokerlink.emulators.tradier.spec import errors_body

__all__ = ["UNAUTHORIZED_TEXT", "TradierHTTPError", "errors_body"]

UNAUTHORIZED_TEXT = "Invalid Access Token"


class TradierHTTPError(Exception):
    """Answer with ``{"errors": {"error": ...}}`` and ``status`` (200 for Tradier's
    downstream rejections, which arrive with a success status)."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages

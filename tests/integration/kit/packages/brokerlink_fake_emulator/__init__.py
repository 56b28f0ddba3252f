"""The fake broker's emulator package: ``create_app`` builds its FastAPI app."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]

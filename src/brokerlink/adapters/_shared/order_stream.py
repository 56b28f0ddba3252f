"""Import shim: the shared stream life cycle lives in ``_shared/stream.py``.

Kept only while an adapter still imports ``WebsocketOrderStream`` from here; new code
imports ``brokerlink.adapters._shared.stream``.
"""

from __future__ import annotations

from .stream import Backoff, WebsocketOrderStream

__all__ = ["Backoff", "WebsocketOrderStream"]

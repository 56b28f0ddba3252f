"""What an audit event may contain, and the exact bytes its hash covers.

``redact`` is the last line of defence: callers pass already-redacted details, and
it still replaces the value of any key that names a secret. ``canonical_json`` is
the one serialisation the HMAC chain is computed over: sorted keys, no whitespace,
Decimals as strings, datetimes as ISO 8601 UTC.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

REDACTED = "[redacted]"

# Substrings of a key (lower-cased, "-" as "_") that mark its value as a secret.
_SENSITIVE_PARTS = (
    "token", "secret", "password", "passwd", "passphrase", "authorization", "api_key",
    "apikey", "cookie", "credential", "code_verifier", "private_key", "signature",
    "client_assertion", "otp", "pin_code",
)
_BEARER = re.compile(r"^\s*(bearer|basic|token)\s+\S+", re.IGNORECASE)
_MAX_DEPTH = 20


def is_sensitive_key(key: str) -> bool:
    """Whether a detail key names a secret (token, secret, password, api key, ...)."""
    name = key.strip().lower().replace("-", "_")
    return (name == "key" or name.endswith("_key")
            or any(part in name for part in _SENSITIVE_PARTS))


def redact(value: Any, *, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value`` with every secret replaced by ``"[redacted]"``.

    Mappings lose the values of sensitive keys; ``SecretStr``/``SecretBytes`` and
    "Bearer ..."-style strings become ``"[redacted]"``; Decimals become strings,
    datetimes ISO UTC, enums their value, bytes a length. Unknown objects become
    their type name rather than their ``str`` (which might embed a secret).
    Raises ``ValueError`` for naive datetimes or nesting deeper than 20 levels.
    """
    if _depth > _MAX_DEPTH:
        raise ValueError("audit detail is nested too deeply")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, str):
        return REDACTED if _BEARER.match(value) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return redact(value.value, _depth=_depth + 1)
    if isinstance(value, uuid.UUID | PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, BaseModel):
        return redact(value.model_dump(mode="python"), _depth=_depth + 1)
    if isinstance(value, Mapping):
        return {str(key): REDACTED if is_sensitive_key(str(key))
                else redact(item, _depth=_depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [redact(item, _depth=_depth + 1) for item in items]
    return f"<{type(value).__name__}>"


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO 8601 in UTC with microseconds; refuses naive datetimes."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` after ``redact``: sorted keys, no spaces."""
    return json.dumps(redact(value), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)

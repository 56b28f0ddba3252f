"""The HTTP transport every broker adapter shares: credentials, rate limits, retries of
reads, error mapping, auditing and redaction. Writes are sent at most once.

Names load lazily on first use, so importing one small module of the kit (a broker's
``spec.py`` importing ``_shared.spec``) does not load the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .audit import AuditSink, MemoryAuditSink, NullAuditSink, RequestAuditEvent
    from .credentials import BearerToken, CredentialSource, StaticHeaders
    from .errors import (
        ORDER_OPERATIONS,
        ErrorMapper,
        ErrorResponse,
        default_error_for,
        error_code,
        error_message,
    )
    from .ratelimit import (
        RateLimiter,
        RateLimits,
        parse_retry_after,
        retry_after_from_headers,
    )
    from .redaction import (
        REDACTED,
        RedactingFilter,
        is_sensitive_name,
        redact_body,
        redact_headers,
        redact_mapping,
        redact_text,
        redact_url,
        scrub_values,
    )
    from .retry import RetryPolicy
    from .transport import DEFAULT_TIMEOUT, Transport, encode_json

_LAZY: dict[str, str] = {
    "AuditSink": "audit",
    "BearerToken": "credentials",
    "CredentialSource": "credentials",
    "DEFAULT_TIMEOUT": "transport",
    "ErrorMapper": "errors",
    "ErrorResponse": "errors",
    "MemoryAuditSink": "audit",
    "NullAuditSink": "audit",
    "ORDER_OPERATIONS": "errors",
    "REDACTED": "redaction",
    "RateLimiter": "ratelimit",
    "RateLimits": "ratelimit",
    "RedactingFilter": "redaction",
    "RequestAuditEvent": "audit",
    "RetryPolicy": "retry",
    "StaticHeaders": "credentials",
    "Transport": "transport",
    "default_error_for": "errors",
    "encode_json": "transport",
    "error_code": "errors",
    "error_message": "errors",
    "is_sensitive_name": "redaction",
    "parse_retry_after": "ratelimit",
    "redact_body": "redaction",
    "redact_headers": "redaction",
    "redact_mapping": "redaction",
    "redact_text": "redaction",
    "redact_url": "redaction",
    "retry_after_from_headers": "ratelimit",
    "scrub_values": "redaction",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEFAULT_TIMEOUT",
    "ORDER_OPERATIONS",
    "REDACTED",
    "AuditSink",
    "BearerToken",
    "CredentialSource",
    "ErrorMapper",
    "ErrorResponse",
    "MemoryAuditSink",
    "NullAuditSink",
    "RateLimiter",
    "RateLimits",
    "RedactingFilter",
    "RequestAuditEvent",
    "RetryPolicy",
    "StaticHeaders",
    "Transport",
    "default_error_for",
    "encode_json",
    "error_code",
    "error_message",
    "is_sensitive_name",
    "parse_retry_after",
    "redact_body",
    "redact_headers",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "retry_after_from_headers",
    "scrub_values",
]

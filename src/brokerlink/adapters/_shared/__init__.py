"""The HTTP transport every broker adapter shares: credentials, rate limits, retries of
reads, error mapping, auditing and redaction. Writes are sent at most once."""

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

"""The tamper-evident audit log: an HMAC hash chain with a separately stored checkpoint.

``AuditLog`` appends and verifies; ``AuditLogSink`` adapts it to the transport's
audit hook; ``redact`` and ``canonical_json`` define what is stored and hashed.
"""

from brokerlink.audit.events import canonical_json, redact
from brokerlink.audit.log import AUDIT_KEY_FIELD, AUDIT_KEY_OWNER, AuditIntegrityError, AuditLog
from brokerlink.audit.sink import AuditLogSink, RequestAuditEventLike
from brokerlink.audit.verify import Problem, VerifyReport

__all__ = [
    "AUDIT_KEY_FIELD",
    "AUDIT_KEY_OWNER",
    "AuditIntegrityError",
    "AuditLog",
    "AuditLogSink",
    "Problem",
    "RequestAuditEventLike",
    "VerifyReport",
    "canonical_json",
    "redact",
]

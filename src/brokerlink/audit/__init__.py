"""The tamper-evident audit log: an HMAC hash chain with a separately stored checkpoint.

``AuditLog`` appends, verifies and anchors; ``AuditLogSink`` adapts it to the
transport's audit hook; ``redact`` and ``canonical_json`` define what is stored and
hashed; an ``Anchor`` is the signed head a user keeps off the machine.
"""

from brokerlink.audit.anchor import Anchor, AnchorError, parse_anchor, read_anchor_file
from brokerlink.audit.events import canonical_json, redact
from brokerlink.audit.log import AUDIT_KEY_FIELD, AUDIT_KEY_OWNER, AuditIntegrityError, AuditLog
from brokerlink.audit.sink import AuditLogSink, RequestAuditEventLike
from brokerlink.audit.store import DamagedRecord
from brokerlink.audit.verify import Problem, VerifyReport

__all__ = [
    "AUDIT_KEY_FIELD",
    "AUDIT_KEY_OWNER",
    "Anchor",
    "AnchorError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditLogSink",
    "DamagedRecord",
    "Problem",
    "RequestAuditEventLike",
    "VerifyReport",
    "canonical_json",
    "parse_anchor",
    "read_anchor_file",
    "redact",
]

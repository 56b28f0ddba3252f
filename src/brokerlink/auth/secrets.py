"""Helpers around pydantic ``SecretStr``: the one funnel to plain text, and safe fingerprints.

Every place that needs a secret's characters calls ``reveal`` so a reviewer can
grep for them all. Logs and audit details carry ``secret_fingerprint`` instead: a
short digest that tells two secrets apart without disclosing either.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

_FINGERPRINT_KEY = b"brokerlink/secret-fingerprint/v1"
REDACTED = "**********"


def as_secret(value: str | SecretStr) -> SecretStr:
    """Wrap ``value`` in a ``SecretStr`` (idempotent), the moment a secret enters."""
    return value if isinstance(value, SecretStr) else SecretStr(value)


def reveal(secret: SecretStr) -> str:
    """The plain text of ``secret``. Call only where a header, body or cipher needs it."""
    return secret.get_secret_value()


def reveal_bytes(secret: SecretStr) -> bytes:
    """``reveal`` as UTF-8 bytes, for ciphers and MACs."""
    return secret.get_secret_value().encode("utf-8")


def secret_fingerprint(secret: SecretStr, *, length: int = 12) -> str:
    """A short keyed digest of ``secret`` for logs, e.g. ``"fp:3f9a0c1d2e4b"``.

    Safe for high-entropy secrets (tokens, API keys): 48 bits of a SHA-256 HMAC say
    whether two values are the same and nothing about either. Do not log fingerprints
    of passwords or passphrases, which a guesser could test offline. Raises
    ``ValueError`` if ``length`` is outside 8..64.
    """
    if not 8 <= length <= 64:
        raise ValueError("fingerprint length must be between 8 and 64 hex digits")
    digest = hmac.new(_FINGERPRINT_KEY, reveal_bytes(secret), hashlib.sha256).hexdigest()
    return f"fp:{digest[:length]}"


def secrets_equal(left: SecretStr, right: SecretStr) -> bool:
    """Compare two secrets in constant time (no timing hint of a common prefix)."""
    return hmac.compare_digest(reveal_bytes(left), reveal_bytes(right))

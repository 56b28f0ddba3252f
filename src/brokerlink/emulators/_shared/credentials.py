"""Who may call an emulator, and which simulated account each credential trades.

``CredentialDirectory`` maps credentials to engine accounts:

* **lenient** (default): any well-formed credential (an API key id plus a secret, or a
  bearer token) is welcome. On first use it gets a new funded account (by default
  $100,000 cash, margin, options level 2) and maps to that account from then on, so a
  client can point at an emulator with made-up keys and simply work. A key id seen
  before with a *different* secret is refused, like a real broker would.
* **strict**: only credentials created through the admin API (``create_api_key``,
  ``mint_bearer``) or registered by the OAuth server (``register_bearer``) work.

Bearer tokens registered by the OAuth server carry an expiry (checked against the
*engine's* clock, so tests expire tokens by moving the virtual clock) and can be
revoked; an expired or revoked registered token is refused even in lenient mode.

Secrets are never stored or logged in plain text: the directory keeps SHA-256 digests,
and the ``EmulatorAuthError`` messages never quote a credential.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from brokerlink.core.enums import AccountType
from brokerlink.sim.engine import DEFAULT_CASH, SimEngine

_WELL_FORMED = re.compile(r"^[\x21-\x7e]{4,256}$")
"""Printable ASCII without spaces, 4 to 256 characters: what any broker would issue."""


class EmulatorAuthError(Exception):
    """A credential was refused. Each broker app turns it into that broker's 401 body.

    ``reason`` is for logs and tests; it never contains the credential.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _ApiKey:
    secret_digest: bytes
    account_id: str


@dataclass(slots=True)
class _Bearer:
    account_id: str
    expires_at: datetime | None
    revoked: bool = False
    registered: bool = True


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class CredentialDirectory:
    """Credentials -> engine account ids (see the module docstring for the policy).

    ``now`` gives the time bearer expiry is checked against (default: the engine clock).
    """

    def __init__(
        self,
        engine: SimEngine,
        *,
        strict: bool = False,
        default_cash: Decimal = DEFAULT_CASH,
        default_account_type: AccountType = AccountType.MARGIN,
        default_options_level: int = 2,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.strict = strict
        self.default_cash = default_cash
        self.default_account_type = default_account_type
        self.default_options_level = default_options_level
        self._now = now or engine.now
        self._keys: dict[str, _ApiKey] = {}
        self._bearers: dict[bytes, _Bearer] = {}

    def __repr__(self) -> str:
        return (f"CredentialDirectory(strict={self.strict}, keys={len(self._keys)}, "
                f"tokens={len(self._bearers)})")

    # --- lookups ----------------------------------------------------------------------

    def account_for_api_key(self, key_id: str, secret: str) -> str:
        """The account an API key pair trades; in lenient mode a new, well-formed pair
        opens a funded account. Raises ``EmulatorAuthError`` for a missing or malformed
        pair, a wrong secret, or (strict) an unknown key id."""
        if not key_id or not secret:
            raise EmulatorAuthError("missing API key id or secret")
        if not (_WELL_FORMED.match(key_id) and _WELL_FORMED.match(secret)):
            raise EmulatorAuthError("malformed API key id or secret")
        known = self._keys.get(key_id)
        if known is not None:
            if not hmac.compare_digest(known.secret_digest, _digest(secret)):
                raise EmulatorAuthError("wrong secret for this API key id")
            self._check_account(known.account_id)
            return known.account_id
        if self.strict:
            raise EmulatorAuthError("unknown API key id (strict mode)")
        account_id = self._open_default_account()
        self._keys[key_id] = _ApiKey(_digest(secret), account_id)
        return account_id

    def account_for_bearer(self, token: str) -> str:
        """The account a bearer token trades; in lenient mode a new, well-formed token
        opens a funded account. Raises ``EmulatorAuthError`` for a malformed, expired,
        revoked or (strict) unknown token."""
        if not token or not _WELL_FORMED.match(token):
            raise EmulatorAuthError("missing or malformed bearer token")
        key = _digest(token)
        known = self._bearers.get(key)
        if known is not None:
            if known.revoked:
                raise EmulatorAuthError("bearer token was revoked")
            if known.expires_at is not None and self._now() >= known.expires_at:
                raise EmulatorAuthError("bearer token expired")
            self._check_account(known.account_id)
            return known.account_id
        if self.strict:
            raise EmulatorAuthError("unknown bearer token (strict mode)")
        account_id = self._open_default_account()
        self._bearers[key] = _Bearer(account_id, None, registered=False)
        return account_id

    def _check_account(self, account_id: str) -> None:
        if not self.engine.has_account(account_id):
            raise EmulatorAuthError("the account behind this credential no longer exists")

    def _open_default_account(self) -> str:
        return self.engine.open_account(
            cash=self.default_cash, account_type=self.default_account_type,
            options_level=self.default_options_level)

    # --- administration ---------------------------------------------------------------

    def create_api_key(self, account_id: str) -> tuple[str, str]:
        """Issue a new ``(key_id, secret)`` pair for an existing account (works in strict
        mode). Raises ``KeyError`` if the engine has no such account."""
        if not self.engine.has_account(account_id):
            raise KeyError(account_id)
        key_id = "PK" + secrets.token_hex(9).upper()
        secret = secrets.token_urlsafe(30)
        self._keys[key_id] = _ApiKey(_digest(secret), account_id)
        return key_id, secret

    def register_bearer(self, token: str, account_id: str, expires_at: datetime | None) -> None:
        """Accept ``token`` for ``account_id`` until ``expires_at`` (engine time; None:
        until revoked). The OAuth server calls this when it issues an access token.
        Raises ``KeyError`` for an unknown account, ``ValueError`` for a malformed token or
        a naive ``expires_at``."""
        if not self.engine.has_account(account_id):
            raise KeyError(account_id)
        if not _WELL_FORMED.match(token):
            raise ValueError("malformed token")
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        self._bearers[_digest(token)] = _Bearer(account_id, expires_at)

    def mint_bearer(self, account_id: str, expires_at: datetime | None = None) -> str:
        """Issue and register a new random bearer token for ``account_id``."""
        token = secrets.token_urlsafe(32)
        self.register_bearer(token, account_id, expires_at)
        return token

    def revoke_bearer(self, token: str) -> None:
        """Refuse ``token`` from now on, even in lenient mode. Unknown tokens are recorded
        as revoked too, so a revoked token can never open a fresh account."""
        key = _digest(token)
        known = self._bearers.get(key)
        if known is None:
            self._bearers[key] = _Bearer("", None, revoked=True)
        else:
            known.revoked = True

    def api_key_count(self) -> int:
        return len(self._keys)

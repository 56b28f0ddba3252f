"""Typed OAuth failures, each saying what the user should do next.

Every class derives from ``AuthError`` (or ``ReauthRequiredError``), so callers that
only care about "authentication failed" catch one type. No message ever quotes a
state, code, verifier, token or client secret.
"""

from __future__ import annotations

from brokerlink.core.errors import AuthError, ReauthRequiredError, Recovery

__all__ = [
    "AuthorizationDeniedError",
    "CodeRejectedError",
    "ExpiredStateError",
    "InvalidStateError",
    "LoopbackTimeoutError",
    "MalformedCallbackError",
    "OAuthFlowError",
    "RedirectUriMismatchError",
    "RefreshTokenRejectedError",
    "ReplayedStateError",
    "TokenEndpointError",
    "UnknownStateError",
]


class OAuthFlowError(AuthError):
    """An authorization callback was refused; nothing was stored. Start a new sign-in."""

    recovery = Recovery.REAUTHENTICATE


class InvalidStateError(OAuthFlowError):
    """The callback's ``state`` does not name a pending authorization we can accept."""


class UnknownStateError(InvalidStateError):
    """No authorization was started with this ``state`` (forged or from another install)."""


class ExpiredStateError(InvalidStateError):
    """The authorization was started too long ago (states live 10 minutes)."""


class ReplayedStateError(InvalidStateError):
    """The ``state`` was already used by an earlier callback; each is good once."""


class MalformedCallbackError(OAuthFlowError):
    """The callback URL lacks ``state`` or ``code`` (or is not a URL at all)."""


class RedirectUriMismatchError(OAuthFlowError):
    """The callback arrived on a different redirect URI than the one the flow began with."""


class AuthorizationDeniedError(OAuthFlowError):
    """The broker redirected back with ``error=...`` (e.g. the user clicked Deny)."""

    recovery = Recovery.USER_ACTION

    def __init__(self, message: str, *, oauth_error: str, broker: str | None = None) -> None:
        super().__init__(message, broker=broker, broker_code=oauth_error)
        self.oauth_error = oauth_error


class CodeRejectedError(OAuthFlowError):
    """The token endpoint refused the authorization code (used twice, expired, PKCE)."""


class TokenEndpointError(AuthError):
    """The token endpoint refused the client itself (bad client id/secret, bad request).

    Fix the application's registration or configuration; signing in again will not help.
    """

    recovery = Recovery.USER_ACTION


class RefreshTokenRejectedError(ReauthRequiredError):
    """The refresh token is expired or revoked: the user must sign in again in a browser."""


class LoopbackTimeoutError(OAuthFlowError):
    """No browser callback reached the loopback receiver in time."""

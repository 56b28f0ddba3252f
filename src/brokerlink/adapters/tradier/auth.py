"""How Tradier authenticates: ``Authorization: Bearer <access token>`` on every call.

Personal users paste a static access token (separate tokens for sandbox and live);
partners get one through OAuth 2.0 (authorization code, then ``/oauth/accesstoken``
with HTTP Basic client auth). Access tokens last 24 hours with no exceptions; refresh
tokens exist for approved partners only. The OAuth flow itself lives in
``brokerlink.auth``; an OAuth token manager plugs in here as any ``CredentialSource``.
"""

from __future__ import annotations

from pydantic import SecretStr

from brokerlink.adapters._shared import BearerToken, CredentialSource
from brokerlink.core.errors import AuthError
from brokerlink.core.models import BrokerCredentials


def credential_source(
    *,
    access_token: SecretStr | str | None = None,
    credentials: BrokerCredentials | None = None,
    source: CredentialSource | None = None,
) -> CredentialSource:
    """The credential source for a Tradier connection: ``source`` if given (an OAuth
    token manager), else a static bearer token from ``access_token`` or
    ``credentials.access_token``.

    Raises ``AuthError`` when there is no token at all.
    """
    if source is not None:
        return source
    token = SecretStr(access_token) if isinstance(access_token, str) else access_token
    if token is None and credentials is not None:
        token = credentials.access_token
    if token is None or not token.get_secret_value().strip():
        raise AuthError(
            "Tradier needs an access token: paste the one from the Tradier dashboard "
            "(sandbox and live tokens differ) or connect through OAuth", broker="tradier")
    return BearerToken(SecretStr(token.get_secret_value().strip()))

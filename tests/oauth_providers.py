"""OAuth provider configurations for tests of brokers without an adapter here.

The OAuth client is tested against a Schwab-shaped authorization server (the strictest
one documented: a refresh horizon fixed at login, ``invalid_client`` for a dead refresh
token) before a Schwab adapter exists, so its configuration lives with the tests rather
than in ``brokerlink.auth`` (which reads every installed broker's endpoints from its
``BrokerSpec``). Values follow ``shared/specs/schwab/REFERENCE.md``.
"""

from __future__ import annotations

from datetime import timedelta

from brokerlink.auth.oauth_config import ClientAuthMethod, OAuthProviderConfig

SCHWAB_OAUTH = OAuthProviderConfig(
    broker="schwab",
    authorize_url="https://api.schwabapi.com/v1/oauth/authorize",
    token_url="https://api.schwabapi.com/v1/oauth/token",
    client_auth=ClientAuthMethod.BASIC,
    refresh_token_lifetime=timedelta(days=7),
    refresh_horizon_fixed=True,
    # Schwab answers a dead refresh token with invalid_client "refresh token invalid".
    reauth_errors=frozenset({"invalid_grant", "invalid_client"}),
)

__all__ = ["SCHWAB_OAUTH"]

"""OAuth provider configurations for tests of brokers without an adapter here.

The OAuth client is tested against a Schwab-shaped authorization server (the strictest
one documented: a refresh horizon fixed at login, ``invalid_client`` for a dead refresh
token) before a Schwab adapter exists, so its configuration lives with the tests rather
than in ``brokerlink.auth`` (which reads every installed broker's endpoints from its
``BrokerSpec``). Values follow ``shared/specs/schwab/REFERENCE.md``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from brokerlink.auth.oauth_config import ClientAuthMethod, OAuthProviderConfig
from brokerlink.emulators._shared.oauth_config import OAuthServerClient, OAuthServerConfig

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



def _schwab_token_extras(issued_at: datetime) -> Mapping[str, Any]:
    return {"id_token": secrets.token_urlsafe(24)}


def schwab_oauth_server_config(*clients: OAuthServerClient,
                               **overrides: Any) -> OAuthServerConfig:
    """The emulators' authorization server shaped like Schwab's, for these tests:
    ``/v1/oauth/authorize``, ``/v1/oauth/token``, HTTP Basic, 30 min access, a 7-day
    refresh horizon fixed at sign-in, rotating refresh tokens, an ``id_token``, and
    ``invalid_client`` / "refresh token invalid" for a dead refresh token."""
    base = OAuthServerConfig(
        clients=clients, authorize_path="/v1/oauth/authorize",
        token_path="/v1/oauth/token",
        client_auth_methods=("client_secret_basic",),
        access_token_lifetime=timedelta(minutes=30), refresh_token_lifetime=timedelta(days=7),
        code_lifetime=timedelta(seconds=30), default_scope="api",
        token_extras=_schwab_token_extras,
        dead_refresh_error=("invalid_client", "refresh token invalid"))
    return replace(base, **overrides)


__all__ = ["SCHWAB_OAUTH", "schwab_oauth_server_config"]

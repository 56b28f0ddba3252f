"""Alpaca Connect's authorization server, as the Alpaca emulator serves it.

``/oauth/authorize`` and ``/oauth/token``, client credentials in the form body, an
access token that never expires (``token_type`` spelled ``bearer``) and no refresh
token (``../shared/specs/alpaca/REFERENCE.md`` section 2).
"""

from __future__ import annotations

from brokerlink.emulators._shared.oauth_config import SANDBOX_CLIENT, OAuthServerConfig

OAUTH = OAuthServerConfig(
    clients=(SANDBOX_CLIENT,), authorize_path="/oauth/authorize",
    token_path="/oauth/token",  # noqa: S106 - a path
    client_auth_methods=("client_secret_post",), access_token_lifetime=None,
    refresh_token_lifetime=None, issue_refresh_token=False,
    default_scope="account:write trading", token_type="bearer")  # noqa: S106 - a type name

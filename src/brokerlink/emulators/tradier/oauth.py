"""Tradier's authorization server, as the Tradier emulator serves it.

``/v1/oauth/authorize``, ``/v1/oauth/accesstoken`` (both grants) and
``/v1/oauth/refreshtoken`` (refresh only), HTTP Basic client authentication, access
tokens for 24 h (``expires_in: 86399``), refresh tokens that neither expire nor rotate,
comma-separated scopes in the authorize URL, and ``issued_at`` + ``status: "approved"``
in every token response (``../shared/specs/tradier/REFERENCE.md`` section 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from brokerlink.emulators._shared.oauth_config import SANDBOX_CLIENT, OAuthServerConfig


def token_extras(issued_at: datetime) -> Mapping[str, Any]:
    """Tradier's extra token-response fields."""
    return {"issued_at": issued_at.isoformat(), "status": "approved"}


OAUTH = OAuthServerConfig(
    clients=(SANDBOX_CLIENT,), authorize_path="/v1/oauth/authorize",
    token_path="/v1/oauth/accesstoken",  # noqa: S106 - a path
    refresh_path="/v1/oauth/refreshtoken",
    client_auth_methods=("client_secret_basic",),
    access_token_lifetime=timedelta(hours=24) - timedelta(seconds=1),
    refresh_token_lifetime=None, rotate_refresh_tokens=False,
    default_scope="read write trade market stream", scope_separators=" ,",
    token_extras=token_extras)

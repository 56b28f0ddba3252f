"""Per-broker OAuth 2.0 settings: endpoints, client authentication, token horizons.

Values follow ``shared/specs/<broker>/REFERENCE.md``:

* **Alpaca** ("Connect" apps): authorize on ``app.alpaca.markets``, token at
  ``api.alpaca.markets/oauth/token``, client id and secret in the form body
  (``client_secret_post``); the token has no expiry and there is no refresh token.
* **Tradier** (partners): ``/v1/oauth/authorize`` and ``/v1/oauth/accesstoken`` with HTTP
  Basic client authentication; access tokens live 24 h; refresh (partners only) goes to a
  *different* path, ``/v1/oauth/refreshtoken``; refresh tokens do not expire; scopes are
  comma-separated.
* **Schwab**: ``/v1/oauth/authorize`` and ``/v1/oauth/token``, HTTP Basic
  (``client_secret_basic``); access 30 min, refresh 7 days counted from the browser login
  and never extended by refreshing. An expired refresh token is answered with
  ``invalid_client`` / "refresh token invalid" rather than RFC 6749's ``invalid_grant``.

``for_base_url`` re-points a configuration at an emulator on loopback while keeping
every other quirk, so the same client code runs against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import SecretStr

from brokerlink.core.errors import AuthError

__all__ = [
    "ALPACA_OAUTH",
    "SCHWAB_OAUTH",
    "TRADIER_OAUTH",
    "ClientAuthMethod",
    "OAuthClientCredentials",
    "OAuthProviderConfig",
    "oauth_config_for",
]


class ClientAuthMethod(StrEnum):
    """How the client proves itself at the token endpoint (RFC 7591 names)."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OAuthClientCredentials:
    """The registered application: its client id (Schwab's "app key") and secret.

    The secret stays a ``SecretStr`` until authlib builds the token request; the repr
    shows only the client id. ``client_secret`` is ``None`` for public clients.
    """

    client_id: str
    client_secret: SecretStr | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class OAuthProviderConfig:
    """Everything the OAuth client needs to know about one broker's authorization server.

    ``refresh_url`` defaults to ``token_url`` (Tradier is the exception).
    ``refresh_token_lifetime`` is the refresh token's horizon when the server does not say
    (``None``: it does not expire); with ``refresh_horizon_fixed`` the horizon counts from
    the browser login and rotation never extends it (Schwab's 7 days).
    ``reauth_errors`` are the OAuth ``error`` codes that, on a refresh, mean the refresh
    token is dead and the user must sign in again. Timeouts are in seconds.
    """

    broker: str
    authorize_url: str
    token_url: str
    client_auth: ClientAuthMethod
    refresh_url: str | None = None
    default_scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    use_pkce: bool = True
    refresh_token_lifetime: timedelta | None = None
    refresh_horizon_fixed: bool = False
    reauth_errors: frozenset[str] = frozenset({"invalid_grant"})
    request_timeout: float = 30.0
    # A refresh runs while holding the cross-process lock (on SQLite the database write
    # lock), so it must give up before other writers' 10 s busy timeout does.
    refresh_timeout: float = 8.0

    @property
    def effective_refresh_url(self) -> str:
        """Where refresh-token grants are posted."""
        return self.refresh_url or self.token_url

    def for_base_url(self, base_url: str) -> OAuthProviderConfig:
        """This configuration with every endpoint moved to ``base_url`` (an emulator).

        Paths are kept, so ``https://api.schwabapi.com/v1/oauth/token`` becomes
        ``<base_url>/v1/oauth/token``. Raises ``AuthError`` for a URL without scheme or host.
        """
        parts = urlsplit(base_url)
        if not parts.scheme or not parts.netloc:
            raise AuthError(
                f"emulator base URL {base_url!r} needs a scheme and host, "
                "e.g. http://127.0.0.1:8123", broker=self.broker)
        origin = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

        def moved(url: str | None) -> str | None:
            return None if url is None else origin + urlsplit(url).path

        return replace(
            self,
            authorize_url=moved(self.authorize_url) or self.authorize_url,
            token_url=moved(self.token_url) or self.token_url,
            refresh_url=moved(self.refresh_url),
        )


ALPACA_OAUTH = OAuthProviderConfig(
    broker="alpaca",
    authorize_url="https://app.alpaca.markets/oauth/authorize",
    token_url="https://api.alpaca.markets/oauth/token",  # noqa: S106 - a URL
    client_auth=ClientAuthMethod.POST,
    default_scopes=("account:write", "trading"),
)

TRADIER_OAUTH = OAuthProviderConfig(
    broker="tradier",
    authorize_url="https://api.tradier.com/v1/oauth/authorize",
    token_url="https://api.tradier.com/v1/oauth/accesstoken",  # noqa: S106 - a URL
    refresh_url="https://api.tradier.com/v1/oauth/refreshtoken",
    client_auth=ClientAuthMethod.BASIC,
    default_scopes=("read", "write", "market", "trade", "stream"),
    scope_separator=",",
)

SCHWAB_OAUTH = OAuthProviderConfig(
    broker="schwab",
    authorize_url="https://api.schwabapi.com/v1/oauth/authorize",
    token_url="https://api.schwabapi.com/v1/oauth/token",  # noqa: S106 - a URL
    client_auth=ClientAuthMethod.BASIC,
    refresh_token_lifetime=timedelta(days=7),
    refresh_horizon_fixed=True,
    # Schwab answers a dead refresh token with invalid_client "refresh token invalid".
    reauth_errors=frozenset({"invalid_grant", "invalid_client"}),
)

_BY_BROKER = {c.broker: c for c in (ALPACA_OAUTH, TRADIER_OAUTH, SCHWAB_OAUTH)}


def oauth_config_for(broker: str, *, base_url: str | None = None) -> OAuthProviderConfig:
    """The OAuth settings of ``broker`` (``alpaca``, ``tradier``, ``schwab``).

    With ``base_url`` the endpoints point at an emulator (see ``for_base_url``).
    Raises ``AuthError`` for a broker without an OAuth flow here.
    """
    config = _BY_BROKER.get(broker.lower())
    if config is None:
        raise AuthError(
            f"no OAuth configuration for broker {broker!r}; OAuth is available for "
            f"{', '.join(sorted(_BY_BROKER))}", broker=broker)
    return config.for_base_url(base_url) if base_url else config

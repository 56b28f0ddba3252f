"""A broker's OAuth 2.0 settings for the client: endpoints, client authentication,
token horizons.

Every value comes from the broker's own ``BrokerSpec.oauth`` (``OAuthEndpoints``,
written from ``shared/specs/<broker>/REFERENCE.md`` in the broker's package);
``oauth_config_for`` looks the broker up in the adapter registry and adds the client's
own timeouts. ``for_base_url`` re-points a configuration at an emulator on loopback
while keeping every other quirk, so the same client code runs against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import SecretStr

from brokerlink.adapters._shared.spec import ClientAuthMethod, OAuthEndpoints
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import AuthError, NotSupportedError

__all__ = [
    "ClientAuthMethod",
    "OAuthClientCredentials",
    "OAuthProviderConfig",
    "oauth_config_for",
]


@dataclass(frozen=True, slots=True)
class OAuthClientCredentials:
    """The registered application: its client id (some brokers say "app key") and secret.

    The secret stays a ``SecretStr`` until authlib builds the token request; the repr
    shows only the client id. ``client_secret`` is ``None`` for public clients.
    """

    client_id: str
    client_secret: SecretStr | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class OAuthProviderConfig:
    """Everything the OAuth client needs to know about one broker's authorization server.

    ``refresh_url`` defaults to ``token_url``. ``access_token_lifetime`` is what a token
    response without ``expires_in`` means (``None``: no expiry). ``refresh_token_lifetime``
    is the refresh token's horizon when the server does not say (``None``: it does not
    expire); with ``refresh_horizon_fixed`` the horizon counts from the browser login and
    rotation never extends it.
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
    access_token_lifetime: timedelta | None = None
    refresh_token_lifetime: timedelta | None = None
    refresh_horizon_fixed: bool = False
    reauth_errors: frozenset[str] = frozenset({"invalid_grant"})
    request_timeout: float = 30.0
    # A refresh runs while holding the cross-process lock (on SQLite the database write
    # lock), so it must give up before other writers' 10 s busy timeout does.
    refresh_timeout: float = 8.0

    @classmethod
    def from_endpoints(cls, broker: str, endpoints: OAuthEndpoints) -> OAuthProviderConfig:
        """The client configuration of ``broker``'s documented ``endpoints``."""
        return cls(broker=broker, authorize_url=endpoints.authorize_url,
                   token_url=endpoints.token_url, client_auth=endpoints.client_auth,
                   refresh_url=endpoints.refresh_url,
                   default_scopes=endpoints.default_scopes,
                   scope_separator=endpoints.scope_separator, use_pkce=endpoints.use_pkce,
                   access_token_lifetime=endpoints.access_token_lifetime,
                   refresh_token_lifetime=endpoints.refresh_token_lifetime,
                   refresh_horizon_fixed=endpoints.refresh_horizon_fixed,
                   reauth_errors=endpoints.reauth_errors)

    @property
    def effective_refresh_url(self) -> str:
        """Where refresh-token grants are posted."""
        return self.refresh_url or self.token_url

    def for_base_url(self, base_url: str) -> OAuthProviderConfig:
        """This configuration with every endpoint moved to ``base_url`` (an emulator).

        Paths are kept, so ``https://api.example.com/v1/oauth/token`` becomes
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


def oauth_config_for(broker: BrokerType | str, *,
                     base_url: str | None = None) -> OAuthProviderConfig:
    """The OAuth settings of ``broker`` (its name or an alias), from its spec.

    With ``base_url`` the endpoints point at an emulator (see ``for_base_url``).
    Raises ``AuthError`` for a broker that is not installed or has no OAuth flow.
    """
    from brokerlink.adapters.registry import resolve, specs

    try:
        spec = resolve(broker)
    except NotSupportedError as exc:
        raise AuthError(f"no OAuth configuration for broker {str(broker)!r}: {exc.message}",
                        broker=str(broker)[:40]) from exc
    if spec.oauth is None:
        with_oauth = ", ".join(s.broker_type.value for s in specs() if s.oauth is not None)
        raise AuthError(
            f"no OAuth configuration for broker {spec.broker_type.value!r}; OAuth is "
            f"available for {with_oauth or 'no installed broker'}",
            broker=spec.broker_type.value)
    config = OAuthProviderConfig.from_endpoints(spec.broker_type.value, spec.oauth)
    return config.for_base_url(base_url) if base_url else config

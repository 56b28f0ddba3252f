"""How Tradier authenticates: ``Authorization: Bearer <access token>`` on every call.

Personal users paste a static access token (separate tokens for sandbox and live);
partners get one through OAuth 2.0 (authorization code, then ``/oauth/accesstoken``
with HTTP Basic client auth). Access tokens last 24 hours with no exceptions; refresh
tokens exist for approved partners only. The OAuth flow itself lives in
``brokerlink.auth``; an OAuth token manager plugs in here as any ``CredentialSource``.

``TradierAuth`` is the adapter's one ``CredentialSource``: the transport asks it for
headers before each request. The account stream needs no credentials of its own (its
session comes from an authenticated REST call).
"""

from __future__ import annotations

from pydantic import SecretStr

from brokerlink.adapters._shared import BearerToken, CredentialSource
from brokerlink.core.errors import AuthError
from brokerlink.core.models import BrokerCredentials

BROKER = "tradier"


class TradierAuth:
    """A static bearer token or a refreshing source (an OAuth token manager) for one
    Tradier connection. Implements ``CredentialSource``; the token never appears in a
    repr."""

    def __init__(self, *, access_token: SecretStr | str | None = None,
                 source: CredentialSource | None = None) -> None:
        """Raises ``AuthError`` when there is neither a non-blank token nor a source."""
        self._source = source
        self._bearer: BearerToken | None = None
        if source is not None:
            return
        raw = access_token.get_secret_value() if isinstance(access_token, SecretStr) \
            else access_token
        if raw is None or not raw.strip():
            raise AuthError(
                "Tradier needs an access token: paste the one from the Tradier dashboard "
                "(sandbox and live tokens differ) or connect through OAuth", broker=BROKER)
        self._bearer = BearerToken(SecretStr(raw.strip()))

    @classmethod
    def from_credentials(cls, credentials: BrokerCredentials) -> TradierAuth:
        """From stored credentials (their ``access_token``). Raises ``AuthError`` when it
        is missing or blank."""
        return cls(access_token=credentials.access_token)

    @classmethod
    def resolve(cls, *, access_token: SecretStr | str | None = None,
                credentials: BrokerCredentials | None = None,
                source: CredentialSource | None = None) -> TradierAuth:
        """``source`` if given (an OAuth token manager), else ``access_token``, else
        ``credentials.access_token``. Raises ``AuthError`` when there is no token."""
        if source is not None:
            return cls(source=source)
        if access_token is None and credentials is not None:
            return cls.from_credentials(credentials)
        return cls(access_token=access_token)

    def __repr__(self) -> str:
        kind = "source" if self._source is not None else "access_token"
        return f"TradierAuth(kind={kind!r})"

    def credential_source(self) -> CredentialSource:
        """What the transport asks for headers before each request (this object)."""
        return self

    async def auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` (from the source when there is one).
        May raise the source's ``AuthError``."""
        if self._source is not None:
            return await self._source.auth_headers()
        assert self._bearer is not None  # noqa: S101  (set in __init__ without a source)
        return await self._bearer.auth_headers()

    async def on_unauthorized(self) -> bool:
        """True only if a source refreshed its token (a static token cannot be)."""
        if self._source is not None:
            return await self._source.on_unauthorized()
        return False


__all__ = ["TradierAuth"]

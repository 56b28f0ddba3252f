"""How Alpaca authenticates (``REFERENCE.md`` section 2).

Two ways, one ``AlpacaAuth``, which is the connection's ``CredentialSource`` (the port the
transport asks for headers before each request):

* API keys: ``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY`` on every request; the stream
  sends ``{"action": "authenticate", "data": {"key_id", "secret_key"}}``.
* OAuth (Alpaca Connect): ``Authorization: Bearer <token>``; the stream sends
  ``{"oauth_token": ...}``. Tokens do not expire and cannot be refreshed: a 401 means the
  user revoked access. A ``CredentialSource`` (e.g. a token manager) may be supplied
  instead of a fixed token; the stream then reads the bearer from its headers.

Secrets stay ``SecretStr`` until the moment a header or stream message is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from brokerlink.adapters._shared.credentials import (
    BearerToken,
    CredentialSource,
    StaticHeaders,
)
from brokerlink.core.errors import AuthError
from brokerlink.core.models import BrokerCredentials

KEY_ID_HEADER = "APCA-API-KEY-ID"
SECRET_HEADER = "APCA-API-SECRET-KEY"  # noqa: S105  (a header name, not a secret)


def _secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


class AlpacaAuth(CredentialSource):
    """API-key or OAuth credentials for one Alpaca connection (never shown in a repr).

    Implements ``CredentialSource``: pass it to the ``Transport`` as ``credentials``.
    Raises ``AuthError`` at construction when given neither keys, a token nor a source.
    """

    def __init__(self, *, key_id: SecretStr | str | None = None,
                 secret_key: SecretStr | str | None = None,
                 oauth_token: SecretStr | str | None = None,
                 source: CredentialSource | None = None) -> None:
        self._key_id = _secret(key_id) if key_id is not None else None
        self._secret_key = _secret(secret_key) if secret_key is not None else None
        self._token = _secret(oauth_token) if oauth_token is not None else None
        self._source = source
        has_keys = self._key_id is not None and self._secret_key is not None
        if not has_keys and self._token is None and source is None:
            raise AuthError("Alpaca needs an API key id and secret, or an OAuth token",
                            broker="alpaca")
        self._delegate: CredentialSource
        if source is not None:
            self._delegate = source
        elif self._key_id is not None and self._secret_key is not None:
            self._delegate = StaticHeaders({KEY_ID_HEADER: self._key_id,
                                            SECRET_HEADER: self._secret_key})
        else:
            assert self._token is not None  # noqa: S101  (checked above)
            self._delegate = BearerToken(self._token)

    @classmethod
    def from_credentials(cls, credentials: BrokerCredentials) -> AlpacaAuth:
        """From stored credentials: keys if present, else the access token. Raises
        ``AuthError`` when neither is there."""
        if credentials.api_key is not None and credentials.api_secret is not None:
            return cls(key_id=credentials.api_key, secret_key=credentials.api_secret)
        if credentials.access_token is not None:
            return cls(oauth_token=credentials.access_token)
        raise AuthError("Alpaca credentials need api_key and api_secret, or access_token",
                        broker="alpaca")

    def __repr__(self) -> str:
        kind = "api_key" if self._key_id is not None else "oauth"
        return f"AlpacaAuth(kind={kind!r})"

    async def auth_headers(self) -> dict[str, str]:
        """The key headers, or ``Authorization: Bearer <token>`` (from the supplied
        source, when one was given: it may refresh). Raises what that source raises
        (``AuthError`` subclasses)."""
        return await self._delegate.auth_headers()

    async def on_unauthorized(self) -> bool:
        """After a 401: False for keys and fixed tokens (Alpaca's do not expire, so a
        401 means revoked or wrong); a supplied source decides for itself."""
        return await self._delegate.on_unauthorized()

    async def stream_message(self) -> dict[str, Any]:
        """The stream's ``authenticate`` message (holds secrets: send it, never log it)."""
        if self._key_id is not None and self._secret_key is not None:
            data = {"key_id": self._key_id.get_secret_value(),
                    "secret_key": self._secret_key.get_secret_value()}
        elif self._token is not None:
            data = {"oauth_token": self._token.get_secret_value()}
        else:
            assert self._source is not None  # noqa: S101  (checked in __init__)
            headers = await self._source.auth_headers()
            scheme, _, token = headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise AuthError("the credential source gave no bearer token for the stream",
                                broker="alpaca")
            data = {"oauth_token": token}
        return {"action": "authenticate", "data": data}

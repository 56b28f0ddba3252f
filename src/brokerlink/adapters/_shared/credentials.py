"""How a request proves who it is: the credential port the transport calls per request.

The transport never holds a secret itself. It asks a ``CredentialSource`` for headers
just before each attempt, so a token manager can refresh ahead of expiry, and tells it
about a 401 so it can refresh (or decide it cannot).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pydantic import SecretStr


@runtime_checkable
class CredentialSource(Protocol):
    """Supplies authentication headers to the transport.

    ``auth_headers`` is awaited before every attempt; returned values are secrets and the
    transport redacts them everywhere (logs, errors, audit). ``on_unauthorized`` is awaited
    after a 401: return True only if credentials were actually refreshed, so that a single
    retry of a read makes sense. Writes are never retried whatever it returns.
    """

    async def auth_headers(self) -> dict[str, str]:
        """Headers to add to the next request. May raise ``AuthError`` subclasses."""
        ...

    async def on_unauthorized(self) -> bool:
        """React to a 401; True if the credentials changed and a read may be retried once."""
        ...


class StaticHeaders:
    """Fixed API-key headers, e.g. Alpaca's ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``.

    Values stay ``SecretStr`` until a request is built; the repr shows header names only.
    A 401 cannot be fixed by refreshing static keys, so ``on_unauthorized`` returns False.
    """

    def __init__(self, headers: Mapping[str, SecretStr]) -> None:
        self._headers = dict(headers)

    async def auth_headers(self) -> dict[str, str]:
        """The configured headers with their secret values revealed for the wire."""
        return {name: value.get_secret_value() for name, value in self._headers.items()}

    async def on_unauthorized(self) -> bool:
        """Always False: static keys do not change by themselves."""
        return False

    def __repr__(self) -> str:
        return f"StaticHeaders(names={sorted(self._headers)!r})"


class BearerToken:
    """A fixed bearer token (``Authorization: Bearer ...``), e.g. a Tradier personal token.

    A 401 means the token is bad or expired and cannot be refreshed here, so
    ``on_unauthorized`` returns False; OAuth token managers implement the protocol instead.
    """

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    async def auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    async def on_unauthorized(self) -> bool:
        """Always False: a static token cannot be refreshed."""
        return False

    def __repr__(self) -> str:
        return "BearerToken(token=SecretStr('**********'))"


__all__ = ["BearerToken", "CredentialSource", "StaticHeaders"]

"""``TradierAuth``: the adapter's one credential source (a bearer token or an OAuth
token manager), never showing the token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from brokerlink.adapters._shared import CredentialSource
from brokerlink.adapters.tradier import TradierAuth
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import AuthError
from brokerlink.core.models import BrokerCredentials


class Refreshing:
    """A source that refreshes once on a 401, as an OAuth token manager does."""

    def __init__(self) -> None:
        self.token = "first"

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def on_unauthorized(self) -> bool:
        changed = self.token == "first"
        self.token = "second"
        return changed


async def test_a_static_token_is_a_bearer_header_that_cannot_refresh() -> None:
    auth = TradierAuth(access_token=SecretStr("  tok-123  "))
    assert isinstance(auth, CredentialSource)
    assert await auth.auth_headers() == {"Authorization": "Bearer tok-123"}
    assert await auth.on_unauthorized() is False
    assert "tok-123" not in repr(auth)
    assert auth.credential_source() is auth


async def test_a_source_is_asked_each_time() -> None:
    source = Refreshing()
    auth = TradierAuth.resolve(access_token="ignored", source=source)
    assert await auth.auth_headers() == {"Authorization": "Bearer first"}
    assert await auth.on_unauthorized() is True
    assert await auth.auth_headers() == {"Authorization": "Bearer second"}
    assert await auth.on_unauthorized() is False


async def test_stored_credentials_give_their_access_token() -> None:
    stored = BrokerCredentials(broker=BrokerType.TRADIER, access_token=SecretStr("stored"))
    auth = TradierAuth.resolve(credentials=stored)
    assert await auth.auth_headers() == {"Authorization": "Bearer stored"}


@pytest.mark.parametrize("token", [None, "", "   ", SecretStr(" ")])
def test_no_token_is_an_auth_error(token: SecretStr | str | None) -> None:
    with pytest.raises(AuthError) as raised:
        TradierAuth(access_token=token)
    assert "sandbox and live tokens differ" in raised.value.message
    with pytest.raises(AuthError):
        TradierAuth.from_credentials(BrokerCredentials(broker=BrokerType.TRADIER))

"""The OAuth 2.0 authorization-code flow with PKCE, in two serialisable steps.

``OAuthClient.begin`` creates a single-use ``state`` (256 random bits, valid 10 minutes)
and a PKCE code verifier (384 random bits, S256 challenge), stores them through a
``PendingStateStore`` (state only as a hash, verifier sealed) and returns the URL to send
the browser to. ``OAuthClient.complete`` takes the callback URL, consumes the state,
checks the redirect URI, and exchanges the code. Between the two nothing lives in
memory, so a web service may run them in different requests or processes.

A callback is refused with a typed ``OAuthFlowError`` and nothing is stored when its
state is unknown, expired or already used, when it arrived on another redirect URI,
when it carries ``error=...``, or when the server refuses the code (``invalid_grant``,
e.g. a replayed code). The protocol itself (PKCE, client authentication, token and
refresh requests) is authlib's ``AsyncOAuth2Client``, wrapped at one narrow boundary
(``_token_request``) because authlib is untyped.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # authlib prefers the "httpx2" package and warns when it falls back to httpx, which
    # is the HTTP client this project standardises on.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from pydantic import SecretStr

from brokerlink.auth.oauth_config import (
    ClientAuthMethod,
    OAuthClientCredentials,
    OAuthProviderConfig,
)
from brokerlink.auth.oauth_errors import (
    AuthorizationDeniedError,
    CodeRejectedError,
    MalformedCallbackError,
    RedirectUriMismatchError,
    RefreshTokenRejectedError,
    TokenEndpointError,
    UnknownStateError,
)
from brokerlink.auth.secrets import as_secret, reveal
from brokerlink.auth.tokens import TokenSet
from brokerlink.core.errors import (
    AuthError,
    BrokerConnectionError,
    BrokerError,
    BrokerUnavailableError,
    RateLimitError,
)
from brokerlink.core.values import utc_now

__all__ = [
    "STATE_LIFETIME",
    "VERIFIER_BYTES",
    "AuthorizationStart",
    "CompletedAuthorization",
    "OAuthClient",
    "PendingAuthorization",
    "PendingStateStore",
    "generate_code_verifier",
    "generate_state",
    "parse_lifetime",
    "s256_challenge",
    "state_id",
    "token_set_from_response",
]

STATE_LIFETIME = timedelta(minutes=10)
VERIFIER_BYTES = 48
"""384 random bits -> a 64-character verifier (RFC 7636 allows 43..128 characters)."""
STATE_BYTES = 32
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Clock = Callable[[], datetime]


# --- PKCE and state ------------------------------------------------------------------


def generate_code_verifier() -> SecretStr:
    """A fresh PKCE code verifier: 384 bits from ``secrets``, 64 URL-safe characters."""
    return SecretStr(secrets.token_urlsafe(VERIFIER_BYTES))


def s256_challenge(verifier: SecretStr) -> str:
    """The S256 code challenge of ``verifier`` (BASE64URL(SHA-256), no padding)."""
    return str(create_s256_code_challenge(reveal(verifier)))


def generate_state() -> SecretStr:
    """A fresh single-use ``state``: 256 bits from ``secrets``."""
    return SecretStr(secrets.token_urlsafe(STATE_BYTES))


def state_id(state: SecretStr) -> str:
    """The SHA-256 hex of ``state``: how it is stored and how it may be referred to."""
    return hashlib.sha256(reveal(state).encode()).hexdigest()


# --- pending authorizations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """An authorization in flight, as ``begin`` left it for ``complete``."""

    broker: str
    redirect_uri: str
    code_verifier: SecretStr = field(repr=False)
    created_at: datetime
    expires_at: datetime
    connection_id: str | None = None


class PendingStateStore(Protocol):
    """Keeps pending authorizations between ``begin`` and ``complete``.

    Stores the state only as ``state_id(state)`` and never keeps the verifier in plain
    text at rest. Implementations: ``memory_stores.MemoryPendingStateStore`` and
    ``oauth_states.VaultPendingStateStore`` (database, verifier sealed by the vault).
    """

    async def put(self, state: SecretStr, pending: PendingAuthorization) -> None:
        """Remember ``pending`` under ``state``. Raises ``BrokerError`` on failure."""
        ...

    async def take(self, state: SecretStr, *, now: datetime) -> PendingAuthorization:
        """Consume the authorization (single use) and return it.

        Raises ``UnknownStateError``, ``ExpiredStateError`` (at ``now``) or
        ``ReplayedStateError``; a refused state is never consumed twice.
        """
        ...


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """What ``begin`` returns: where to send the browser, and how to refer to the flow.

    ``state_id`` is the state's hash (safe to log or put in a cookie); ``authorize_url``
    carries the state and the S256 challenge, never the verifier.
    """

    authorize_url: str
    state_id: str
    redirect_uri: str
    expires_at: datetime
    broker: str


@dataclass(frozen=True, slots=True)
class CompletedAuthorization:
    """The outcome of ``complete_authorization``: tokens and what the flow was for."""

    tokens: TokenSet
    broker: str
    redirect_uri: str
    connection_id: str | None = None


def token_set_from_response(
    payload: Mapping[str, Any],
    *,
    now: datetime,
    config: OAuthProviderConfig,
    previous: TokenSet | None = None,
) -> TokenSet:
    """A ``TokenSet`` from a token endpoint's JSON, with absolute times from ``now``.

    ``expires_in`` absent means the broker's documented default
    (``config.access_token_lifetime``; ``None``: no expiry, as with Alpaca). The refresh
    token's horizon is ``refresh_token_expires_in`` if the server sends it, else the
    configured lifetime; with ``refresh_horizon_fixed`` a refresh keeps the sign-in's
    horizon (Schwab). A lifetime must be a whole number of seconds from 0 to ten years
    (``parse_lifetime``). Raises ``BrokerUnavailableError`` for a response without an
    access token or with a lifetime that is not such a number (nothing is stored).
    """
    access = payload.get("access_token")
    if not isinstance(access, str) or not access:
        raise BrokerUnavailableError(
            f"{config.broker} token endpoint answered without an access token; try again "
            "later", broker=config.broker)
    lifetime = parse_lifetime(payload, "expires_in", broker=config.broker)
    if lifetime is None:
        lifetime = getattr(config, "access_token_lifetime", None)
    expires_at = None if lifetime is None else now + lifetime
    refresh = payload.get("refresh_token")
    refresh_token = as_secret(refresh) if isinstance(refresh, str) and refresh else None
    refresh_expires_at: datetime | None = None
    if refresh_token is not None or previous is not None:
        refresh_lifetime = parse_lifetime(payload, "refresh_token_expires_in",
                                          broker=config.broker)
        refresh_expires_at = None if refresh_lifetime is None else now + refresh_lifetime
        if refresh_expires_at is None:
            if previous is not None and config.refresh_horizon_fixed:
                refresh_expires_at = previous.refresh_expires_at
            elif config.refresh_token_lifetime is not None:
                refresh_expires_at = now + config.refresh_token_lifetime
    scope = payload.get("scope")
    token_type = payload.get("token_type")
    return TokenSet(
        access_token=as_secret(access),
        issued_at=now,
        expires_at=expires_at,
        refresh_token=refresh_token,
        refresh_expires_at=refresh_expires_at,
        scope=scope if isinstance(scope, str) else None,
        token_type=token_type.capitalize() if isinstance(token_type, str) else "Bearer",
    )


MAX_TOKEN_LIFETIME = timedelta(days=3650)
"""Ten years: no broker issues a token for longer, and anything beyond is a broken answer."""


def parse_lifetime(payload: Mapping[str, Any], name: str, *, broker: str) -> timedelta | None:
    """The token lifetime ``payload[name]`` as a ``timedelta``, ``None`` when absent.

    Accepted: a whole number of seconds from 0 to ``MAX_TOKEN_LIFETIME``, as a JSON
    integer, an integral JSON number (``3600.0``) or a string of ASCII digits (``"3600"``).
    Anything else (``true``, ``[]``, ``-5``, ``"nan"``, ``1e20``, ``inf``, ``1e12``) raises
    ``BrokerUnavailableError`` naming the field, so a broken answer is never read as
    "never expires" and never overflows a date.
    """
    if name not in payload or payload[name] is None:
        return None
    value = payload[name]
    seconds: int | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            seconds = int(value)
    elif isinstance(value, str) and 0 < len(value) <= 12 and value.isascii() \
            and value.isdigit():
        seconds = int(value)
    limit = int(MAX_TOKEN_LIFETIME.total_seconds())
    if seconds is None or not 0 <= seconds <= limit:
        shown = repr(value)[:40]
        raise BrokerUnavailableError(
            f"{broker} token endpoint answered {name}={shown}, which is not a whole number of "
            f"seconds from 0 to {limit}; nothing was stored. Try again later, and report it "
            "to the broker if it persists", broker=broker)
    return timedelta(seconds=seconds)


# --- the client ----------------------------------------------------------------------


class OAuthClient:
    """One broker application's OAuth client: ``begin``, ``complete``, ``refresh``.

    Implements ``tokens.TokenRefresher``. ``clock`` is injectable (state expiry, token
    times); ``transport`` lets tests route requests to an in-process app.
    """

    def __init__(
        self,
        config: OAuthProviderConfig,
        credentials: OAuthClientCredentials,
        pending: PendingStateStore,
        *,
        clock: Clock = utc_now,
        state_lifetime: timedelta = STATE_LIFETIME,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if credentials.client_secret is None and config.client_auth is not ClientAuthMethod.NONE:
            raise AuthError(
                f"{config.broker} authenticates clients with {config.client_auth.value}: "
                "configure the application's client secret", broker=config.broker)
        self.config = config
        self._credentials = credentials
        self._pending = pending
        self._clock = clock
        self._state_lifetime = state_lifetime
        self._transport = transport

    def __repr__(self) -> str:
        return (f"OAuthClient(broker={self.config.broker!r}, "
                f"client_id={self._credentials.client_id!r})")

    async def begin(
        self,
        redirect_uri: str,
        scopes: Sequence[str] | None = None,
        *,
        connection_id: str | None = None,
    ) -> AuthorizationStart:
        """Start a sign-in: store a pending state and return the authorize URL.

        ``redirect_uri`` must be registered with the broker and is later matched exactly;
        plain ``http`` is accepted only on loopback (RFC 8252). ``scopes`` default to the
        broker's. Raises ``AuthError`` for an unacceptable redirect URI, ``BrokerError``
        if the pending state cannot be stored.
        """
        _check_redirect_uri(redirect_uri, self.config.broker)
        state, verifier = generate_state(), generate_code_verifier()
        now = self._clock()
        pending = PendingAuthorization(
            broker=self.config.broker, redirect_uri=redirect_uri, code_verifier=verifier,
            created_at=now, expires_at=now + self._state_lifetime, connection_id=connection_id)
        chosen = tuple(scopes) if scopes is not None else self.config.default_scopes
        params: dict[str, str] = {"redirect_uri": redirect_uri}
        if chosen:
            params["scope"] = self.config.scope_separator.join(chosen)
        async with self._oauth_session() as session:
            url, _ = session.create_authorization_url(
                self.config.authorize_url, state=reveal(state),
                code_verifier=reveal(verifier) if self.config.use_pkce else None, **params)
        await self._pending.put(state, pending)
        return AuthorizationStart(authorize_url=str(url), state_id=state_id(state),
                                  redirect_uri=redirect_uri, expires_at=pending.expires_at,
                                  broker=self.config.broker)

    async def complete(self, callback_url: str | SecretStr) -> TokenSet:
        """Finish a sign-in from the URL the browser was redirected to; see
        ``complete_authorization``, whose tokens this returns."""
        return (await self.complete_authorization(callback_url)).tokens

    async def complete_authorization(self, callback_url: str | SecretStr) -> CompletedAuthorization:
        """Validate the callback, consume its state and exchange the code for tokens.

        Raises (nothing stored in each case): ``MalformedCallbackError`` (no state or code),
        ``UnknownStateError`` (also: a state begun by another broker's client) /
        ``ExpiredStateError`` / ``ReplayedStateError``,
        ``RedirectUriMismatchError``, ``AuthorizationDeniedError`` (``error=`` callback),
        ``CodeRejectedError`` (the server refused the code, e.g. replayed),
        ``TokenEndpointError`` (client misconfigured), transient ``BrokerError``s.
        """
        broker = self.config.broker
        raw, params = _parse_callback(reveal(as_secret(callback_url)), broker)
        state = _single(params, "state", broker)
        if state is None:
            raise MalformedCallbackError(
                "the callback has no state; open the sign-in link again from brokerlink",
                broker=broker)
        # Consumed first, so a refused callback still burns its state (single use).
        pending = await self._pending.take(as_secret(state), now=self._clock())
        if pending.broker != broker:
            raise UnknownStateError(
                f"this callback belongs to a {pending.broker} sign-in, not {broker}; finish "
                "it with that broker's client or sign in again", broker=broker)
        if _without_query(raw) != _without_query(pending.redirect_uri):
            raise RedirectUriMismatchError(
                "the callback arrived on a different redirect URI than the sign-in started "
                "with; use exactly the registered redirect URI and sign in again",
                broker=broker)
        error = _single(params, "error", broker)
        if error is not None:
            code = error if _ERROR_CODE.match(error) else "invalid_error"
            raise AuthorizationDeniedError(
                f"{broker} did not authorize brokerlink ({code}); sign in again and approve "
                "access", oauth_error=code, broker=broker)
        code_value = _single(params, "code", broker)
        if not code_value:
            raise MalformedCallbackError(
                "the callback has no authorization code; sign in again", broker=broker)
        now = self._clock()
        payload = await self._token_request(
            self.config.token_url, refreshing=False, grant_type="authorization_code",
            code=code_value, redirect_uri=pending.redirect_uri,
            code_verifier=reveal(pending.code_verifier) if self.config.use_pkce else None)
        tokens = token_set_from_response(payload, now=now, config=self.config)
        return CompletedAuthorization(tokens=tokens, broker=broker,
                                      redirect_uri=pending.redirect_uri,
                                      connection_id=pending.connection_id)

    async def refresh(self, current: TokenSet) -> TokenSet:
        """New tokens for ``current.refresh_token`` (``TokenRefresher``).

        Raises ``RefreshTokenRejectedError`` when the broker refuses the refresh token
        (expired, revoked, already rotated), ``TokenEndpointError`` for a misconfigured
        client, ``RateLimitError``/``BrokerUnavailableError``/``BrokerConnectionError``
        for transient failures, ``AuthError`` when there is no refresh token.
        """
        if current.refresh_token is None:
            raise AuthError(f"{self.config.broker} issued no refresh token; sign in again",
                            broker=self.config.broker)
        now = self._clock()
        payload = await self._token_request(
            self.config.effective_refresh_url, refreshing=True,
            refresh_token=reveal(current.refresh_token))
        return token_set_from_response(payload, now=now, config=self.config, previous=current)

    # --- the authlib boundary ---------------------------------------------------------

    def _oauth_session(self, *, timeout: float | None = None) -> AsyncOAuth2Client:
        secret = self._credentials.client_secret
        kwargs: dict[str, Any] = {"timeout": timeout or self.config.request_timeout}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        return AsyncOAuth2Client(
            client_id=self._credentials.client_id,
            client_secret=reveal(secret) if secret is not None else None,
            token_endpoint_auth_method=self.config.client_auth.value,
            code_challenge_method="S256" if self.config.use_pkce else None,
            **kwargs)

    async def _token_request(self, url: str, *, refreshing: bool,
                             **params: str | None) -> dict[str, Any]:
        broker = self.config.broker
        try:
            timeout = self.config.refresh_timeout if refreshing else None
            async with self._oauth_session(timeout=timeout) as session:
                call: Awaitable[Any]
                if refreshing:
                    call = session.refresh_token(url, refresh_token=params["refresh_token"])
                else:
                    call = session.fetch_token(url, **{k: v for k, v in params.items() if v})
                token = await call
        except OAuthError as exc:
            raise self._oauth_failure(str(exc.error), refreshing) from exc
        except httpx.HTTPStatusError as exc:
            raise _status_failure(exc.response.status_code, broker) from exc
        except httpx.HTTPError as exc:
            raise BrokerConnectionError(
                f"could not reach the {broker} token endpoint ({type(exc).__name__}); check "
                "the network and try again", broker=broker) from exc
        except ValueError as exc:
            raise BrokerUnavailableError(
                f"the {broker} token endpoint answered with something other than a JSON "
                "object; try again later", broker=broker) from exc
        return dict(token)

    def _oauth_failure(self, error: str, refreshing: bool) -> BrokerError:
        broker = self.config.broker
        code = error if _ERROR_CODE.match(error) else "invalid_error"
        if refreshing and code in self.config.reauth_errors:
            return RefreshTokenRejectedError(
                f"{broker} refused the refresh token ({code}): it expired or was revoked; "
                "sign in again", broker=broker, broker_code=code)
        if not refreshing and code == "invalid_grant":
            return CodeRejectedError(
                f"{broker} refused the authorization code (invalid_grant): it was already "
                "used, expired, or does not match this sign-in; sign in again",
                broker=broker, broker_code=code)
        return TokenEndpointError(
            f"{broker} token endpoint refused the request ({code}); check the application's "
            "client id, secret and redirect URI", broker=broker, broker_code=code)


def _status_failure(status: int, broker: str) -> BrokerError:
    if status == 429:
        return RateLimitError(f"{broker} token endpoint is rate limiting; retry later",
                              broker=broker, http_status=status)
    if status >= 500:
        return BrokerUnavailableError(
            f"{broker} token endpoint failed with HTTP {status}; retry later",
            broker=broker, http_status=status)
    return TokenEndpointError(
        f"{broker} token endpoint refused the request with HTTP {status}; check the "
        "application's client id and secret", broker=broker, http_status=status)


def _single(params: Mapping[str, list[str]], name: str, broker: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise MalformedCallbackError(
            f"the callback repeats {name!r}; it was tampered with, sign in again",
            broker=broker)
    return values[0]


_MAX_CALLBACK_LENGTH = 8192


def _parse_callback(raw: object, broker: str) -> tuple[str, dict[str, list[str]]]:
    """The callback URL and its query parameters. Raises ``MalformedCallbackError`` for
    anything that is not a well-formed URL of printable text: too long, control
    characters, unpaired surrogates, undecodable percent-escapes or a broken query."""
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_CALLBACK_LENGTH:
        raise MalformedCallbackError(
            "the callback is not a URL of a sensible length; sign in again", broker=broker)
    try:
        raw.encode("utf-8", errors="strict")
        if not raw.isprintable():
            raise ValueError("control characters")
        parts = urlsplit(raw)
        params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict", max_num_fields=20)
        for values in params.values():
            for value in values:
                value.encode("utf-8", errors="strict")
    except (UnicodeError, ValueError) as exc:
        raise MalformedCallbackError(
            "the callback URL is malformed (bad characters or encoding); it was not sent by "
            "your broker as is. Sign in again", broker=broker) from exc
    return raw, params


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _check_redirect_uri(redirect_uri: str, broker: str) -> None:
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise AuthError(
            f"redirect URI {redirect_uri!r} must be an absolute http(s) URL without a "
            "fragment", broker=broker)
    if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] not in _LOOPBACK_HOSTS:
        raise AuthError(
            f"redirect URI {redirect_uri!r} uses plain http off loopback; use https or "
            "http://127.0.0.1:<port>/...", broker=broker)

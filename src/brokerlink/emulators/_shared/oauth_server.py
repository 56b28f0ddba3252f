"""An OAuth 2.0 authorization server for the emulators (RFC 6749, RFC 7636, RFC 9700).

``oauth_router(env, config)`` serves, on the broker's own paths:

* **authorize** (``GET``): checks the client and the redirect URI (an unknown client or
  unregistered redirect URI is answered with an error page, never redirected), then
  either redirects straight back with ``code`` and ``state`` (``consent="auto"``, for
  tests) or shows a small Approve/Deny page (``consent="page"``, for demos) whose form
  posts back to the same path;
* **token** (``POST``, form-encoded): ``authorization_code`` (single use, short-lived,
  ``redirect_uri`` identical to the authorize request's, PKCE S256 verified when a
  challenge was sent) and ``refresh_token`` grants, with client authentication by HTTP
  Basic or form fields as configured.

Refresh tokens rotate (when configured) with reuse detection: presenting a refresh token
that was already exchanged revokes its whole family (every access token through
``env.accounts.revoke_bearer`` and every refresh token) and answers ``invalid_grant``
(RFC 9700 section 4.14.2). A replayed authorization code likewise revokes what it issued.
Issued access tokens are registered with ``env.accounts.register_bearer`` so the broker
routes accept them until they expire on the engine clock.

Error bodies are RFC 6749's ``{"error", "error_description"}``; a dead refresh token
answers with the broker's variant (``OAuthServerConfig.dead_refresh_error``). Every
broker difference comes from the ``OAuthServerConfig`` its emulator package supplies
(``_shared/oauth_config.py``); nothing here names a broker.

Crafted authorize requests are refused with 400 ``invalid_request`` and never
redirected: a redirect URI that is malformed or not registered (``_shared/redirects.py``:
RFC 8252 7.3 / RFC 9700 exact matching, port free only for loopback IP literals, no
userinfo), a ``state`` over ``MAX_STATE`` characters, any other parameter over
``MAX_PARAMETER``, more than ``MAX_PARAMETERS`` parameters, or non-printable-ASCII
values (RFC 6749 appendix A: ``state`` and ``client_id`` are VSCHAR).
``OAuthRouter.server.stats`` counts requests for tests. Tokens are kept in memory (this
is a test double) and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.oauth_config import (
    SANDBOX_CLIENT,
    OAuthServerClient,
    OAuthServerConfig,
)
from brokerlink.emulators._shared.redirects import (
    RedirectRefused,
    check_redirect_uri,
    redirect_matches,
)

__all__ = [
    "SANDBOX_CLIENT",
    "OAuthAuthorizationServer",
    "OAuthRouter",
    "OAuthServerClient",
    "OAuthServerConfig",
    "OAuthServerStats",
    "oauth_router",
]

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

MAX_STATE = 1024
"""Longest ``state`` accepted (it is reflected into the redirect)."""
MAX_PARAMETER = 2048
"""Longest value of any other authorize or token parameter."""
MAX_PARAMETERS = 32
MAX_FORM_BYTES = 16 * 1024
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


@dataclass(slots=True)
class OAuthServerStats:
    """What the server saw; tests assert on these."""

    authorize_requests: int = 0
    token_requests: int = 0
    code_grants: int = 0
    refresh_grants: int = 0
    refresh_successes: int = 0
    reuse_detections: int = 0
    families_revoked: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Code:
    client_id: str
    redirect_uri: str | None
    challenge: str | None
    scope: str
    account_id: str
    expires_at: datetime
    used: bool = False
    family_id: str | None = None


@dataclass(slots=True)
class _Family:
    client_id: str
    account_id: str
    scope: str
    refresh_expires_at: datetime | None
    current_refresh: bytes | None = None
    access_tokens: list[str] = field(default_factory=list)
    revoked: bool = False


class _OAuthFailure(Exception):
    def __init__(self, status: int, error: str, description: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description
        self.headers = dict(headers or {})


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()


class OAuthAuthorizationServer:
    """The state and logic behind ``oauth_router``; one per emulator app."""

    def __init__(self, env: EmulatorEnv, config: OAuthServerConfig) -> None:
        self.env = env
        self.config = config
        self.stats = OAuthServerStats()
        self._codes: dict[bytes, _Code] = {}
        self._families: dict[str, _Family] = {}
        # refresh-token digest -> family id; rotated tokens stay here to detect reuse.
        self._refresh_index: dict[bytes, str] = {}
        self._account_id = config.account_id

    def __repr__(self) -> str:
        return (f"OAuthAuthorizationServer(families={len(self._families)}, "
                f"token_requests={self.stats.token_requests})")

    def now(self) -> datetime:
        return self.env.engine.now()

    def account_id(self) -> str:
        """The engine account every grant is bound to (opened on first use)."""
        if self._account_id is None:
            accounts = self.env.accounts
            self._account_id = self.env.engine.open_account(
                cash=accounts.default_cash, account_type=accounts.default_account_type,
                options_level=accounts.default_options_level)
        return self._account_id

    def revoke_all(self) -> None:
        """Revoke every family (as if the user disconnected the app)."""
        for family in self._families.values():
            self._revoke(family)

    # --- authorize --------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str], *, decision: str | None) -> Response:
        self.stats.authorize_requests += 1
        refused = _bounds_error(params)
        if refused is not None:
            return self._refuse(refused)
        client = self.config.client(params.get("client_id", ""))
        if client is None:
            return self._refuse("unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                return self._refuse("redirect_uri is required")
            target = client.redirect_uris[0]
        else:
            try:
                target = check_redirect_uri(redirect_uri, client.redirect_uris)
            except RedirectRefused as exc:
                # Never redirect to an unregistered URI (RFC 6749 section 4.1.2.1).
                return self._refuse(exc.reason)
        state = params.get("state")
        if params.get("response_type", "code") != "code":
            return _redirect(target, state, error="unsupported_response_type")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method", "plain" if challenge else None)
        if challenge is not None and (method != "S256" or not _CHALLENGE.match(challenge)):
            return _redirect(target, state, error="invalid_request",
                             description="only S256 code challenges are accepted")
        if challenge is None and self.config.require_pkce:
            return _redirect(target, state, error="invalid_request",
                             description="code_challenge (S256) is required")
        if self.config.consent == "page" and decision is None:
            return _consent_page(self.config.authorize_path, params, client.client_id)
        if decision is not None and decision != "approve":
            return _redirect(target, state, error="access_denied",
                             description="the user denied access")
        code = secrets.token_urlsafe(32)
        self._codes[_digest(code)] = _Code(
            client_id=client.client_id, redirect_uri=redirect_uri, challenge=challenge,
            scope=self._scope(params.get("scope") or self.config.default_scope),
            account_id=self.account_id(), expires_at=self.now() + self.config.code_lifetime)
        return _redirect(target, state, code=code)

    def _refuse(self, reason: str) -> Response:
        self.stats.errors["invalid_request"] += 1
        return _error_page(400, f"invalid_request: {reason}")

    def _scope(self, requested: str) -> str:
        separators = re.escape(self.config.scope_separators)
        return " ".join(part for part in re.split(f"[{separators}]+", requested) if part)

    # --- token ------------------------------------------------------------------------

    def token(self, headers: Mapping[str, str], form: Mapping[str, str],
              *, refresh_only: bool) -> Response:
        self.stats.token_requests += 1
        try:
            client = self._authenticate(headers, form)
            grant = form.get("grant_type")
            if grant == "authorization_code" and not refresh_only:
                self.stats.code_grants += 1
                body = self._code_grant(client, form)
            elif grant == "refresh_token":
                self.stats.refresh_grants += 1
                body = self._refresh_grant(client, form)
                self.stats.refresh_successes += 1
            else:
                raise _OAuthFailure(400, "unsupported_grant_type",
                                    f"grant_type {grant!r} is not supported here")
        except _OAuthFailure as failure:
            self.stats.errors[failure.error] += 1
            return JSONResponse(
                {"error": failure.error, "error_description": failure.description},
                status_code=failure.status, headers={**_NO_STORE, **failure.headers})
        return JSONResponse(body, headers=_NO_STORE)

    def _authenticate(self, headers: Mapping[str, str], form: Mapping[str, str]
                      ) -> OAuthServerClient:
        allowed = self.config.client_auth_methods
        challenge = {"WWW-Authenticate": 'Basic realm="oauth"'} if (
            "client_secret_basic" in allowed) else {}
        denied = _OAuthFailure(401, "invalid_client", "client authentication failed",
                               challenge)
        authorization = headers.get("authorization", "")
        in_body = "client_secret" in form
        if authorization.lower().startswith("basic "):
            if in_body:
                raise _OAuthFailure(400, "invalid_request",
                                    "use one client authentication method, not two")
            if "client_secret_basic" not in allowed:
                raise denied
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                raw_id, raw_secret = decoded.split(":", 1)
            except (ValueError, UnicodeDecodeError) as exc:
                raise denied from exc
            client_id, secret = unquote(raw_id), unquote(raw_secret)
        elif in_body:
            if "client_secret_post" not in allowed:
                raise denied
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            client_id, secret = form.get("client_id", ""), ""
            client = self.config.client(client_id)
            if "none" in allowed and client is not None and client.client_secret is None:
                return client
            raise denied
        client = self.config.client(client_id)
        if client is None or client.client_secret is None or not hmac.compare_digest(
                client.client_secret.encode(), secret.encode()):
            raise denied
        return client

    def _code_grant(self, client: OAuthServerClient, form: Mapping[str, str]) -> dict[str, Any]:
        code = form.get("code")
        if not code:
            raise _OAuthFailure(400, "invalid_request", "code is required")
        grant = self._codes.get(_digest(code))
        invalid = _OAuthFailure(400, "invalid_grant",
                                "the authorization code is invalid, expired or already used")
        if grant is None or grant.client_id != client.client_id:
            raise invalid
        if grant.used:
            # A replayed code: revoke what it issued (RFC 6749 section 4.1.2).
            family = self._families.get(grant.family_id or "")
            if family is not None:
                self._revoke(family)
            raise invalid
        grant.used = True
        if self.now() >= grant.expires_at:
            raise invalid
        sent_redirect = form.get("redirect_uri")
        if grant.redirect_uri is not None and sent_redirect != grant.redirect_uri:
            raise _OAuthFailure(400, "invalid_grant",
                                "redirect_uri does not match the authorization request")
        if grant.redirect_uri is None and sent_redirect is not None and (
                not redirect_matches(sent_redirect, client.redirect_uris)):
            raise _OAuthFailure(400, "invalid_grant", "redirect_uri is not registered")
        verifier = form.get("code_verifier")
        if grant.challenge is not None:
            if verifier is None or not _VERIFIER.match(verifier) or not hmac.compare_digest(
                    _s256(verifier), grant.challenge):
                raise _OAuthFailure(400, "invalid_grant", "PKCE verification failed")
        elif verifier is not None:
            raise _OAuthFailure(400, "invalid_grant",
                                "code_verifier sent but no code_challenge was")
        now = self.now()
        lifetime = self.config.refresh_token_lifetime
        family_id = secrets.token_hex(16)
        family = _Family(client_id=client.client_id, account_id=grant.account_id,
                         scope=grant.scope,
                         refresh_expires_at=now + lifetime if lifetime is not None else None)
        self._families[family_id] = family
        grant.family_id = family_id
        return self._issue(family_id, family, new_refresh=self.config.issue_refresh_token)

    def _refresh_grant(self, client: OAuthServerClient,
                       form: Mapping[str, str]) -> dict[str, Any]:
        error, description = self.config.dead_refresh_error
        dead = _OAuthFailure(400, error, description)
        presented = form.get("refresh_token")
        if not presented:
            raise _OAuthFailure(400, "invalid_request", "refresh_token is required")
        digest = _digest(presented)
        family_id = self._refresh_index.get(digest)
        family = self._families.get(family_id or "")
        if family is None or family_id is None or family.revoked:
            raise dead
        if family.client_id != client.client_id:
            raise _OAuthFailure(400, "invalid_grant", "refresh token issued to another client")
        if family.current_refresh != digest:
            # Reuse of a rotated refresh token: someone holds a stolen copy, or a client
            # lost a rotation. Either way the whole family goes (RFC 9700 4.14.2).
            self.stats.reuse_detections += 1
            self._revoke(family)
            raise dead
        now = self.now()
        if family.refresh_expires_at is not None and now >= family.refresh_expires_at:
            raise dead
        if not self.config.refresh_horizon_fixed and self.config.refresh_token_lifetime:
            family.refresh_expires_at = now + self.config.refresh_token_lifetime
        return self._issue(family_id, family, new_refresh=self.config.rotate_refresh_tokens)

    def _issue(self, family_id: str, family: _Family, *, new_refresh: bool) -> dict[str, Any]:
        now = self.now()
        lifetime = self.config.access_token_lifetime
        access = secrets.token_urlsafe(32)
        expires_at = now + lifetime if lifetime is not None else None
        self.env.accounts.register_bearer(access, family.account_id, expires_at)
        family.access_tokens.append(access)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": self.config.token_type,
            "scope": family.scope,
        }
        if lifetime is not None:
            body["expires_in"] = int(lifetime.total_seconds())
        if new_refresh:
            refresh = secrets.token_urlsafe(32)
            family.current_refresh = _digest(refresh)
            self._refresh_index[family.current_refresh] = family_id
            body["refresh_token"] = refresh
        if self.config.token_extras is not None:
            body.update(self.config.token_extras(now))
        return body

    def _revoke(self, family: _Family) -> None:
        if family.revoked:
            return
        family.revoked = True
        self.stats.families_revoked += 1
        for token in family.access_tokens:
            self.env.accounts.revoke_bearer(token)


class OAuthRouter(APIRouter):
    """An ``APIRouter`` that also exposes its ``OAuthAuthorizationServer`` (``server``)."""

    def __init__(self, server: OAuthAuthorizationServer) -> None:
        super().__init__()
        self.server = server


def oauth_router(env: EmulatorEnv, config: OAuthServerConfig) -> OAuthRouter:
    """The authorize and token endpoints on ``config``'s paths, served from ``env``.

    Mount with ``create_emulator_app(env, broker_router, oauth_router(env, cfg), ...)``;
    keep the returned router to read ``router.server.stats``.
    """
    server = OAuthAuthorizationServer(env, config)
    router = OAuthRouter(server)

    async def authorize(request: Request) -> Response:
        """OAuth authorize endpoint (browser)."""
        params = _single_values(request.query_params.multi_items())
        if params is None:
            return _error_page(400, "repeated parameters")
        return server.authorize(params, decision=None)

    async def authorize_decision(request: Request) -> Response:
        """The consent page's Approve/Deny form."""
        form = _single_values(_form_items(await request.body()))
        if form is None:
            return _error_page(400, "repeated parameters")
        decision = form.pop("decision", "deny")
        return server.authorize(form, decision=decision)

    async def token(request: Request) -> Response:
        """OAuth token endpoint: authorization_code and refresh_token grants."""
        return await _token(request, refresh_only=False)

    async def refresh_token(request: Request) -> Response:
        """A separate refresh-only endpoint (``config.refresh_path``)."""
        return await _token(request, refresh_only=True)

    async def _token(request: Request, *, refresh_only: bool) -> Response:
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        form = _single_values(_form_items(raw)) if len(raw) <= MAX_FORM_BYTES else None
        if form is not None and _bounds_error(form) is not None:
            form = None
        if not content_type.startswith("application/x-www-form-urlencoded") or form is None:
            server.stats.token_requests += 1
            server.stats.errors["invalid_request"] += 1
            return JSONResponse({"error": "invalid_request", "error_description":
                                 "send one bounded, form-encoded value per parameter"},
                                status_code=400, headers=_NO_STORE)
        return server.token(request.headers, form, refresh_only=refresh_only)

    router.add_api_route(config.authorize_path, authorize, methods=["GET"],
                         name="oauth_authorize", include_in_schema=False)
    router.add_api_route(config.authorize_path, authorize_decision, methods=["POST"],
                         name="oauth_authorize_decision", include_in_schema=False)
    router.add_api_route(config.token_path, token, methods=["POST"], name="oauth_token",
                         include_in_schema=False)
    if config.refresh_path is not None:
        router.add_api_route(config.refresh_path, refresh_token, methods=["POST"],
                             name="oauth_refresh_token", include_in_schema=False)
    return router


# --- helpers ---------------------------------------------------------------------------


def _form_items(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return [("", ""), ("", "")]  # reported as repeated/malformed by the caller
    return [(k, v) for k, values in parse_qs(text, keep_blank_values=True).items()
            for v in values]


def _single_values(items: list[tuple[str, str]]) -> dict[str, str] | None:
    result: dict[str, str] = {}
    for key, value in items:
        if key in result:
            return None
        result[key] = value
    return result


def _bounds_error(params: Mapping[str, str]) -> str | None:
    """Why ``params`` are out of bounds (count, length, characters), or ``None``."""
    if len(params) > MAX_PARAMETERS:
        return f"at most {MAX_PARAMETERS} parameters"
    for name, value in params.items():
        limit = MAX_STATE if name == "state" else MAX_PARAMETER
        if len(name) > MAX_PARAMETER or len(value) > limit:
            return f"{name[:40]} longer than {limit} characters"
        if not _PRINTABLE.match(name) or not _PRINTABLE.match(value):
            return f"{name[:40]} must be printable ASCII"
    return None


def _redirect(target: str, state: str | None, **params: str | None) -> Response:
    query = {"error_description" if k == "description" else k: v
             for k, v in params.items() if v is not None}
    if state is not None:
        query["state"] = state
    separator = "&" if urlsplit(target).query else "?"
    return RedirectResponse(f"{target}{separator}{urlencode(query)}", status_code=302,
                            headers=_NO_STORE)


def _error_page(status: int, message: str) -> Response:
    return HTMLResponse(
        f"<!doctype html><title>Authorization error</title><h1>Authorization error</h1>"
        f"<p>{html.escape(message)}</p>", status_code=status, headers=_NO_STORE)


def _consent_page(path: str, params: Mapping[str, str], client_id: str) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items())
    return HTMLResponse(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize</title></head>"
        "<body style=\"font-family:sans-serif;margin:3em\"><h1>Emulated broker sign-in</h1>"
        f"<p>Application <b>{html.escape(client_id)}</b> asks for access to your "
        f"emulated account (scope: {html.escape(params.get('scope', ''))}).</p>"
        f'<form method="post" action="{html.escape(path)}">{hidden}'
        '<button name="decision" value="approve">Approve</button> '
        '<button name="decision" value="deny">Deny</button></form></body></html>',
        headers=_NO_STORE)

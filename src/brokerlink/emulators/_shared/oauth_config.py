"""How one emulator's OAuth authorization server behaves: plain data, cheap to import.

Each broker's emulator package builds one ``OAuthServerConfig`` (its paths, client
authentication, lifetimes, scope separators, token-response extras and error variants)
and hands it to ``oauth_server.oauth_router``; the server itself names no broker.
``SANDBOX_CLIENT`` is the client application every emulator registers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = ["SANDBOX_CLIENT", "ClientAuth", "OAuthServerClient", "OAuthServerConfig",
           "TokenExtras"]

ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]

TokenExtras = Callable[[datetime], Mapping[str, Any]]
"""Broker-specific fields added to every token response, given the issue time."""


@dataclass(frozen=True, slots=True)
class OAuthServerClient:
    """A registered client application: id, secret (``None``: public) and redirect URIs."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = ()


SANDBOX_CLIENT = OAuthServerClient(
    "brokerlink-sandbox", "brokerlink-sandbox-secret",
    ("http://127.0.0.1/callback", "http://localhost/callback"))
"""The client application every emulator registers, so ``brokerlink connect`` can run
the OAuth flow against a local emulator with no set-up. Its secret is published on
purpose: it guards nothing but a simulated account on loopback."""


@dataclass(frozen=True, slots=True)
class OAuthServerConfig:
    """How one emulator's authorization server behaves.

    Lifetimes of ``None`` mean "never expires". ``refresh_path`` adds a second path that
    takes refresh grants only; ``token_path`` accepts both grants.
    ``refresh_horizon_fixed`` keeps a family's refresh horizon at the sign-in's
    (rotation never extends it). ``dead_refresh_error`` is the ``(error,
    error_description)`` answered for an unknown, expired, revoked or reused refresh
    token. ``scope_separators`` are the characters that separate requested scopes
    (tokens report them space-separated). ``token_type`` is the ``token_type`` value
    sent (case varies by broker) and ``token_extras`` adds fields to each token
    response. ``account_id`` binds every grant to one engine account (default: one
    fresh funded account per server, opened on first authorization).
    """

    clients: tuple[OAuthServerClient, ...]
    authorize_path: str = "/oauth/authorize"
    token_path: str = "/oauth/token"  # noqa: S105 - a path
    refresh_path: str | None = None
    client_auth_methods: tuple[ClientAuth, ...] = ("client_secret_basic",)
    access_token_lifetime: timedelta | None = timedelta(minutes=30)
    refresh_token_lifetime: timedelta | None = timedelta(days=7)
    issue_refresh_token: bool = True
    rotate_refresh_tokens: bool = True
    refresh_horizon_fixed: bool = True
    code_lifetime: timedelta = timedelta(minutes=10)
    require_pkce: bool = False
    consent: Literal["auto", "page"] = "auto"
    default_scope: str = ""
    scope_separators: str = " "
    token_type: str = "Bearer"  # noqa: S105 - a token type name
    token_extras: TokenExtras | None = None
    dead_refresh_error: tuple[str, str] = (
        "invalid_grant", "the refresh token is invalid, expired or revoked")
    account_id: str | None = None

    def client(self, client_id: str) -> OAuthServerClient | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

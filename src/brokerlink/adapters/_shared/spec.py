"""``BrokerSpec``: everything the rest of brokerlink may know about one broker.

Each ``adapters/<broker>/__init__.py`` exports one ``SPEC``. The registry
(``brokerlink.adapters.registry``) discovers them; the manager, the sync, the commission
schedule, the CLI and the OAuth client read a broker's facts from its spec and never name
the broker. Building a spec imports nothing heavy: ``connect`` and ``create`` import the
adapter when they are called, so ``brokerlink brokers`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr

from brokerlink.core.capabilities import Capabilities
from brokerlink.core.commissions import FREE, CommissionRule
from brokerlink.core.enums import BrokerType
from brokerlink.core.interface import BrokerInterface

from .audit import AuditSink
from .credentials import CredentialSource
from .state import BrokerStateStore


class CredentialKind(StrEnum):
    """How a connection to the broker proves who it is."""

    NONE = "none"
    """No credentials (the paper broker)."""
    API_KEY = "api_key"
    """A key id and a secret key sent as headers (Alpaca)."""
    ACCESS_TOKEN = "access_token"  # noqa: S105  (a kind of credential, not one)
    """A long-lived bearer token the user copies from the broker (Tradier's)."""
    OAUTH = "oauth"
    """Authorization code with PKCE, then refreshing tokens."""


@dataclass(frozen=True, slots=True)
class CredentialSpec:
    """One way to sign in, with the environment variables the CLI reads it from.

    ``key_env`` holds the key (or token); ``secret_env`` the secret, where there is one.
    """

    kind: CredentialKind
    key_env: str | None = None
    secret_env: str | None = None
    description: str = ""


class ClientAuthMethod(StrEnum):
    """How the OAuth client proves itself at the token endpoint (RFC 7591 names)."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OAuthEndpoints:
    """A broker's OAuth 2.0 authorization server, as its documentation gives it.

    ``refresh_url`` defaults to ``token_url``. ``access_token_lifetime`` is what a token
    response without ``expires_in`` means (``None``: the token does not expire).
    ``refresh_token_lifetime`` likewise for refresh tokens; with ``refresh_horizon_fixed``
    it counts from the browser login and rotation never extends it. ``reauth_errors`` are
    the OAuth ``error`` codes that, on a refresh, mean the user must sign in again.
    """

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


class EnvironmentKind(StrEnum):
    """Where an environment's orders go: real money, the broker's sandbox, or ours."""

    LIVE = "live"
    PAPER = "paper"  # not a broker: paper trading, an environment any broker may offer
    EMULATOR = "emulator"


@dataclass(frozen=True, slots=True)
class Environment:
    """One place the broker can be reached. ``base_url`` is ``None`` for an emulator
    (its URL is given when connecting) and for a broker with no host (paper)."""

    name: str
    kind: EnvironmentKind
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class RateBudget:
    """``requests`` per ``per_seconds``, as the broker documents it."""

    requests: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.per_seconds <= 0:
            raise ValueError("a rate budget needs a positive request count and period")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What a stored connection gives its broker's factory.

    ``base_url`` is the stored URL (``None``: the spec's default environment; a loopback
    URL: a local emulator). ``api_key``/``api_secret`` are the stored keys (an access token
    is kept as the key), ``source`` the refreshing OAuth token source. ``state`` is a
    durable store for a broker that keeps state of its own (the paper account); ``None``
    keeps that state in memory.
    """

    connection_id: str
    base_url: str | None = None
    api_key: SecretStr | None = field(default=None, repr=False)
    api_secret: SecretStr | None = field(default=None, repr=False)
    source: CredentialSource | None = None
    audit: AuditSink | None = None
    state: BrokerStateStore | None = None
    wall_clock: Callable[[], Any] | None = None


class Connector(Protocol):
    """Builds the broker's adapter for a stored connection. Raises ``BrokerError`` when
    the stored settings cannot build one."""

    def __call__(self, settings: ConnectionSettings, /) -> BrokerInterface: ...


class BrokerSettings(BaseModel):
    """The base of every broker's ``create_broker`` settings model (``config.py``):
    frozen, and unknown settings are refused with a message naming them."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Creator(Protocol):
    """``create_broker``'s factory: the adapter from the broker's validated settings."""

    def __call__(self, settings: Any, /) -> BrokerInterface: ...


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    """One broker, as the rest of brokerlink sees it.

    ``capabilities`` is what the broker can do at best; an adapter may report less for
    one account. ``environments`` lists where it can be reached; ``default_environment``
    names the safe one (paper or sandbox, never live). ``read_budget`` and
    ``order_budget`` are the documented limits (``None``: none documented).
    ``connect`` builds the adapter of a stored connection; ``create`` builds the one
    ``create_broker`` returns from an instance of ``settings_model``.
    """

    broker_type: BrokerType
    display_name: str
    capabilities: Capabilities
    credentials: tuple[CredentialSpec, ...]
    environments: tuple[Environment, ...]
    default_environment: str
    connect: Connector
    settings_model: type[BrokerSettings]
    create: Creator
    aliases: tuple[str, ...] = ()
    oauth: OAuthEndpoints | None = None
    read_budget: RateBudget | None = None
    order_budget: RateBudget | None = None
    commissions: CommissionRule = FREE
    stores_state: bool = False
    """Whether the broker keeps durable state of its own (``ConnectionSettings.state``)."""
    late_order_window: timedelta = timedelta(minutes=2)
    """How long after an ambiguous write the broker (or a gateway in front of it) may
    still place the order: until then one "not found" proves nothing."""
    rejects_duplicate_client_order_id: bool = False
    """Whether the broker refuses a second order with a client order id it has seen, so a
    resend with the same id proves whether the first arrived."""
    notes: Mapping[str, str] = field(default_factory=dict)
    connection_url: Callable[[Any, str], str] | None = None
    """For a broker that signs in with no credentials (``CredentialKind.NONE``): the
    ``base_url`` a new connection is stored under, from an instance of
    ``settings_model`` and the new connection's id. It holds settings, never secrets;
    ``connect`` reads it back. Raises ``ValueError`` for settings it cannot store."""

    def __post_init__(self) -> None:
        names = [e.name for e in self.environments]
        if self.default_environment not in names:
            raise ValueError(f"{self.broker_type}: default environment "
                             f"{self.default_environment!r} is not one of {names}")
        if self.environment(self.default_environment).kind is EnvironmentKind.LIVE:
            raise ValueError(f"{self.broker_type}: the default environment must not be live")

    def environment(self, name: str) -> Environment:
        """The environment called ``name``. Raises ``KeyError`` naming the known ones."""
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(f"{self.broker_type} has no environment {name!r}; it has "
                       f"{', '.join(e.name for e in self.environments)}")

    def credential(self, kind: CredentialKind) -> CredentialSpec | None:
        """The credential spec of ``kind``, if the broker signs in that way."""
        return next((c for c in self.credentials if c.kind is kind), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that resolves to this broker: its type, then its aliases."""
        return (self.broker_type.value, *self.aliases)


__all__ = [
    "BrokerSettings",
    "BrokerSpec",
    "ClientAuthMethod",
    "ConnectionSettings",
    "Connector",
    "Creator",
    "CredentialKind",
    "CredentialSpec",
    "Environment",
    "EnvironmentKind",
    "OAuthEndpoints",
    "RateBudget",
]

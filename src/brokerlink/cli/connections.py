"""``brokerlink connect``, ``connections`` and ``disconnect``: the stored connections.

API keys come from the environment variables the broker's ``BrokerSpec`` names
(``CredentialSpec.key_env``/``secret_env``) or a hidden prompt, never from a
command-line argument (which would land in shell history and ``ps``). OAuth runs
through a one-shot loopback receiver; against a local emulator the CLI plays the user's
consent click itself, so the flow runs unattended. A broker that signs in with no
credentials (a simulated account) takes settings instead, validated by its spec's
``settings_model``. No broker is named here: every fact comes from the registry.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import webbrowser
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, get_args

import httpx
import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console

from brokerlink.adapters import registry
from brokerlink.adapters._shared.spec import BrokerSpec, CredentialKind, CredentialSpec
from brokerlink.adapters._shared.urls import is_loopback
from brokerlink.bootstrap import SANDBOX_CLIENT, ConnectionRecord, OAuthClientCredentials
from brokerlink.cli.app import refuse
from brokerlink.cli.render import connections_table, wide_console
from brokerlink.core.errors import BrokerError, NotSupportedError
from brokerlink.core.numbers import NumberPolicyError, parse_decimal_text, places
from brokerlink.core.values import utc_now
from brokerlink.manager.connections import ConnectionService

REAUTH_WARNING = timedelta(days=2)
KEY_KINDS = (CredentialKind.API_KEY, CredentialKind.ACCESS_TOKEN)
"""Credential kinds read as a key (and maybe a secret) from the environment or a prompt."""
CASH_PLACES = 2
"""Opening cash is money: whole cents."""
MAX_SETTING_CHARS = 100
"""A ``--set`` key or value: at most this many printable characters (settings are stored)."""


class AuthMethod(StrEnum):
    KEYS = "keys"
    OAUTH = "oauth"


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def connect(
    broker: Annotated[str, typer.Argument(
        help="A broker name or alias (see `brokerlink brokers`).")],
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Point at an emulator (brokerlink emulate) or a broker host.")
    ] = None,
    auth: Annotated[AuthMethod | None, typer.Option(
        "--auth", help="keys or oauth (default: keys when the broker's key variables are "
        "set, else oauth where it offers it)")] = None,
    client_id: Annotated[str | None, typer.Option(
        "--client-id", envvar="BROKERLINK_OAUTH_CLIENT_ID",
        help="Your OAuth app's client id (an emulator's sandbox app by default).")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for this connection.")
                     ] = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser",
                                          help="Open the sign-in page in a browser.")] = True,
    cash: Annotated[str | None, typer.Option(
        "--cash", help="Simulated accounts: the opening cash.")] = None,
    market: Annotated[str | None, typer.Option(
        "--market", help="Simulated accounts: the market hours (as the broker names them, "
        "e.g. exchange or always_open).")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Simulated accounts: the price walk's seed.")] = None,
    setting: Annotated[list[str] | None, typer.Option(
        "--set", help="Simulated accounts: any other setting, as KEY=VALUE (repeatable).")
    ] = None,
) -> None:
    """Connect a broker account: sign in, test the connection, then store it encrypted.

    A broker that signs in with no credentials (a simulated account, such as ``paper``)
    stores its settings instead; its orders, positions and cash persist in the database.
    """
    spec = _broker(broker)
    given = _decimal_settings(spec, _settings(cash, market, seed, setting or []))
    try:
        if spec.credential(CredentialKind.NONE) is not None and auth is None:
            record = asyncio.run(_connect_with_settings(spec, given, label))
        else:
            if given:
                raise typer.BadParameter(f"{spec.broker_type.value} signs in with "
                                         "credentials; --cash, --market, --seed and --set "
                                         "are for simulated accounts")
            method = auth or _default_method(spec)
            record = asyncio.run(_connect(spec, method, base_url, client_id, label,
                                          browser))
    except BrokerError as exc:
        raise refuse(f"not connected: {exc}") from exc
    Console().print(f"connected [bold]{record.id}[/bold]: {record.label} "
                    f"(accounts {', '.join(record.account_ids)})")


def _settings(cash: str | None, market: str | None, seed: int | None,
              pairs: list[str]) -> dict[str, Any]:
    """The settings given on the command line, unvalidated but for their shape."""
    given: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--set takes KEY=VALUE, got {pair[:40]!r}")
        for part in (key.strip(), value):
            if len(part) > MAX_SETTING_CHARS or not part.isprintable():
                raise typer.BadParameter(
                    f"--set {key.strip()[:40]!r}: keys and values are at most "
                    f"{MAX_SETTING_CHARS} printable characters")
        given[key.strip()] = value
    if cash is not None:
        given["cash"] = _cash(cash)
    if market is not None:
        given["market"] = market
    if seed is not None:
        given["seed"] = seed
    return given


def _cash(text: str) -> Decimal:
    """``--cash`` under the core Decimal policy (ASCII digits, finite, bounded), and not
    negative. Raises ``typer.BadParameter`` naming the option and the rule."""
    try:
        cash = parse_decimal_text(text)
    except NumberPolicyError as exc:
        raise typer.BadParameter(f"--cash: {exc}") from exc
    if cash < 0:
        raise typer.BadParameter(f"--cash must be zero or more, got {text[:40]!r}")
    if places(cash) > CASH_PLACES:
        raise typer.BadParameter(f"--cash must be in whole cents, got {text[:40]!r}")
    return cash


def _decimal_settings(spec: BrokerSpec, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with every text value of a Decimal setting read under the core Decimal
    policy, so ``--set cash=١٢`` or ``--set cash=1e400`` is refused rather than left to
    pydantic's lenient ``Decimal(text)``. Raises ``typer.BadParameter`` naming the key."""
    fields = spec.settings_model.model_fields
    checked = dict(given)
    for key, value in given.items():
        field = fields.get(key)
        if field is None or not isinstance(value, str):
            continue
        annotation = field.annotation
        if annotation is Decimal or Decimal in get_args(annotation):
            try:
                checked[key] = parse_decimal_text(value)
            except NumberPolicyError as exc:
                raise typer.BadParameter(f"--set {key}: {exc}") from exc
    return checked


async def _connect_with_settings(spec: BrokerSpec, given: dict[str, Any],
                                 label: str | None) -> ConnectionRecord:
    try:
        settings = spec.settings_model.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
                             f"{e['msg']}" for e in exc.errors())
        raise typer.BadParameter(f"{spec.broker_type.value} settings refused: "
                                 f"{problems}") from exc
    async with await ConnectionService.open(actor=actor()) as service:
        return await service.add_with_settings(spec.broker_type, settings, label=label)


async def _connect(spec: BrokerSpec, method: AuthMethod, base_url: str | None,
                   client_id: str | None, label: str | None,
                   browser: bool) -> ConnectionRecord:
    broker = spec.broker_type
    # Read before opening the database: a prompt must not hold it open.
    keys = _read_keys(spec) if method is AuthMethod.KEYS else None
    if method is AuthMethod.OAUTH and spec.credential(CredentialKind.OAUTH) is None:
        raise typer.BadParameter(f"{broker.value} has no OAuth sign-in here; use --auth keys")
    async with await ConnectionService.open(actor=actor()) as service:
        if keys is not None:
            key, secret = keys
            return await service.add_with_keys(broker, api_key=key, api_secret=secret,
                                               base_url=base_url, label=label)
        client = _oauth_client(client_id, base_url)
        local = is_loopback(base_url)
        return await service.add_with_oauth(
            broker, client=client, base_url=base_url, label=label,
            open_url=consent_locally if local else _browser_opener(browser))


def connections() -> None:
    """List stored connections: status, accounts, token expiry and when to sign in again."""
    records = asyncio.run(_list())
    now = utc_now()
    warnings = [f"{r.id} ({r.label}) must be signed in again by {due:%Y-%m-%d %H:%M} UTC: "
                f"run brokerlink connect {r.broker}" for r in records
                if (due := r.reauth_due_at) is not None and due - now <= REAUTH_WARNING]
    console = wide_console()
    console.print(connections_table(records))
    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


async def _list() -> list[ConnectionRecord]:
    async with await ConnectionService.open(actor=actor()) as service:
        return await service.list()


def disconnect(
    connection_id: Annotated[str, typer.Argument(help="From `brokerlink connections`.")],
) -> None:
    """Remove a connection and delete its stored secrets."""
    try:
        record = asyncio.run(_remove(connection_id))
    except BrokerError as exc:
        raise refuse(f"not removed: {exc}") from exc
    Console().print(f"removed {record.id} ({record.label}); its secrets are deleted. "
                    f"{record.broker} offers no token revocation: revoke the app at the "
                    "broker too if you no longer trust this machine.")


async def _remove(connection_id: str) -> ConnectionRecord:
    async with await ConnectionService.open(actor=actor()) as service:
        return await service.remove(connection_id)


def _broker(name: str) -> BrokerSpec:
    """The installed broker called ``name`` (or an alias). Raises ``typer.BadParameter``
    naming the installed ones."""
    try:
        return registry.resolve(name)
    except (NotSupportedError, ValueError) as exc:
        ready = ", ".join(spec.broker_type.value for spec in registry.specs())
        raise typer.BadParameter(f"connections to {name!r} are not available yet; "
                                 f"choose {ready}") from exc


def _key_credential(spec: BrokerSpec) -> CredentialSpec | None:
    """The broker's key (or token) sign-in, preferring one whose variable is set."""
    keyed = [c for c in spec.credentials if c.kind in KEY_KINDS]
    return next((c for c in keyed if c.key_env and os.environ.get(c.key_env)),
                keyed[0] if keyed else None)


def _default_method(spec: BrokerSpec) -> AuthMethod:
    keyed = _key_credential(spec)
    if keyed is not None and keyed.key_env and os.environ.get(keyed.key_env):
        return AuthMethod.KEYS
    if spec.credential(CredentialKind.OAUTH) is not None:
        return AuthMethod.OAUTH
    return AuthMethod.KEYS


def _read_keys(spec: BrokerSpec) -> tuple[SecretStr, SecretStr | None]:
    keyed = _key_credential(spec)
    if keyed is None:
        raise typer.BadParameter(f"{spec.broker_type.value} does not sign in with keys; "
                                 "use --auth oauth")
    key_name = keyed.key_env or f"{spec.display_name} {keyed.kind.value.replace('_', ' ')}"
    key = (keyed.key_env and os.environ.get(keyed.key_env)) or typer.prompt(
        key_name, hide_input=True)
    secret: str | None = None
    if keyed.kind is CredentialKind.API_KEY:
        secret_name = keyed.secret_env or f"{spec.display_name} API secret"
        secret = (keyed.secret_env and os.environ.get(keyed.secret_env)) or typer.prompt(
            secret_name, hide_input=True)
    return SecretStr(key), SecretStr(secret) if secret is not None else None


def _oauth_client(client_id: str | None, base_url: str | None) -> OAuthClientCredentials:
    if client_id is None:
        if not is_loopback(base_url):
            raise typer.BadParameter("give --client-id (or BROKERLINK_OAUTH_CLIENT_ID): the "
                                     "client id of your app registered with the broker")
        return OAuthClientCredentials(SANDBOX_CLIENT.client_id,
                                      SecretStr(SANDBOX_CLIENT.client_secret or ""))
    secret = os.environ.get("BROKERLINK_OAUTH_CLIENT_SECRET") or typer.prompt(
        "OAuth client secret (empty for a public client)", default="", hide_input=True,
        show_default=False)
    return OAuthClientCredentials(client_id, SecretStr(secret) if secret else None)


def _browser_opener(use_browser: bool) -> Callable[[str], None]:
    def open_url(url: str) -> None:
        typer.echo(f"Sign in at: {url}")
        if use_browser:
            webbrowser.open(url)
    return open_url


async def consent_locally(url: str) -> None:
    """An emulator's authorize page consents at once: following its redirect delivers
    the callback to our loopback receiver, as the user's browser would."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=30) as client:
        await client.get(url)



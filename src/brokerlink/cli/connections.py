"""``brokerlink connect``, ``connections`` and ``disconnect``: the stored connections.

API keys come from the broker's usual environment variables or a hidden prompt, never
from a command-line argument (which would land in shell history and ``ps``). OAuth
runs through a one-shot loopback receiver; against a local emulator the CLI plays the
user's consent click itself, so the flow runs unattended.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import webbrowser
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated

import httpx
import typer
from pydantic import SecretStr
from rich.console import Console

from brokerlink.adapters._shared.urls import is_loopback
from brokerlink.auth.oauth_config import OAuthClientCredentials
from brokerlink.cli.render import connections_table, wide_console
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import BrokerError
from brokerlink.core.values import utc_now
from brokerlink.emulators._shared.oauth_server import SANDBOX_CLIENT
from brokerlink.manager.connections import ConnectionService
from brokerlink.storage.records import ConnectionRecord

REAUTH_WARNING = timedelta(days=2)

KEY_VARIABLES: dict[BrokerType, tuple[str, str | None]] = {
    BrokerType.ALPACA: ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY"),
    BrokerType.TRADIER: ("TRADIER_ACCESS_TOKEN", None),
}


class AuthMethod(StrEnum):
    KEYS = "keys"
    OAUTH = "oauth"


class PaperMarketChoice(StrEnum):
    EXCHANGE = "exchange"
    ALWAYS_OPEN = "always_open"


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def connect(
    broker: Annotated[str, typer.Argument(help="alpaca, tradier or paper")],
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Point at an emulator (brokerlink emulate) or a paper host.")] = None,
    auth: Annotated[AuthMethod | None, typer.Option(
        "--auth", help="keys or oauth (default: keys when the broker's key variables are "
        "set, else oauth)")] = None,
    client_id: Annotated[str | None, typer.Option(
        "--client-id", envvar="BROKERLINK_OAUTH_CLIENT_ID",
        help="Your OAuth app's client id (an emulator's sandbox app by default).")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for this connection.")
                     ] = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser",
                                          help="Open the sign-in page in a browser.")] = True,
    cash: Annotated[str, typer.Option(
        "--cash", help="paper: the opening cash (USD).")] = "100000",
    market: Annotated[PaperMarketChoice, typer.Option(
        "--market", help="paper: follow the NYSE calendar, or a market always open.")
    ] = PaperMarketChoice.EXCHANGE,
    seed: Annotated[int, typer.Option("--seed", help="paper: the price walk's seed.")] = 7,
) -> None:
    """Connect a broker account: sign in, test the connection, then store it encrypted.

    ``paper`` stores a simulated account (no sign-in): its orders, positions and cash
    persist in the database.
    """
    kind = _broker(broker)
    try:
        if kind is BrokerType.PAPER:
            record = asyncio.run(_connect_paper(_paper_cash(cash), market, seed, label))
        else:
            method = auth or _default_method(kind)
            record = asyncio.run(_connect(kind, method, base_url, client_id, label, browser))
    except BrokerError as exc:
        typer.secho(f"not connected: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    Console().print(f"connected [bold]{record.id}[/bold]: {record.label} "
                    f"(accounts {', '.join(record.account_ids)})")


def _paper_cash(text: str) -> Decimal:
    try:
        cash = Decimal(text)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"--cash must be a decimal amount, got {text!r}") from exc
    if not cash.is_finite() or cash < 0:
        raise typer.BadParameter(f"--cash must be zero or more, got {text!r}")
    return cash


async def _connect_paper(cash: Decimal, market: PaperMarketChoice, seed: int,
                         label: str | None) -> ConnectionRecord:
    async with await ConnectionService.open(actor=actor()) as service:
        return await service.add_paper(cash=cash, seed=seed, market=market.value,
                                       label=label)


async def _connect(broker: BrokerType, method: AuthMethod, base_url: str | None,
                   client_id: str | None, label: str | None,
                   browser: bool) -> ConnectionRecord:
    async with await ConnectionService.open(actor=actor()) as service:
        if method is AuthMethod.KEYS:
            key, secret = _read_keys(broker)
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
        typer.secho(f"not removed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    Console().print(f"removed {record.id} ({record.label}); its secrets are deleted. "
                    f"{record.broker} offers no token revocation: revoke the app at the "
                    "broker too if you no longer trust this machine.")


async def _remove(connection_id: str) -> ConnectionRecord:
    async with await ConnectionService.open(actor=actor()) as service:
        return await service.remove(connection_id)


def _broker(name: str) -> BrokerType:
    try:
        kind = BrokerType.parse(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if kind not in KEY_VARIABLES and kind is not BrokerType.PAPER:
        ready = ", ".join([*(b.value for b in KEY_VARIABLES), BrokerType.PAPER.value])
        raise typer.BadParameter(f"connections to {kind.value} are not available yet; "
                                 f"choose {ready}")
    return kind


def _default_method(broker: BrokerType) -> AuthMethod:
    key_variable, _ = KEY_VARIABLES[broker]
    return AuthMethod.KEYS if os.environ.get(key_variable) else AuthMethod.OAUTH


def _read_keys(broker: BrokerType) -> tuple[SecretStr, SecretStr | None]:
    key_variable, secret_variable = KEY_VARIABLES[broker]
    key = os.environ.get(key_variable) or typer.prompt(key_variable, hide_input=True)
    secret: str | None = None
    if secret_variable is not None:
        secret = os.environ.get(secret_variable) or typer.prompt(secret_variable,
                                                                 hide_input=True)
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



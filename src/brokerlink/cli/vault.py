"""``brokerlink vault ...``: inspect the secret vault and rotate its key-encryption key.

The vault comes from ``brokerlink.bootstrap``, imported inside the commands: it loads
SQLAlchemy and cryptography, which ``brokerlink --help`` must not pay for.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape

from brokerlink.cli.app import refuse
from brokerlink.core.errors import BrokerError

if TYPE_CHECKING:
    from brokerlink.bootstrap import VaultSession, VaultStatus

app = typer.Typer(
    name="vault",
    help="The encrypted secret vault: key provider status and key rotation.",
    no_args_is_help=True,
)


def cli_actor() -> str:
    """The audit actor for commands typed by a person: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@asynccontextmanager
async def open_default_vault() -> AsyncIterator[VaultSession]:
    """The default database (``BROKERLINK_HOME``/``BROKERLINK_DATABASE_URL``) and its
    vault; a passphrase provider asks at the terminal. Raises ``BrokerError``s."""
    from brokerlink.bootstrap import vault_session

    async with vault_session(passphrase_prompt=_prompt_passphrase) as session:
        yield session


def _prompt_passphrase() -> SecretStr:
    # Only asked when BROKERLINK_PASSPHRASE is not set; never echoed.
    return SecretStr(typer.prompt("Vault passphrase", hide_input=True))


def fail(error: BrokerError) -> typer.Exit:
    """Print ``error`` for a person, in one line, and return the exit to raise (code 1)."""
    return refuse(f"error: {error}")


@app.callback()
def main() -> None:
    """The encrypted secret vault."""


def _render_status(status: VaultStatus) -> None:
    from brokerlink.bootstrap import PROVIDER_ENV

    console = Console(highlight=False)
    selected = status.selected_provider
    active = status.active_kek
    console.print(f"[bold]Key provider:[/bold] {selected.name} ([bold]{selected.strength}[/bold])")
    console.print(f"  {escape(selected.description)}")
    if selected.strength != "strong":
        console.print(f"  [yellow]Stronger:[/yellow] {selected.advice}")
    else:
        console.print(f"  {selected.advice}")
    console.print(f"  Choose with {PROVIDER_ENV}=keyring|passphrase|env|file, then run "
                  "`brokerlink vault rotate-key`.")
    console.print(f"[bold]Active key:[/bold] {active.kek_id} (version {active.version}, "
                  f"provider {active.provider}, created {active.created_at:%Y-%m-%d %H:%M} UTC)")
    if active.provider != selected.name:
        console.print(f"  [yellow]The active key comes from {active.provider}; run "
                      f"`brokerlink vault rotate-key` to move to {selected.name}.[/yellow]")
    on_active = status.rows_by_kek.get(active.kek_id, 0)
    elsewhere = sum(count for kek, count in status.rows_by_kek.items() if kek != active.kek_id)
    console.print(f"[bold]Sealed values:[/bold] {on_active} under the active key")
    if status.rotation_in_progress or elsewhere:
        console.print(f"[yellow]Rotation in progress:[/yellow] {elsewhere} value(s) still under "
                      "an older key; run `brokerlink vault rotate-key` to finish it.")


@app.command("status")
def status_command() -> None:
    """Show the key-encryption-key provider, its strength and how to choose a stronger one."""

    async def run() -> VaultStatus:
        async with open_default_vault() as session:
            return await session.vault.status()

    try:
        status = asyncio.run(run())
    except BrokerError as exc:
        raise fail(exc) from exc
    _render_status(status)


@app.command("rotate-key")
def rotate_key_command() -> None:
    """Re-wrap every stored secret under a new key-encryption key (resumes if interrupted)."""

    async def run() -> tuple[str, int, bool]:
        async with open_default_vault() as session:
            report = await session.vault.rotate()
            log = await session.audit_log()
            await log.append("vault.rotate_key", actor=cli_actor(), outcome="ok", detail={
                "to_kek_id": report.to_kek_id, "from_kek_ids": list(report.from_kek_ids),
                "rewrapped": report.rewrapped, "resumed": report.resumed})
            return report.to_kek_id, report.rewrapped, report.resumed

    try:
        kek_id, count, resumed = asyncio.run(run())
    except BrokerError as exc:
        raise fail(exc) from exc
    how = "resumed and finished" if resumed else "done"
    Console(highlight=False).print(
        f"Key rotation {how}: {count} value(s) re-wrapped; active key is {kek_id}.")

"""The ``brokerlink`` command: one Typer app, one module per command group."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from brokerlink.adapters import registry
from brokerlink.cli import audit, connections, emulate, orders, portfolio, render, vault
from brokerlink.cli import sync as sync_cli
from brokerlink.cli.demo import demo_home, run_demo
from brokerlink.cli.logs import configure_logging

app = typer.Typer(
    name="brokerlink",
    help="One typed, async interface to your brokerage accounts.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main_options(
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="More log output: -v info, -vv debug. Secrets "
        "are redacted from every line.")] = 0,
) -> None:
    """One typed, async interface to your brokerage accounts."""
    configure_logging(logging.DEBUG if verbose > 1 else
                      logging.INFO if verbose else logging.WARNING)


app.add_typer(vault.app, name="vault")
app.add_typer(audit.app, name="audit")
app.add_typer(emulate.app, name="emulate")
app.command()(connections.connect)
app.command("connections")(connections.connections)
app.command()(connections.disconnect)
app.command("sync")(sync_cli.sync)
app.command("portfolio")(portfolio.portfolio)
app.command("orders")(orders.orders)
app.add_typer(orders.order_app(), name="order")


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(
        "--home", file_okay=False, help="Keep the demo's database, vault key and audit log "
        "in this directory (default: a temporary one, removed afterwards).")] = None,
) -> None:
    """Connect Alpaca and Tradier (local emulators, OAuth) beside a paper account, trade
    through best execution, watch one portfolio update live, then verify the audit log."""
    console = render.wide_console()
    with demo_home(home) as where:
        console.print(f"demo home: {where} (its own database, vault key and audit log)")
        asyncio.run(run_demo(console))
        console.rule("[bold]6. brokerlink audit verify")
        # The real command, on the demo's audit log: it exits 1 on any break.
        audit.verify_command()


@app.command()
def brokers() -> None:
    """List every installed broker adapter: its name, aliases, sign-in and default place."""
    table = Table(title="Brokers")
    table.add_column("Broker")
    table.add_column("Also")
    table.add_column("Signs in with")
    table.add_column("Default environment")
    for spec in registry.specs():
        table.add_row(spec.broker_type.value, ", ".join(spec.aliases),
                      ", ".join(c.kind.value for c in spec.credentials),
                      spec.default_environment)
    Console().print(table)


def main() -> None:
    app()

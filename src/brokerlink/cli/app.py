"""The ``brokerlink`` command: one Typer app, one module per command group.

Start-up is kept fast (``brokerlink --help`` and ``brokerlink brokers`` well under half a
second): the command modules pull in the manager, SQLAlchemy, httpx, FastAPI and the
like, so they are registered *lazily*. ``_LAZY`` names each command's module and its
one-line help; the module is imported only when that command (or its own ``--help``)
runs. The top-level help lists them from ``_LAZY`` without importing anything; a unit
test keeps each line equal to the real command's help.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from brokerlink.cli.logs import configure_logging


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A command whose module is imported on first use.

    ``target`` is ``"module:attribute"``: a command function, a ``typer.Typer`` group,
    or (``group=True``) a function returning one. ``help`` is the one line the
    top-level ``--help`` shows.
    """

    name: str
    target: str
    help: str
    group: bool = False

    def load(self) -> Any:
        """Import the module and build the click command (a group for groups).

        Raises ``ImportError``/``AttributeError`` if the target is missing.
        """
        module_name, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module_name), attribute)
        command: Any
        if self.group:
            typer_app = found if isinstance(found, typer.Typer) else found()
            command = typer.main.get_group(typer_app)
        else:
            holder = typer.Typer()
            holder.command(self.name)(found)
            command = typer.main.get_command(holder)
        command.name = self.name
        return command


_LAZY = (
    LazyCommand("vault", "brokerlink.cli.vault:app",
                "The encrypted secret vault: key provider status and key rotation.",
                group=True),
    LazyCommand("audit", "brokerlink.cli.audit:app",
                "The hash-chained audit log: verify it, show recent events.", group=True),
    LazyCommand("emulate", "brokerlink.cli.emulate:app", "Run local broker API emulators.",
                group=True),
    LazyCommand("connect", "brokerlink.cli.connections:connect",
                "Connect a broker account: sign in, test the connection, then store it "
                "encrypted."),
    LazyCommand("connections", "brokerlink.cli.connections:connections",
                "List stored connections: status, accounts, token expiry and when to sign "
                "in again."),
    LazyCommand("disconnect", "brokerlink.cli.connections:disconnect",
                "Remove a connection and delete its stored secrets."),
    LazyCommand("sync", "brokerlink.cli.sync:sync",
                "Keep every connection's positions, balances and open orders in sync."),
    LazyCommand("portfolio", "brokerlink.cli.portfolio:portfolio",
                "Positions and balances across every connection, with the total value."),
    LazyCommand("orders", "brokerlink.cli.orders:orders",
                "Orders across every connection; connections that fail are listed, not "
                "hidden."),
    LazyCommand("order", "brokerlink.cli.orders:order_app",
                "Place and cancel orders (through the order journal).", group=True),
)
LAZY_COMMANDS = {command.name: command for command in _LAZY}


class LazyGroup(TyperGroup):
    """The top-level group: eager commands as usual, ``LAZY_COMMANDS`` on first use.

    While it writes its own help, a lazy command is shown by a stand-in holding only
    its name and help line, so listing commands imports none of their modules.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._listing = False
        self._loaded: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in LAZY_COMMANDS if name not in eager)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        eager = super().get_command(ctx, cmd_name)
        lazy = LAZY_COMMANDS.get(cmd_name)
        if eager is not None or lazy is None:
            return eager
        if self._listing:
            return TyperCommand(cmd_name, help=lazy.help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = lazy.load()
        return self._loaded[cmd_name]

    @contextmanager
    def _stand_ins(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._stand_ins():
            super().format_help(ctx, formatter)


app = typer.Typer(
    name="brokerlink",
    help="One typed, async interface to your brokerage accounts.",
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
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


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(
        "--home", file_okay=False, help="Keep the demo's database, vault key and audit log "
        "in this directory (default: a temporary one, removed afterwards).")] = None,
) -> None:
    """Connect Alpaca and Tradier (local emulators, OAuth) beside a paper account, trade
    through best execution, watch one portfolio update live, then verify the audit log."""
    import asyncio

    from brokerlink.cli import audit, render
    from brokerlink.cli.demo import demo_home, run_demo

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
    from rich.console import Console
    from rich.table import Table

    from brokerlink.adapters import registry

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

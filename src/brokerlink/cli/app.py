"""The ``brokerlink`` command: one Typer app, one module per command group.

Start-up is kept fast (``brokerlink --help`` and ``brokerlink brokers`` well under half a
second): the command modules pull in the manager, SQLAlchemy, httpx, FastAPI and the
like, so they are registered *lazily*. ``_LAZY`` names each command's module and its
one-line help; the module is imported only when that command (or its own ``--help``)
runs. The top-level help lists them from ``_LAZY`` without importing anything; a unit
test keeps each line equal to the real command's help.

Errors end a command in one line on stderr, never a traceback: ``LazyGroup.invoke`` is
the one place that turns a brokerlink error (``BrokerError``: storage, vault, audit,
broker), an environment error (``OSError``) or a usage error of a subcommand into one
line and a non-zero exit, and anything unexpected into one line with a hint to rerun
with ``-vv``, which alone prints the (redacted) traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
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
            holder = typer.Typer(add_completion=False)
            holder.command(self.name)(found)
            command = typer.main.get_command(holder)
        command.name = self.name
        return command


_LAZY = (
    LazyCommand("vault", "brokerlink.cli.vault:app",
                "The encrypted secret vault: key provider status and key rotation.",
                group=True),
    LazyCommand("audit", "brokerlink.cli.audit:app",
                "The hash-chained audit log: verify it, anchor its head, show recent "
                "events.", group=True),
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

    def invoke(self, ctx: Any) -> Any:
        """Run the command; any error it raises ends it in one line (see the module
        docstring). Exits (``typer.Exit``, ``Abort``), a group's help shown for want of
        arguments and ``KeyboardInterrupt`` pass through to Typer."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:
            # Typer prints the help itself for this one (a group run with no arguments).
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise
            raise typer.Exit(report_error(exc, verbosity=_verbosity(ctx))) from None
        except Exception as exc:  # the one place every error ends
            raise typer.Exit(report_error(exc, verbosity=_verbosity(ctx))) from None


def _verbosity(ctx: typer.Context) -> int:
    value = ctx.params.get("verbose")
    return value if isinstance(value, int) else 0


MAX_ERROR_CHARS = 600
"""An error line is cut here: a message quoting a huge input must not flood the terminal."""


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` with its whitespace runs (newlines included) collapsed to one space, cut
    to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[:limit]}... [{len(flat) - limit} more chars]"


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line (redacted) that reports ``exc``, and the exit status to end with:
    2 for a usage error, 1 for a brokerlink or environment error, 1 for anything else
    (whose line says to rerun with -vv)."""
    from brokerlink.adapters._shared.redaction import redact_text
    from brokerlink.core.errors import BrokerError

    if isinstance(exc, typer.TyperException):
        # A usage error (a bad value, a missing argument): name the command's help.
        usage = getattr(exc, "ctx", None)
        where = f" (see '{usage.command_path} --help')" if usage is not None else ""
        return f"error: {one_line(redact_text(exc.format_message()))}{where}", exc.exit_code
    if isinstance(exc, BrokerError):
        return f"error: {type(exc).__name__}: {one_line(redact_text(str(exc)))}", 1
    if isinstance(exc, OSError):
        # The environment: a home that is a file, a path that cannot exist, a full disk.
        return f"error: {one_line(redact_text(str(exc)))}", 1
    return (f"error: unexpected {type(exc).__name__}: {one_line(redact_text(str(exc)), 200)}"
            " (a bug: rerun with -vv for the traceback and report it)", 1)


def refuse(text: str, *, code: int = 1) -> typer.Exit:
    """Print ``text`` (a command's own refusal, e.g. ``"not placed: ..."``) as one red,
    redacted line on stderr, and return the ``typer.Exit`` to raise."""
    from brokerlink.adapters._shared.redaction import redact_text

    typer.secho(one_line(redact_text(text)), fg="red", err=True)
    return typer.Exit(code)


def report_error(exc: BaseException, *, verbosity: int) -> int:
    """Print ``exc`` as one line on stderr (with -vv, its redacted traceback first) and
    return the exit status."""
    line, code = error_line(exc)
    if verbosity > 1:
        import traceback

        from brokerlink.adapters._shared.redaction import redact_text

        typer.echo(redact_text("".join(traceback.format_exception(exc))).rstrip(), err=True)
    typer.echo(line, err=True)
    sys.stderr.flush()
    return code


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

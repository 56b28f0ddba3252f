"""``brokerlink audit ...``: verify the tamper-evident audit log and show recent events.

The log comes from ``brokerlink.bootstrap`` (through ``cli.vault``), opened inside the
commands, so importing this module stays cheap.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from brokerlink.cli.vault import fail, open_default_vault
from brokerlink.core.errors import BrokerError

if TYPE_CHECKING:
    from brokerlink.bootstrap import AuditEventRecord, VerifyReport

app = typer.Typer(
    name="audit",
    help="The hash-chained audit log: verify it, show recent events.",
    no_args_is_help=True,
)


def _console() -> Console:
    # Built per command, not at import: width and colour follow the caller's terminal.
    return Console(highlight=False)


@app.callback()
def main() -> None:
    """The tamper-evident audit log."""


@app.command("verify")
def verify_command() -> None:
    """Check every event's MAC, the chain links and the checkpoints; exit 1 on any break."""

    async def run() -> VerifyReport:
        async with open_default_vault() as session:
            return await (await session.audit_log()).verify()

    console = _console()
    try:
        report = asyncio.run(run())
    except BrokerError as exc:
        raise fail(exc) from exc
    for warning in report.warnings:
        console.print(f"[dim]note: {escape(warning)}[/dim]")
    if report.ok:
        console.print(f"[green]chain intact:[/green] {report.events_checked} events")
        return
    problem = report.problem.value if report.problem else "unknown"
    console.print(f"[red]chain broken at event {report.first_bad_seq} ({problem}):[/red] "
                  f"{escape(report.reason or '')}")
    console.print(f"{report.events_checked} events verified before the break.")
    raise typer.Exit(code=1)


@app.command("show")
def show_command(
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=10_000,
                              help="How many of the newest events to show."),
) -> None:
    """Show the newest audit events, oldest first."""

    async def run() -> list[AuditEventRecord]:
        async with open_default_vault() as session:
            return await (await session.audit_log()).recent(limit)

    console = _console()
    try:
        events = asyncio.run(run())
    except BrokerError as exc:
        raise fail(exc) from exc
    if not events:
        console.print("the audit log is empty")
        return
    table = Table(title=f"audit log: last {len(events)} events")
    for column in ("seq", "at (UTC)", "actor", "action", "connection", "broker", "outcome",
                   "detail"):
        table.add_column(column, overflow="fold")
    for event in events:
        detail = event.detail if len(event.detail) <= 120 else event.detail[:117] + "..."
        # Stored text is data, not markup: "[redacted]" must print as itself.
        cells = (str(event.seq), f"{event.at:%Y-%m-%d %H:%M:%S}", event.actor, event.action,
                 event.connection_id or "", event.broker or "", event.outcome, detail)
        table.add_row(*(escape(cell) for cell in cells))
    console.print(table)

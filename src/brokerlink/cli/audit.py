"""``brokerlink audit ...``: verify the tamper-evident audit log, anchor its head, show
recent events.

The log comes from ``brokerlink.bootstrap`` (through ``cli.vault``), opened inside the
commands, so importing this module stays cheap. Every outcome, damage included, is
printed as one line (plus a summary), never a traceback: verification reports damage
instead of raising, and the typed errors left (database, vault, anchor file) are
printed by ``fail``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from brokerlink.cli.vault import fail, open_default_vault
from brokerlink.core.errors import BrokerError

if TYPE_CHECKING:
    from brokerlink.bootstrap import Anchor, AuditEventRecord, DamagedRecord, VerifyReport

app = typer.Typer(
    name="audit",
    help="The hash-chained audit log: verify it, anchor its head, show recent events.",
    no_args_is_help=True,
)

AllowMissingFile = Annotated[bool, typer.Option(
    "--allow-missing-checkpoint-file",
    help="Do not fail when the log has events but this machine has no checkpoint file "
         "(a machine that never wrote to a shared database). A cut-off tail with a "
         "rewound checkpoint row is then not ruled out; use --anchor.")]


def _console() -> Console:
    # Built per command, not at import: width and colour follow the caller's terminal.
    return Console(highlight=False)


def _fail_line(message: str) -> typer.Exit:
    """Print a one-line error (``message`` is plain text) and return exit 1."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=1)


@app.callback()
def main() -> None:
    """The tamper-evident audit log."""


@app.command("verify")
def verify_command(
    anchor_file: Annotated[Path | None, typer.Option(
        "--anchor", metavar="FILE",
        help="Also check the log against an anchor kept elsewhere (from `brokerlink "
             "audit anchor`): its event must still be there, unchanged, and the log "
             "must not be shorter.")] = None,
    allow_missing_file: AllowMissingFile = False,
) -> None:
    """Check every event's MAC, the chain links and the checkpoints; exit 1 on any break."""
    from brokerlink.bootstrap import AnchorError, read_anchor_file

    anchor: Anchor | None = None
    if anchor_file is not None:
        try:
            anchor = read_anchor_file(anchor_file)
        except AnchorError as exc:
            raise _fail_line(f"{exc}; it was not made by `brokerlink audit anchor`, or it "
                             "was edited") from exc

    async def run() -> VerifyReport:
        async with open_default_vault() as session:
            log = await session.audit_log()
            return await log.verify(anchor=anchor,
                                    require_checkpoint_file=not allow_missing_file)

    # soft_wrap: a reason is one line however narrow the terminal (grep-able in logs).
    console = Console(highlight=False, soft_wrap=True)
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
    where = (f"chain broken at event {report.first_bad_seq}" if report.first_bad_seq
             is not None else "verification failed")
    console.print(f"[red]{where} ({problem}):[/red] {escape(report.reason or '')}")
    console.print(f"{report.events_checked} events verified before the break.")
    raise typer.Exit(code=1)


@app.command("anchor")
def anchor_command(
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="Write the anchor to FILE instead of printing it.")
    ] = None,
    allow_missing_file: AllowMissingFile = False,
) -> None:
    """Print a MAC-signed statement of the log's head (event number, hash, time) to keep
    off this machine; `brokerlink audit verify --anchor FILE` checks the log against it.
    The log is verified first: a broken log is never anchored."""
    from brokerlink.bootstrap import AnchorError

    async def run() -> Anchor:
        async with open_default_vault() as session:
            log = await session.audit_log()
            return await log.anchor(require_checkpoint_file=not allow_missing_file)

    try:
        anchor = asyncio.run(run())
    except BrokerError as exc:
        raise fail(exc) from exc
    except AnchorError as exc:
        raise _fail_line(str(exc)) from exc
    text = anchor.to_text()
    if out is None:
        # Plain echo, not rich: the line must reach a pipe (mail, upload) unwrapped.
        typer.echo(text)
        return
    from brokerlink.paths import write_private_file

    try:
        write_private_file(out, text.encode("ascii") + b"\n")
    except OSError as exc:
        raise _fail_line(f"cannot write the anchor to {out} "
                         f"({exc.strerror or type(exc).__name__})") from exc
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"anchored event {anchor.seq} in {escape(str(out))}; keep a copy off this machine")


def _cells(row: AuditEventRecord | DamagedRecord) -> tuple[tuple[str, ...], bool]:
    """The table cells of a row, and whether it is damaged."""
    from brokerlink.bootstrap import DamagedRecord

    if isinstance(row, DamagedRecord):
        # A damaged row is shown, not raised: which one and why, never its content.
        return (str(row.seq), "", "", "[damaged]", "", "", "", row.reason), True
    detail = row.detail if len(row.detail) <= 120 else row.detail[:117] + "..."
    return (str(row.seq), f"{row.at:%Y-%m-%d %H:%M:%S}", row.actor, row.action,
            row.connection_id or "", row.broker or "", row.outcome, detail), False


@app.command("show")
def show_command(
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=10_000,
                              help="How many of the newest events to show."),
) -> None:
    """Show the newest audit events, oldest first (damaged rows are marked)."""

    async def run() -> list[AuditEventRecord | DamagedRecord]:
        async with open_default_vault() as session:
            return await (await session.audit_log()).recent_rows(limit)

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
    damaged = 0
    for event in events:
        cells, broken = _cells(event)
        damaged += broken
        # Stored text is data, not markup: "[redacted]" must print as itself.
        table.add_row(*(escape(cell) for cell in cells))
    console.print(table)
    if damaged:
        console.print(f"[red]{damaged} damaged row(s):[/red] run `brokerlink audit verify`",
                      soft_wrap=True)
        raise typer.Exit(code=1)

"""``brokerlink emulate <broker|all>``: run local broker emulators until Ctrl-C.

Each emulator serves its broker's real API on 127.0.0.1 (``--port 0`` picks a free
port) from a simulated market whose clock follows the wall clock, so prices move while
you watch. Any well-formed API key works unless ``--strict``; ``/_emulator`` is the
admin API (clock, prices, accounts, faults). Mount with
``app.add_typer(emulate.app, name="emulate")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from brokerlink.cli.app import refuse
from brokerlink.emulators import registry as emulators
from brokerlink.emulators.registry import EmulatorServer

app = typer.Typer(
    help="Run local broker API emulators.", add_completion=False,
    # A group stops parsing options at its first argument by default; this one has no
    # subcommands, so "emulate alpaca --port 0" must parse like a plain command.
    context_settings={"allow_interspersed_args": True},
)


def _names(broker: str) -> list[str]:
    ready = emulators.available()
    if broker.strip().lower() == "all":
        if not ready:
            raise typer.BadParameter("no emulator is installed")
        return ready
    name = broker.strip().lower()
    if name not in ready:
        choices = ", ".join([*ready, "all"])
        raise typer.BadParameter(f"no emulator for {broker!r}; choose one of: {choices}")
    return [name]


async def _serve(names: list[str], port: int, strict: bool, seed: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows event loops
            loop.add_signal_handler(sig, stop.set)
    servers: list[EmulatorServer] = []
    try:
        for offset, name in enumerate(names):
            app_ = emulators.load(name)(strict=strict, seed=seed, follow_wall_clock=True)
            server = EmulatorServer(app_, port=port + offset if port else 0)
            await server.start()
            servers.append(server)
            typer.echo(f"{name}: {server.url}  (admin: {server.url}/_emulator/status)")
        mode = "strict: only keys made via POST /_emulator/accounts" if strict \
            else "lenient: any well-formed API key opens a funded account"
        typer.echo(f"credentials {mode}; press Ctrl-C to stop")
        await stop.wait()
    finally:
        for server in servers:
            await server.stop()


@app.callback(invoke_without_command=True)
def emulate(
    broker: str = typer.Argument(..., help="An installed emulator's name or 'all'."),
    port: int = typer.Option(0, "--port", "-p", min=0, max=65535,
                             help="Port to listen on (0 picks a free one; with 'all', "
                                  "consecutive ports from here)."),
    strict: bool = typer.Option(False, "--strict",
                                help="Accept only credentials created via the admin API."),
    seed: int = typer.Option(7, "--seed", help="Seed of the simulated market."),
) -> None:
    """Start the emulator(s), print their URLs and serve until Ctrl-C."""
    names = _names(broker)
    try:
        asyncio.run(_serve(names, port, strict, seed))
    except OSError as exc:
        raise refuse(f"cannot start: {exc}") from exc

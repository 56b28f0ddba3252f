"""``brokerlink portfolio``: every connection's positions and balances as one portfolio.

Connections are read concurrently, each within ``--timeout`` seconds; one that fails
is listed by id with its error and the rest are shown.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import typer

from brokerlink.bootstrap import open_manager
from brokerlink.cli.app import refuse
from brokerlink.cli.render import (
    account_values_table,
    balances_table,
    consolidated_positions_table,
    failures_lines,
    money,
    wide_console,
)
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import AccountBalances
from brokerlink.core.values import utc_now
from brokerlink.manager.aggregate import Aggregated, ConsolidatedView, consolidate
from brokerlink.manager.manager import DEFAULT_READ_TIMEOUT
from brokerlink.manager.valuation import PortfolioValue, value_portfolio


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def decimal_text(value: Decimal | None) -> str | None:
    """Decimals as strings in JSON: exact, never a float."""
    return None if value is None else str(value)


def errors_json(errors: Mapping[str, BrokerError]) -> dict[str, dict[str, Any]]:
    """Per-connection failures as JSON: type, message, whether a retry may help."""
    return {connection_id: {"type": type(error).__name__, "message": error.message,
                            "retryable": error.retryable, "recovery": error.recovery.value}
            for connection_id, error in errors.items()}


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    positions: ConsolidatedView
    balances: Aggregated[AccountBalances]
    value: PortfolioValue


async def read_portfolio(*, read_timeout: float, base_currency: str) -> PortfolioSnapshot:
    """Consolidated positions and account values from every stored connection."""
    manager = await open_manager(actor=actor(), read_timeout=read_timeout,
                                       base_currency=base_currency)
    async with manager:
        positions, balances = await asyncio.gather(manager.get_all_positions(),
                                                   manager.get_all_balances())
        value = await value_portfolio(balances, manager.fx, manager.base_currency)
    return PortfolioSnapshot(consolidate(positions), balances, value)


def portfolio_json(snapshot: PortfolioSnapshot) -> dict[str, Any]:
    """The snapshot as JSON-ready data (decimals as strings, times in ISO 8601 UTC)."""
    value = snapshot.value
    errors = {**errors_json(snapshot.positions.errors), **errors_json(value.errors)}
    balances = {(b.connection_id, b.value.account_id): b.value for b in snapshot.balances.items}
    return {
        "as_of": utc_now().isoformat(),
        "base_currency": value.base_currency,
        "total_value": str(value.total),
        "complete": snapshot.positions.complete and value.complete,
        "positions": [{
            "symbol": line.symbol, "asset_type": line.asset_type.value,
            "currency": line.currency, "quantity": str(line.quantity),
            "average_cost": decimal_text(line.average_cost),
            "market_value": decimal_text(line.market_value),
            "cost_basis": str(line.cost_basis),
            "unrealized_pnl": decimal_text(line.unrealized_pnl),
            "as_of": line.as_of.isoformat(),
            "holdings": [{
                "connection_id": h.connection_id, "broker": h.broker.value,
                "label": h.label, "account_id": h.value.account_id,
                "quantity": str(h.value.quantity),
                "average_cost": str(h.value.average_cost),
                "market_value": decimal_text(h.value.market_value),
                "as_of": h.as_of.isoformat(), "source": h.source.value,
            } for h in line.holdings],
        } for line in snapshot.positions.lines],
        "accounts": [{
            "connection_id": line.connection_id, "broker": line.broker.value,
            "label": line.label, "account_id": line.account_id, "currency": line.currency,
            "cash": str(balances[line.connection_id, line.account_id].cash),
            "buying_power": str(balances[line.connection_id, line.account_id].buying_power),
            "total_value": str(line.amount), "converted": decimal_text(line.converted),
            "rate": decimal_text(line.rate.rate) if line.rate else None,
            "rate_source": line.rate.source if line.rate else None,
            "as_of": line.as_of.isoformat(), "source": line.source.value,
        } for line in value.lines],
        "unconverted": [{"connection_id": line.connection_id, "currency": line.currency,
                         "amount": str(line.amount)} for line in value.unconverted],
        "errors": errors,
    }


def portfolio(
    json_output: Annotated[bool, typer.Option("--json", help="JSON (decimals as strings).")
                           ] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds each connection gets to answer.")
                       ] = DEFAULT_READ_TIMEOUT,
    currency: Annotated[str, typer.Option("--currency", help="Base currency of the total.")
                        ] = "USD",
) -> None:
    """Positions and balances across every connection, with the total value.

    Consolidated by symbol and broken down by account. Connections that fail are listed,
    not hidden.
    """
    try:
        snapshot = asyncio.run(read_portfolio(read_timeout=timeout, base_currency=currency))
    except BrokerError as exc:
        raise refuse(f"portfolio unavailable: {exc}") from exc
    if json_output:
        typer.echo(json.dumps(portfolio_json(snapshot), indent=2))
        return
    console = wide_console()
    console.print(consolidated_positions_table(snapshot.positions.lines))
    console.print(balances_table((f"{b.label} ({b.connection_id})", b.value)
                                 for b in snapshot.balances.items))
    value = snapshot.value
    console.print(account_values_table(value))
    console.print(f"[bold]Total value: {money(value.total)} {value.base_currency}[/bold]"
                  + ("" if value.complete else " [yellow](incomplete: see below)[/yellow]"))
    for line in value.unconverted:
        console.print(f"[yellow]not in total:[/yellow] {line.connection_id} "
                      f"{money(line.amount)} {line.currency} (no {line.currency}->"
                      f"{value.base_currency} rate configured)")
    failures = dict(snapshot.positions.errors)
    failures.update(value.errors)
    for failure in failures_lines(failures):
        console.print(f"[red]not answered:[/red] {failure}")

"""Rich tables for the unified models: one renderer per model, shared by every command."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from brokerlink.core.errors import BrokerError
from brokerlink.core.models import AccountBalances, BrokerAccount, Order, Position, Transaction
from brokerlink.manager.aggregate import ConsolidatedPosition, Sourced
from brokerlink.manager.routing import ExecutionPlan
from brokerlink.manager.valuation import PortfolioValue

if TYPE_CHECKING:
    from brokerlink.bootstrap import ConnectionRecord

_CENT = Decimal("0.01")


def wide_console() -> Console:
    """A console that does not squeeze tables into 80 columns when output is piped."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(_CENT):,}"


def number(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{value.normalize():f}"


def signed_money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    return f"[{colour}]{value.quantize(_CENT):+,}[/{colour}]"


def accounts_table(accounts: Iterable[BrokerAccount]) -> Table:
    table = Table(title="Accounts")
    for column in ("Broker", "Account", "Type", "Status", "Options", "Margin", "Short"):
        table.add_column(column)
    for account in accounts:
        table.add_row(account.broker.value, account.account_id, account.account_type.value,
                      account.status.value, _yes(account.can_trade_options),
                      _yes(account.can_trade_margin), _yes(account.can_short))
    return table


def balances_table(rows: Iterable[tuple[str, AccountBalances]]) -> Table:
    table = Table(title="Balances")
    table.add_column("Broker")
    table.add_column("Account")
    for column in ("Cash", "Buying power", "Market value", "Total value", "Day P&L"):
        table.add_column(column, justify="right")
    for broker, balances in rows:
        table.add_row(broker, balances.account_id, money(balances.cash),
                      money(balances.buying_power), money(balances.market_value),
                      money(balances.total_value), signed_money(balances.day_pnl))
    return table


def positions_table(rows: Iterable[tuple[str, Position]]) -> Table:
    table = Table(title="Positions")
    table.add_column("Broker")
    table.add_column("Symbol")
    table.add_column("Type")
    for column in ("Qty", "Avg cost", "Price", "Market value", "Unrealised P&L", "Day P&L"):
        table.add_column(column, justify="right")
    for broker, position in rows:
        table.add_row(broker, position.symbol, position.asset_type.value,
                      number(position.quantity), money(position.average_cost),
                      money(position.current_price), money(position.market_value),
                      signed_money(position.unrealized_pnl), signed_money(position.day_pnl))
    return table


def orders_table(rows: Iterable[tuple[str, Order]]) -> Table:
    table = Table(title="Orders")
    for column in ("Broker", "Order", "Symbol", "Side", "Type", "TIF", "Status"):
        table.add_column(column)
    for column in ("Qty", "Filled", "Limit", "Stop", "Avg fill"):
        table.add_column(column, justify="right")
    for broker, order in rows:
        table.add_row(broker, order.order_id[:8], order.symbol, order.side.value,
                      order.order_type.value, order.time_in_force.value, order.status.value,
                      number(order.quantity), number(order.filled_quantity),
                      money(order.limit_price), money(order.stop_price),
                      money(order.average_fill_price))
    return table


def transactions_table(rows: Iterable[tuple[str, Transaction]]) -> Table:
    table = Table(title="Transactions")
    for column in ("Broker", "When (UTC)", "Type", "Symbol", "Side"):
        table.add_column(column)
    for column in ("Qty", "Price", "Fees", "Amount"):
        table.add_column(column, justify="right")
    for broker, entry in rows:
        table.add_row(broker, f"{entry.timestamp:%Y-%m-%d %H:%M}", entry.type.value,
                      entry.symbol or "", entry.side.value if entry.side else "",
                      number(entry.quantity), money(entry.price), money(entry.fees),
                      signed_money(entry.amount))
    return table


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --- many connections as one (brokerlink portfolio / orders / order place) -------------


def consolidated_positions_table(lines: Iterable[ConsolidatedPosition]) -> Table:
    """One row per instrument across accounts; the last column breaks it down by account."""
    table = Table(title="Consolidated positions")
    for column in ("Symbol", "Type", "Ccy"):
        table.add_column(column)
    for column in ("Qty", "Avg cost", "Market value", "Unrealised P&L"):
        table.add_column(column, justify="right")
    table.add_column("Held at")
    for line in lines:
        held = "\n".join(f"{h.label}: {number(h.value.quantity)}" for h in line.holdings)
        table.add_row(line.symbol, line.asset_type.value, line.currency, number(line.quantity),
                      money(line.average_cost), money(line.market_value),
                      signed_money(line.unrealized_pnl), held)
    return table


def account_values_table(value: PortfolioValue) -> Table:
    """Each account's value as reported and in the base currency, with the rate's source."""
    table = Table(title=f"Accounts (total in {value.base_currency})")
    for column in ("Connection", "Broker", "Label", "Account", "Ccy"):
        table.add_column(column)
    for column in ("Value", f"In {value.base_currency}"):
        table.add_column(column, justify="right")
    table.add_column("Rate (source)")
    for line in value.lines:
        rate = (f"{line.rate.rate.normalize():f} ({line.rate.source})" if line.rate
                else "[yellow]no rate: not in total[/yellow]")
        table.add_row(line.connection_id, line.broker.value, line.label, line.account_id,
                      line.currency, money(line.amount), money(line.converted), rate)
    return table


def sourced_orders_table(rows: Iterable[Sourced[Order]]) -> Table:
    """Orders of every connection, with the full ids ``brokerlink order cancel`` takes."""
    table = Table(title="Orders")
    for column in ("Connection", "Broker", "Order id", "Symbol", "Side", "Type", "TIF",
                   "Status"):
        table.add_column(column)
    for column in ("Qty", "Filled", "Limit", "Stop", "Avg fill"):
        table.add_column(column, justify="right")
    for row in rows:
        order = row.value
        table.add_row(row.connection_id, row.broker.value, order.order_id, order.symbol,
                      order.side.value, order.order_type.value, order.time_in_force.value,
                      order.status.value, number(order.quantity),
                      number(order.filled_quantity), money(order.limit_price),
                      money(order.stop_price), money(order.average_fill_price))
    return table


def execution_plan_table(plan: ExecutionPlan) -> Table:
    """The best-execution ranking: rank (or excluded), price, fees and every reason."""
    order = plan.order
    table = Table(title=f"Best execution: {order.side.value} {number(order.quantity)} "
                        f"{order.instrument_symbol} ({order.order_type.value})")
    for column in ("Rank", "Connection", "Broker", "Status"):
        table.add_column(column)
    for column in ("Price", "Commission", "Net / unit", "Buying power"):
        table.add_column(column, justify="right")
    table.add_column("Reasons")
    for candidate in plan.ranked:
        rank = str(candidate.rank) if candidate.rank is not None else "[red]excluded[/red]"
        table.add_row(rank, candidate.connection_id, candidate.broker.value,
                      candidate.status.value, money(candidate.price),
                      money(candidate.commission), number(candidate.net_price),
                      money(candidate.buying_power), "\n".join(candidate.reasons))
    return table


def connections_table(records: Iterable[ConnectionRecord]) -> Table:
    """Stored connections: status, accounts, token expiry, re-auth date, refreshes."""
    table = Table(title="Connections")
    table.add_column("Id", no_wrap=True)
    for column in ("Broker", "Label", "Status", "Accounts", "Token expires (UTC)",
                   "Re-auth due (UTC)", "Refreshes"):
        table.add_column(column)
    for record in records:
        refreshes = (f"{record.refresh_successes}/{record.refresh_attempts}"
                     if record.refresh_attempts else "-")
        table.add_row(record.id, record.broker, record.label, record.status.value,
                      ", ".join(record.account_ids), _when(record.access_token_expires_at),
                      _when(record.reauth_due_at), refreshes)
    return table


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-"


def failures_lines(errors: Mapping[str, BrokerError]) -> list[str]:
    """One line per connection that did not answer: its id, error type and message."""
    return [f"{connection_id}: {type(error).__name__}: {error.message}"
            for connection_id, error in errors.items()]

"""Rich tables for the unified models: one renderer per model, shared by every command."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from brokerlink.core.models import AccountBalances, BrokerAccount, Order, Position, Transaction

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

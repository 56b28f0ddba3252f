"""``brokerlink orders``, ``brokerlink order place`` and ``brokerlink order cancel``.

Orders go through the write-ahead journal: written down before they are sent, sent
once. ``--broker auto`` (the default) lets best execution choose the connection and
prints the ranking with every reason; the choice is also in the audit log. Give
``--idempotency-key`` to make a retried command safe: the same key never sends twice.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer

from brokerlink.bootstrap import open_manager
from brokerlink.cli.app import refuse
from brokerlink.cli.portfolio import actor, decimal_text, errors_json
from brokerlink.cli.render import (
    execution_plan_table,
    failures_lines,
    sourced_orders_table,
    wide_console,
)
from brokerlink.core.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from brokerlink.core.errors import BrokerError
from brokerlink.core.models import Order, OrderRequest
from brokerlink.core.values import to_decimal
from brokerlink.manager.aggregate import Aggregated
from brokerlink.manager.manager import DEFAULT_READ_TIMEOUT, Placement
from brokerlink.manager.market_hours import ClosedMarketPolicy
from brokerlink.manager.routing import NoEligibleBrokerError

AUTO = "auto"


class Side(StrEnum):
    BUY = OrderSide.BUY.value
    SELL = OrderSide.SELL.value
    SELL_SHORT = OrderSide.SELL_SHORT.value
    BUY_TO_COVER = OrderSide.BUY_TO_COVER.value
    BUY_TO_OPEN = OrderSide.BUY_TO_OPEN.value
    BUY_TO_CLOSE = OrderSide.BUY_TO_CLOSE.value
    SELL_TO_OPEN = OrderSide.SELL_TO_OPEN.value
    SELL_TO_CLOSE = OrderSide.SELL_TO_CLOSE.value


class Kind(StrEnum):
    MARKET = OrderType.MARKET.value
    LIMIT = OrderType.LIMIT.value
    STOP = OrderType.STOP.value
    STOP_LIMIT = OrderType.STOP_LIMIT.value


class Tif(StrEnum):
    DAY = TimeInForce.DAY.value
    GTC = TimeInForce.GTC.value
    IOC = TimeInForce.IOC.value
    FOK = TimeInForce.FOK.value
    OPG = TimeInForce.OPG.value
    CLS = TimeInForce.CLS.value


def _decimal(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return to_decimal(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{name}: {exc}") from exc


# --- brokerlink orders ------------------------------------------------------------------


async def read_orders(*, status: OrderStatus | None, read_timeout: float) -> Aggregated[Order]:
    manager = await open_manager(actor=actor(), read_timeout=read_timeout)
    async with manager:
        return await manager.get_orders(status)


def orders(
    status: Annotated[OrderStatus | None, typer.Option(
        "--status", help="Only orders with this status.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON (decimals as strings).")
                           ] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds each connection gets to answer.")
                       ] = DEFAULT_READ_TIMEOUT,
) -> None:
    """Orders across every connection; connections that fail are listed, not hidden."""
    try:
        result = asyncio.run(read_orders(status=status, read_timeout=timeout))
    except BrokerError as exc:
        raise refuse(f"orders unavailable: {exc}") from exc
    if json_output:
        typer.echo(json.dumps({
            "as_of": result.as_of.isoformat(), "complete": result.complete,
            "orders": [{"connection_id": row.connection_id, "broker": row.broker.value,
                        "label": row.label, "source": row.source.value,
                        **row.value.model_dump(mode="json")} for row in result.items],
            "errors": errors_json(result.errors)}, indent=2))
        return
    console = wide_console()
    console.print(sourced_orders_table(result.items))
    for failure in failures_lines(result.errors):
        console.print(f"[red]not answered:[/red] {failure}")


# --- brokerlink order place / cancel ----------------------------------------------------


async def submit(order: OrderRequest, *, connection_id: str | None,
                 idempotency_key: str | None, read_timeout: float,
                 when_closed: ClosedMarketPolicy | None = None) -> Placement:
    manager = await open_manager(actor=actor(), read_timeout=read_timeout)
    async with manager:
        return await manager.place_order(order, connection_id=connection_id,
                                         idempotency_key=idempotency_key,
                                         when_closed=when_closed)


def placement_json(placement: Placement) -> dict[str, Any]:
    """Where the order went and the broker's answer (or the queue entry), as JSON."""
    data: dict[str, Any] = {
        "connection_id": placement.connection_id, "broker": placement.broker.value,
        "account_id": placement.account_id,
        "best_execution": placement.plan.as_dict() if placement.plan else None}
    result, queued = placement.result, placement.queued
    if result is not None:
        data.update({"order_id": result.order_id, "client_order_id": result.client_order_id,
                     "status": result.status.value,
                     "filled_quantity": str(result.filled_quantity),
                     "filled_price": decimal_text(result.filled_price),
                     "message": result.message})
    if queued is not None:
        data["queued"] = {"id": queued.id, "status": queued.status.value,
                          "release_at": queued.release_at.isoformat(),
                          "expires_at": queued.expires_at.isoformat()}
    return data


def _placed_line(placement: Placement) -> str:
    where = (f"[bold]{placement.connection_id}[/bold] ({placement.broker.value}, account "
             f"{placement.account_id})")
    queued, result = placement.queued, placement.result
    if queued is not None:
        return (f"queued for {where} until the open at {queued.release_at:%Y-%m-%d %H:%M} "
                f"UTC (queue id {queued.id})")
    assert result is not None  # noqa: S101  (a Placement holds a result or a queue entry)
    return (f"placed at {where}: order {result.order_id} {result.status.value}"
            + (f" ({result.message})" if result.message else ""))


def place(
    symbol: Annotated[str, typer.Argument(help="Ticker, or an OCC option symbol.")],
    side: Annotated[Side, typer.Argument(help="buy, sell, sell_short, ...")],
    quantity: Annotated[str, typer.Argument(help="Shares or contracts (decimal).")],
    order_type: Annotated[Kind, typer.Option("--type", help="Order type.")] = Kind.MARKET,
    limit: Annotated[str | None, typer.Option("--limit", help="Limit price.")] = None,
    stop: Annotated[str | None, typer.Option("--stop", help="Stop price.")] = None,
    tif: Annotated[Tif, typer.Option("--tif", help="Time in force.")] = Tif.DAY,
    broker: Annotated[str, typer.Option(
        "--broker", help="auto (best execution) or a connection id.")] = AUTO,
    idempotency_key: Annotated[str | None, typer.Option(
        "--idempotency-key", help="Retrying with the same key never sends twice.")] = None,
    when_closed: Annotated[ClosedMarketPolicy | None, typer.Option(
        "--when-closed", help="reject, extended or queue while the NYSE regular session is "
        "closed (default: send it and let the broker decide).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON (decimals as strings).")
                           ] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds each connection gets for routing reads.")
                       ] = DEFAULT_READ_TIMEOUT,
) -> None:
    """Place an order through the journal; with --broker auto, print why it went where."""
    try:
        order = OrderRequest(symbol=symbol, side=OrderSide(side.value),
                             quantity=_decimal(quantity, "quantity"),
                             order_type=OrderType(order_type.value),
                             limit_price=_decimal(limit, "--limit"),
                             stop_price=_decimal(stop, "--stop"),
                             time_in_force=TimeInForce(tif.value))
        placement = asyncio.run(submit(
            order, connection_id=None if broker == AUTO else broker,
            idempotency_key=idempotency_key, read_timeout=timeout, when_closed=when_closed))
    except NoEligibleBrokerError as exc:
        if json_output:
            typer.echo(json.dumps({"error": "NoEligibleBrokerError",
                                   "best_execution": exc.plan.as_dict()}, indent=2))
        else:
            wide_console().print(execution_plan_table(exc.plan))
        raise refuse(f"not placed: {exc.message}") from exc
    except BrokerError as exc:
        raise refuse(f"not placed: {type(exc).__name__}: {exc}") from exc
    if json_output:
        typer.echo(json.dumps(placement_json(placement), indent=2))
        return
    console = wide_console()
    if placement.plan is not None:
        console.print(execution_plan_table(placement.plan))
    console.print(_placed_line(placement))


async def _cancel(connection_id: str, order_id: str) -> bool:
    manager = await open_manager(actor=actor())
    async with manager:
        return await manager.cancel_order(connection_id, order_id)


def cancel(
    connection_id: Annotated[str, typer.Argument(help="From `brokerlink orders`.")],
    order_id: Annotated[str, typer.Argument(help="The broker's order id.")],
) -> None:
    """Ask the connection's broker to cancel an order."""
    try:
        accepted = asyncio.run(_cancel(connection_id, order_id))
    except BrokerError as exc:
        raise refuse(f"not canceled: {type(exc).__name__}: {exc}") from exc
    if not accepted:
        typer.secho(f"{connection_id} did not accept the cancel of {order_id}", fg="red",
                    err=True)
        raise typer.Exit(1)
    typer.echo(f"cancel requested: {order_id} at {connection_id}")


def order_app() -> typer.Typer:
    """The ``order`` command group (``place``, ``cancel``), for ``app.add_typer``."""
    group = typer.Typer(help="Place and cancel orders (through the order journal).",
                        no_args_is_help=True)
    group.command("place")(place)
    group.command("cancel")(cancel)
    return group

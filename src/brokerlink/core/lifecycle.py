"""The order status state machine, shared by the simulation engine and the journal.

A status may move only along the edges below; terminal statuses never move. The
same status again is a no-op observation, not a transition, and is always legal.
``UNKNOWN`` (a status we could not read) may resolve to anything.
"""

from __future__ import annotations

from brokerlink.core.enums import OrderStatus
from brokerlink.core.errors import BrokerError

S = OrderStatus

_OPEN_EXITS = frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED,
                         S.PENDING_REPLACE, S.REPLACED, S.EXPIRED, S.UNKNOWN})

LEGAL_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_NEW: frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELED,
                              S.PENDING_CANCEL, S.EXPIRED, S.UNKNOWN}),
    S.NEW: _OPEN_EXITS | {S.REJECTED},
    S.PARTIALLY_FILLED: _OPEN_EXITS,
    # A cancel or replace request can be refused (the order filled first, or the broker
    # said no), so the order returns to its working state.
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.NEW, S.EXPIRED,
                                 S.UNKNOWN}),
    S.PENDING_REPLACE: frozenset({S.REPLACED, S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED,
                                  S.PENDING_CANCEL, S.EXPIRED, S.UNKNOWN}),
    S.UNKNOWN: frozenset(OrderStatus) - {S.UNKNOWN},
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REPLACED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


class IllegalTransitionError(BrokerError):
    """A status change the state machine forbids: a bug, or a broker contradicting itself."""


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether an order in ``current`` may move to ``new``."""
    return current is new or new in LEGAL_TRANSITIONS[current]


def ensure_transition(current: OrderStatus, new: OrderStatus) -> OrderStatus:
    """Return ``new`` if the move is legal; raise ``IllegalTransitionError`` if not."""
    if current is not new and new not in LEGAL_TRANSITIONS[current]:  # can_transition
        raise IllegalTransitionError(
            f"order status cannot move from {current.value} to {new.value}")
    return new

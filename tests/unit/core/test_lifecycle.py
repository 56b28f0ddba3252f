from __future__ import annotations

import pytest

from brokerlink.core.enums import TERMINAL_STATUSES, OrderStatus
from brokerlink.core.lifecycle import (
    LEGAL_TRANSITIONS,
    IllegalTransitionError,
    can_transition,
    ensure_transition,
)

S = OrderStatus


def test_every_status_has_a_row() -> None:
    assert set(LEGAL_TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_never_move(terminal: OrderStatus) -> None:
    for other in OrderStatus:
        assert can_transition(terminal, other) is (other is terminal)


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.PENDING_NEW, S.NEW), (S.NEW, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED),
     (S.NEW, S.PENDING_CANCEL), (S.PENDING_CANCEL, S.CANCELED), (S.PENDING_CANCEL, S.FILLED),
     (S.NEW, S.REPLACED), (S.UNKNOWN, S.FILLED), (S.NEW, S.EXPIRED),
     (S.PENDING_NEW, S.REJECTED)],
)
def test_legal_moves(current: OrderStatus, new: OrderStatus) -> None:
    assert ensure_transition(current, new) is new


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.FILLED, S.CANCELED), (S.CANCELED, S.NEW), (S.PARTIALLY_FILLED, S.REJECTED),
     (S.NEW, S.PENDING_NEW), (S.EXPIRED, S.FILLED)],
)
def test_illegal_moves_raise(current: OrderStatus, new: OrderStatus) -> None:
    with pytest.raises(IllegalTransitionError, match=f"from {current.value} to {new.value}"):
        ensure_transition(current, new)


def test_same_status_is_a_noop() -> None:
    for status in OrderStatus:
        assert can_transition(status, status)

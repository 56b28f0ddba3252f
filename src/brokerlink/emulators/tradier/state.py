"""What the Tradier emulator remembers beyond the engine: integer order ids, the fields
Tradier orders carry that the engine has no notion of (``tag``, ``duration``, ``class``,
multileg grouping), stream sessions and which accounts present as ``pdt``.

The engine identifies orders by UUID; Tradier by integers, so this is a bijection.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

FIRST_ORDER_ID = 228175
"""Ids start where the documentation's examples do, so payloads look familiar."""

SESSION_TTL = timedelta(minutes=5)
"""A stream session id is valid for 5 minutes until connected (REFERENCE.md section 7)."""


@dataclass(slots=True)
class OrderMeta:
    """Tradier-only facts about one order (a multileg parent has no engine order)."""

    order_class: str
    duration: str
    tag: str | None = None
    option_symbol: str | None = None
    engine_id: str | None = None
    engine_cid: str | None = None
    legs: list[int] = field(default_factory=list)
    parent: int | None = None
    strategy: str | None = None
    net_type: str | None = None
    net_price: Decimal | None = None
    symbol: str | None = None
    created_at: datetime | None = None
    account_id: str = ""


@dataclass(slots=True)
class StreamSession:
    account_id: str
    created_at: datetime
    used: bool = False


class TradierState:
    """Per-app emulator memory; all methods are synchronous and cheap."""

    def __init__(self) -> None:
        self._next_id = FIRST_ORDER_ID
        self._by_engine: dict[str, int] = {}
        self._by_cid: dict[str, int] = {}
        self.meta: dict[int, OrderMeta] = {}
        self.sessions: dict[str, StreamSession] = {}
        self.pdt_accounts: set[str] = set()
        self._position_ids: dict[tuple[str, str], int] = {}

    def new_id(self) -> int:
        order_id = self._next_id
        self._next_id += 1
        return order_id

    def register(self, meta: OrderMeta) -> int:
        """Give ``meta`` the next integer id *before* the engine sees the order: the
        engine emits stream events while it places, and they must carry this id (found
        through the engine client order id the emulator chose)."""
        order_id = self.new_id()
        self.meta[order_id] = meta
        if meta.engine_cid is not None:
            self._by_cid[meta.engine_cid] = order_id
        return order_id

    def bind(self, order_id: int, engine_id: str) -> None:
        self.meta[order_id].engine_id = engine_id
        self._by_engine[engine_id] = order_id

    def discard(self, order_id: int) -> None:
        """Forget an id whose order the engine refused (it leaves no trace)."""
        meta = self.meta.pop(order_id, None)
        if meta is not None and meta.engine_cid is not None:
            self._by_cid.pop(meta.engine_cid, None)

    def id_for_engine(self, engine_id: str) -> int | None:
        return self._by_engine.get(engine_id)

    def id_for_cid(self, engine_cid: str | None) -> int | None:
        return None if engine_cid is None else self._by_cid.get(engine_cid)

    def orders_of(self, account_id: str) -> list[int]:
        """Top-level order ids of an account (multileg legs are shown inside their parent),
        oldest first as in Tradier's examples."""
        return [oid for oid, meta in self.meta.items()
                if meta.account_id == account_id and meta.parent is None]

    def position_id(self, account_id: str, symbol: str) -> int:
        key = (account_id, symbol)
        if key not in self._position_ids:
            self._position_ids[key] = 130089 + len(self._position_ids)
        return self._position_ids[key]

    def open_session(self, account_id: str, now: datetime) -> str:
        session_id = secrets.token_hex(16)
        self.sessions[session_id] = StreamSession(account_id, now)
        return session_id

    def claim_session(self, session_id: str, now: datetime) -> StreamSession | None:
        """The session for ``session_id`` if it exists and has not expired unused."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        if not session.used and now - session.created_at > SESSION_TTL:
            del self.sessions[session_id]
            return None
        session.used = True
        return session

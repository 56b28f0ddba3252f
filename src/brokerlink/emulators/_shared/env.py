"""``EmulatorEnv``: everything one emulator instance runs on.

One engine (the market and the accounts), the credential directory, the fault injector,
the stream hub and the rate window, plus options. Build it with ``EmulatorEnv.create``
and the broker's type (an emulator package's ``EMULATOR.broker_type``)::

    env = EmulatorEnv.create(EMULATOR.broker_type, seed=7)

Emulator engines queue orders placed while the market is closed
(``ClosedMarketPolicy.QUEUE``), like real brokers, and their virtual clock starts at
10:00 New York time on a trading day (today if today trades, else the next trading
day), so the market is open on first use. Time is frozen unless moved through the admin
API (tests) or ``follow_wall_clock=True`` (the CLI): then each request first advances the
engine to ``anchor + wall time elapsed``, so prices move for a person watching.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Literal

from brokerlink.core.enums import BrokerType
from brokerlink.emulators._shared.credentials import CredentialDirectory
from brokerlink.emulators._shared.faults import FaultInjector
from brokerlink.emulators._shared.ratelimit import RateWindow
from brokerlink.emulators._shared.streams import StreamHub
from brokerlink.sim.calendar import (
    NEW_YORK,
    AlwaysOpenCalendar,
    ExchangeCalendar,
    MarketCalendar,
)
from brokerlink.sim.engine import SimEngine
from brokerlink.sim.rules import ClosedMarketPolicy, FeeSchedule

Market = Literal["exchange", "always_open"]

SESSION_START_TIME = dtime(10, 0)


def default_start(calendar: MarketCalendar, wall: datetime | None = None) -> datetime:
    """10:00 New York on today's session if today trades, else on the next session.

    ``wall`` defaults to the current UTC time (the one wall-clock read). An always-open
    calendar starts at ``wall`` itself."""
    now = wall or datetime.now(UTC)
    if calendar.always_open:
        return now.replace(microsecond=0)
    today = now.astimezone(NEW_YORK).date()
    if not calendar.is_trading_day(today):
        today = calendar.next_open(now).astimezone(NEW_YORK).date()
    return datetime.combine(today, SESSION_START_TIME, tzinfo=NEW_YORK).astimezone(UTC)


@dataclass
class EmulatorEnv:
    """The state behind one emulator app (reachable as ``app.state.env``)."""

    engine: SimEngine
    broker: BrokerType
    faults: FaultInjector
    accounts: CredentialDirectory
    streams: StreamHub
    strict: bool = False
    follow_wall_clock: bool = False
    rates: RateWindow = field(default_factory=RateWindow)
    """The broker's rate limit; ``create_emulator_app`` installs its policy."""
    _anchor_sim: datetime = field(init=False)
    _anchor_wall: float = field(init=False)

    def __post_init__(self) -> None:
        self._reanchor()

    @classmethod
    def create(
        cls,
        broker: BrokerType,
        *,
        seed: int = 7,
        strict: bool = False,
        start: datetime | None = None,
        market: Market = "exchange",
        follow_wall_clock: bool = False,
        fees: FeeSchedule | None = None,
    ) -> EmulatorEnv:
        """A fresh environment: a seeded engine queueing orders while closed, a lenient
        (or ``strict``) credential directory, an empty fault injector and a stream hub.
        ``start`` (aware) pins the clock; by default see ``default_start``. ``fees`` is the
        broker's commission schedule (default: the engine's). Raises
        ``ValueError`` for a naive ``start``."""
        if start is None:
            # The schedule is cached per process, so this calendar costs a dict look-up.
            calendar = AlwaysOpenCalendar() if market == "always_open" else ExchangeCalendar()
            start = default_start(calendar)
        engine = SimEngine(seed=seed, market=market, closed_market=ClosedMarketPolicy.QUEUE,
                           start=start, fees=fees)
        faults = FaultInjector(seed=seed)
        return cls(engine=engine, broker=broker, faults=faults,
                   accounts=CredentialDirectory(engine, strict=strict),
                   streams=StreamHub(engine, faults), strict=strict,
                   follow_wall_clock=follow_wall_clock)

    # --- the clock --------------------------------------------------------------------

    def _reanchor(self) -> None:
        self._anchor_sim = self.engine.now()
        self._anchor_wall = time.monotonic()

    def sync_clock(self) -> None:
        """With ``follow_wall_clock``, bring the engine up to ``anchor + wall elapsed``
        (a no-op otherwise). The emulator app calls it before every request."""
        if not self.follow_wall_clock:
            return
        target = self._anchor_sim + timedelta(seconds=time.monotonic() - self._anchor_wall)
        if target > self.engine.now():
            self.engine.advance_to(target)

    def advance(self, delta: timedelta) -> None:
        """Move the market forward by ``delta`` (prices walk, orders trade). Raises
        ``ValueError`` for a negative delta."""
        self.sync_clock()
        self.engine.advance(delta)
        self._reanchor()

    def set_clock(self, at: datetime) -> None:
        """Move the market forward to ``at``. Raises ``ValueError`` for a naive ``at`` or
        one in the past."""
        self.sync_clock()
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if at < self.engine.now():
            raise ValueError(f"cannot move the clock back from {self.engine.now().isoformat()}")
        self.engine.advance_to(at)
        self._reanchor()

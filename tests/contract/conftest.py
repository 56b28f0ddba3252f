"""Parameterises the contract suite over every ``BrokerInterface`` implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from brokerlink.sim.engine import SimEngine, utc
from tests.contract.harness import Harness
from tests.contract.paper_harness import EngineMarket, paper_broker

# Monday 23 November 2026, 10:00 in New York: a regular session with hours to run.
SESSION_START = utc(2026, 11, 23, 15, 0)

IMPLEMENTATIONS = ["paper"]


@pytest.fixture(params=IMPLEMENTATIONS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    name: str = request.param
    if name == "paper":
        engine = SimEngine(seed=11, start=SESSION_START)
        broker = paper_broker(engine)
        async with broker:
            yield Harness(name, broker, EngineMarket(engine))
        return
    raise AssertionError(f"no harness for {name}")

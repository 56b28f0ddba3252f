"""Parameterises the contract suite over every ``BrokerInterface`` implementation.

Each ``harness_<name>.py`` beside this file is one implementation; adding an adapter
to the suite means adding its harness module, nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol, cast

import pytest

from tests.contract.harness import Harness

IMPLEMENTATIONS = sorted(p.stem.removeprefix("harness_")
                         for p in Path(__file__).parent.glob("harness_*.py"))


class HarnessModule(Protocol):
    def open_harness(self) -> AbstractAsyncContextManager[Harness]: ...


@pytest.fixture(params=IMPLEMENTATIONS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    module = cast(HarnessModule,
                  importlib.import_module(f"tests.contract.harness_{request.param}"))
    async with module.open_harness() as opened:
        yield opened

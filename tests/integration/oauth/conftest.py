"""Fixtures for the OAuth integration tests: databases on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .support import DatabaseTarget, postgres_reachable, postgres_target, sqlite_target


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db_target(request: pytest.FixtureRequest, tmp_path: Path
                    ) -> AsyncIterator[DatabaseTarget]:
    """A fresh, empty brokerlink database: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        with sqlite_target(tmp_path) as target:
            yield target
        return
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    async with postgres_target() as target:
        yield target

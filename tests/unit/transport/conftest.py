"""Shared fixtures: real uvicorn servers on 127.0.0.1 ephemeral ports, and test doubles.

Servers run inside the tests' event loop. Stopping uvicorn costs about 0.2 s (its main
loop ticks every 0.1 s and shutdown sleeps 0.1 s), so one scripted server is shared per
module and reset before each test: test modules using these fixtures declare
``pytestmark = pytest.mark.asyncio(loop_scope="module")`` so tests and servers share a loop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
import uvicorn

from .support import RawServer, RecordingSleep, ScriptedApp

ServeApp = Callable[[Any], Awaitable[str]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def serve() -> AsyncIterator[ServeApp]:
    """Start an ASGI app under uvicorn on a free loopback port; returns its base URL."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Any) -> str:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        running.append((server, task))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.001)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, task in running:
        await task


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served_app(serve: ServeApp) -> tuple[ScriptedApp, str]:
    """One scripted app per module, served for real."""
    app = ScriptedApp()
    return app, await serve(app)


@pytest.fixture
def app(served_app: tuple[ScriptedApp, str]) -> ScriptedApp:
    """The module's scripted app with no scripts and no recorded requests."""
    scripted, _ = served_app
    scripted.reset()
    return scripted


@pytest.fixture
def base_url(app: ScriptedApp, served_app: tuple[ScriptedApp, str]) -> str:
    """Where ``app`` is served (depends on ``app`` so it is reset first)."""
    return served_app[1]


@pytest_asyncio.fixture(loop_scope="module")
async def raw_server_factory() -> AsyncIterator[Callable[[str], Awaitable[tuple[RawServer, str]]]]:
    servers: list[RawServer] = []

    async def start(mode: str) -> tuple[RawServer, str]:
        assert mode in ("drop", "hang")
        server = RawServer("drop" if mode == "drop" else "hang")
        servers.append(server)
        return server, await server.start()

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)

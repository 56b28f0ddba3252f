"""Shared pieces of the OAuth integration tests: the emulator app, a tiny "browser",
databases with a vault (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

import base64
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from brokerlink import bootstrap
from brokerlink.auth.keys import MASTER_KEY_ENV, EnvKeyProvider
from brokerlink.auth.vault import Vault
from brokerlink.core.enums import BrokerType
from brokerlink.core.values import utc_now
from brokerlink.emulators._shared.app import create_emulator_app
from brokerlink.emulators._shared.credentials import EmulatorAuthError
from brokerlink.emulators._shared.env import EmulatorEnv
from brokerlink.emulators._shared.oauth_server import (
    OAuthRouter,
    OAuthServerClient,
    OAuthServerConfig,
    oauth_router,
)
from brokerlink.emulators._shared.server import EmulatorServer
from brokerlink.storage.connections import ConnectionRepository
from brokerlink.storage.engine import Database, open_database
from brokerlink.storage.records import ConnectionRecord, ConnectionStatus

CLIENT_ID = "brokerlink-test-app"
CLIENT_SECRET = "app-secret-4f9c2b7e"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"  # any port matches (RFC 8252 7.3)
TEST_CLIENT = OAuthServerClient(CLIENT_ID, CLIENT_SECRET, (LOOPBACK_REDIRECT,))
PG_URL = os.environ.get(
    "BROKERLINK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


class SettableClock:
    """A client-side clock: follows the emulator's engine clock plus an offset."""

    def __init__(self, env: EmulatorEnv) -> None:
        self._env = env
        self.offset = 0.0

    def __call__(self) -> datetime:
        return self._env.engine.now() + timedelta(seconds=self.offset)


def whoami_router(env: EmulatorEnv) -> APIRouter:
    """A protected route standing in for the broker API: 200 with the account or 401."""
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(authorization: str = Header(default="")) -> JSONResponse:
        try:
            account = env.accounts.account_for_bearer(authorization.removeprefix("Bearer "))
        except EmulatorAuthError as exc:
            return JSONResponse({"message": exc.reason}, status_code=401)
        return JSONResponse({"account_id": account})

    return router


def build_app(config: OAuthServerConfig, *, broker: BrokerType = BrokerType.SCHWAB
              ) -> tuple[FastAPI, EmulatorEnv, OAuthRouter]:
    env = EmulatorEnv.create(broker, strict=True)
    router = oauth_router(env, config)
    app = create_emulator_app(env, router, whoami_router(env), title="OAuth test emulator")
    return app, env, router


@asynccontextmanager
async def serve(config: OAuthServerConfig, *, broker: BrokerType = BrokerType.SCHWAB
                ) -> AsyncIterator[tuple[EmulatorServer, EmulatorEnv, OAuthRouter]]:
    app, env, router = build_app(config, broker=broker)
    async with EmulatorServer(app) as server:
        yield server, env, router


async def browse(authorize_url: str) -> httpx.Response:
    """What a browser does with auto-consent: follow the authorize redirect once."""
    async with httpx.AsyncClient() as http:
        first = await http.get(authorize_url)
        assert first.status_code == 302, first.text
        return await http.get(first.headers["location"])


async def whoami(base_url: str, token: SecretStr | str) -> int:
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base_url}/whoami",
                                  headers={"Authorization": f"Bearer {value}"})
    return response.status_code


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def load_vault(database: Database, master_key: str) -> Vault:
    provider = EnvKeyProvider({MASTER_KEY_ENV: master_key}.get)
    return await bootstrap.load_vault(database, provider)


async def add_connection(database: Database, connection_id: str, broker: str = "schwab") -> None:
    now = utc_now()
    await ConnectionRepository(database).add(ConnectionRecord(
        id=connection_id, broker=broker, label="test", status=ConnectionStatus.CONNECTED,
        created_at=now, updated_at=now))


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a test database lives; ``url``/``schema`` reopen it from another process."""

    kind: str
    url: str
    schema: str | None = None

    async def open(self) -> Database:
        return await open_database(self.url, schema=self.schema)


@contextmanager
def sqlite_target(directory: Path) -> Iterator[DatabaseTarget]:
    yield DatabaseTarget("sqlite", f"sqlite+aiosqlite:///{directory / 'brokerlink.db'}")


@asynccontextmanager
async def postgres_target() -> AsyncIterator[DatabaseTarget]:
    schema = f"oauth_test_{secrets.token_hex(6)}"
    engine = create_async_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield DatabaseTarget("postgresql", PG_URL, schema)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()

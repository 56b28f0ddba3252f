"""File modes, SQLite pragmas and home-directory resolution."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs
import pytest
from sqlalchemy import text

from brokerlink import paths
from brokerlink.storage.engine import StorageError, open_database, resolve_database_url


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_comes_from_env_and_is_private(brokerlink_home: Path) -> None:
    assert paths.brokerlink_home() == brokerlink_home
    assert _mode(brokerlink_home) == 0o700


def test_home_defaults_to_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BROKERLINK_HOME", raising=False)
    target = tmp_path / "data" / "brokerlink"
    monkeypatch.setattr(platformdirs, "user_data_path",
                        lambda *args, **kwargs: target)
    assert paths.brokerlink_home() == target
    assert _mode(target) == 0o700


def test_existing_home_is_tightened(brokerlink_home: Path) -> None:
    brokerlink_home.mkdir(parents=True)
    os.chmod(brokerlink_home, 0o755)  # noqa: S103 - the permissive mode under test
    paths.brokerlink_home()
    assert _mode(brokerlink_home) == 0o700


async def test_default_sqlite_file_and_companions_are_0600(brokerlink_home: Path) -> None:
    database = await open_database()
    try:
        assert database.sqlite_path == brokerlink_home / "brokerlink.db"
        async with database.transaction() as conn:
            await conn.execute(text("INSERT INTO settings (key, value, updated_at) "
                                    "VALUES ('a', 'b', CURRENT_TIMESTAMP)"))
        db_file = brokerlink_home / "brokerlink.db"
        companions = [Path(f"{db_file}{suffix}") for suffix in ("-wal", "-shm")]
        assert any(p.exists() for p in companions), "WAL mode should create a -wal file"
        for path in [db_file, *companions]:
            if path.exists():
                assert _mode(path) == 0o600, path
        assert _mode(brokerlink_home) == 0o700
    finally:
        await database.aclose()


async def test_sqlite_pragmas_on_every_connection(brokerlink_home: Path) -> None:
    database = await open_database()
    try:
        async with database.transaction() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            synchronous = (await conn.execute(text("PRAGMA synchronous"))).scalar()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
    finally:
        await database.aclose()
    assert journal == "wal"
    assert synchronous == 2  # FULL
    assert foreign_keys == 1
    assert busy is not None
    assert int(busy) >= 1000


def test_database_url_resolution(monkeypatch: pytest.MonkeyPatch, brokerlink_home: Path) -> None:
    assert resolve_database_url().drivername == "sqlite+aiosqlite"
    monkeypatch.setenv("BROKERLINK_DATABASE_URL", "postgresql://u:pw@db.example:5432/x")
    assert resolve_database_url().drivername == "postgresql+asyncpg"
    monkeypatch.setenv("BROKERLINK_DATABASE_URL", "mysql://u:hunter2@h/x")
    with pytest.raises(StorageError) as caught:
        resolve_database_url()
    assert "hunter2" not in str(caught.value)


async def test_unreachable_database_is_a_storage_error(brokerlink_home: Path) -> None:
    with pytest.raises(StorageError, match="could not open") as caught:
        await open_database("postgresql+asyncpg://nobody:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(caught.value)

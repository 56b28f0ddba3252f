"""Canary: a planted secret must not appear in storage in any common encoding."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import open_audit_log
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database
from brokerlink.storage.tables import metadata
from tests.canary import hits
from tests.dbfixtures import DbTarget

CANARY = "CANARY-7f3e9c1a/b+d=q&z~key"


async def _plant(database: Database, vault: Vault) -> None:
    secret = SecretStr(CANARY)
    await vault.put_secrets("c1", {"access_token": secret, "refresh_token": secret})
    await vault.put_pending_state(state=secret, broker="schwab", redirect_uri="http://x/cb",
                                  code_verifier=secret,
                                  expires_at=utc_now() + timedelta(minutes=5))
    log = await open_audit_log(database, vault)
    await log.append("connection.connect", actor="cli:test", outcome="ok", connection_id="c1",
                     broker="schwab", detail={
                         "access_token": CANARY, "nested": {"Authorization": f"Bearer {CANARY}"},
                         "headers": [{"api_key": CANARY}], "password": secret,
                         "note": secret})
    await log.append("connection.refresh", actor="service", outcome="ok", connection_id="c1",
                     detail={"refresh_token": CANARY, "client_secret": CANARY})


def _hits(blob: bytes) -> list[str]:
    return hits(blob, [CANARY])


async def _dump_rows(database: Database) -> bytes:
    parts: list[bytes] = []
    async with database.transaction() as conn:
        for table in metadata.sorted_tables:
            for record in (await conn.execute(select(table))).all():
                for value in record:
                    parts.append(bytes(value) if isinstance(value, bytes | memoryview)
                                 else str(value).encode())
    return b"\x1e".join(parts)


async def test_canary_never_stored(database: Database, vault: Vault,
                                   db_target: DbTarget) -> None:
    assert _hits(CANARY.encode()) == ["CANARY…:raw"]  # the scanner itself works
    await _plant(database, vault)
    assert _hits(await _dump_rows(database)) == []
    if database.sqlite_path is None:
        return
    files = [Path(f"{database.sqlite_path}{suffix}") for suffix in ("", "-wal")]
    assert files[1].exists(), "expected a -wal file while the database is open"
    for path in files:
        assert _hits(path.read_bytes()) == [], path
    await database.aclose()
    for path in files:
        if path.exists():
            assert _hits(path.read_bytes()) == [], path

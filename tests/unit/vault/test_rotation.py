"""Key rotation: complete, resumable after a real SIGKILL, every secret openable throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

import brokerlink.storage
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.auth.vault import ROTATE_DELAY_TEST_HOOK_ENV, Vault
from brokerlink.bootstrap import load_vault
from brokerlink.core.values import utc_now
from brokerlink.storage.credentials import CredentialRepository
from brokerlink.storage.engine import Database
from brokerlink.storage.records import CredentialRecord, KekState, SealedSecret
from brokerlink.storage.tables import credentials
from tests.dbfixtures import DbTarget

# The child must import this checkout's brokerlink even when it is not installed.
SRC_DIR = Path(brokerlink.storage.__file__).resolve().parents[2]
SECRETS = 300
KILL_AFTER = 40

_ROTATE_SCRIPT = """
import asyncio
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.bootstrap import load_vault
from brokerlink.storage import open_database

async def main():
    database = await open_database()
    vault = await load_vault(database, FileKeyProvider())
    await vault.rotate(on_progress=lambda done, total: print(done, total, flush=True))
    await database.aclose()

asyncio.run(main())
"""


def _value(index: int) -> str:
    return f"secret-value-{index:04d}"


async def _seed(vault: Vault, database: Database) -> None:
    now = utc_now()
    records = [CredentialRecord(f"conn-{i:04d}", "access_token",
                                vault.seal(f"conn-{i:04d}", "access_token", SecretStr(_value(i))),
                                created_at=now) for i in range(SECRETS)]
    await CredentialRepository(database).put_many(records)


async def _kek_counts(database: Database) -> dict[str, int]:
    async with database.transaction() as conn:
        rows = (await conn.execute(select(credentials.c.kek_id, func.count())
                                   .group_by(credentials.c.kek_id))).all()
    return {str(kek): int(count) for kek, count in rows}


async def _assert_all_open(database: Database) -> None:
    reader = await load_vault(database, FileKeyProvider())
    async with database.transaction() as conn:
        rows = (await conn.execute(select(credentials))).mappings().all()
    assert len(rows) == SECRETS
    for row in rows:
        sealed = SealedSecret(ciphertext=row["ciphertext"], nonce=row["nonce"],
                              wrapped_key=row["wrapped_key"], kek_id=row["kek_id"],
                              kek_version=row["kek_version"])
        index = int(row["connection_id"].split("-")[1])
        opened = reader.open(sealed, row["connection_id"], "access_token")
        assert opened.get_secret_value() == _value(index)


async def test_rotation_rewraps_everything_and_destroys_the_old_key(
        vault: Vault, database: Database, brokerlink_home: Path) -> None:
    await vault.put_secrets("c1", {"api_key": SecretStr("k"), "api_secret": SecretStr("s")})
    old = vault.active_kek
    report = await vault.rotate()
    assert not report.resumed
    assert report.from_kek_ids == (old.kek_id,)
    assert report.rewrapped == 2
    assert await _kek_counts(database) == {report.to_kek_id: 2}
    states = {k.kek_id: k for k in (await vault.status()).keks}
    assert states[old.kek_id].state is KekState.RETIRED
    assert states[old.kek_id].destroyed_at is not None
    assert not (brokerlink_home / "keys" / "master.key").exists()
    value = await vault.get_secret("c1", "api_secret")
    assert value is not None
    assert value.get_secret_value() == "s"


async def test_rotation_resumes_after_sigkill(vault: Vault, database: Database,
                                              db_target: DbTarget) -> None:
    await _seed(vault, database)
    old_kek = vault.active_kek.kek_id
    env = {**os.environ, **db_target.env, "BROKERLINK_KEK_PROVIDER": "file",
           ROTATE_DELAY_TEST_HOOK_ENV: "0.01",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR),
                                                       os.environ.get("PYTHONPATH")]))}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ROTATE_SCRIPT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    done = 0
    async with asyncio.timeout(60):
        while done < KILL_AFTER:
            line = await child.stdout.readline()
            assert line, (await child.stderr.read()).decode() if child.stderr else "no output"
            done = int(line.split()[0])
        child.send_signal(signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL

    # Midway: some rows moved, some not, and every secret still opens.
    midway = await _kek_counts(database)
    assert midway.get(old_kek, 0) > 0
    assert sum(midway.values()) == SECRETS
    new_kek = next(k for k in midway if k != old_kek)
    assert midway[new_kek] >= KILL_AFTER
    await _assert_all_open(database)

    await vault.reload()
    assert vault.active_kek.kek_id == new_kek
    report = await vault.rotate()
    assert report.resumed
    assert report.to_kek_id == new_kek  # finished the interrupted rotation, no third key
    assert report.rewrapped == midway[old_kek]
    assert await _kek_counts(database) == {new_kek: SECRETS}
    await _assert_all_open(database)
    old = next(k for k in (await vault.status()).keks if k.kek_id == old_kek)
    assert old.state is KekState.RETIRED
    assert old.destroyed_at is not None

"""Two real processes appending at once cannot fork the chain."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import brokerlink.audit
from brokerlink.auth.vault import Vault
from brokerlink.bootstrap import open_audit_log
from brokerlink.storage.engine import Database
from tests.dbfixtures import DbTarget

SRC_DIR = Path(brokerlink.audit.__file__).resolve().parents[2]
PER_PROCESS = 15

_APPEND_SCRIPT = """
import asyncio, sys
from brokerlink.auth.keys import FileKeyProvider
from brokerlink.bootstrap import load_vault, open_audit_log
from brokerlink.storage import open_database

async def main(name, count):
    database = await open_database()
    log = await open_audit_log(database, await load_vault(database, FileKeyProvider()))
    for index in range(count):
        await log.append("connection.refresh", actor=name, outcome="ok",
                         detail={"n": index})
    await database.aclose()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_processes_append_one_chain(db_target: DbTarget, database: Database,
                                              vault: Vault) -> None:
    log = await open_audit_log(database, vault)  # creates the audit key before the race
    env = {**os.environ, **db_target.env, "BROKERLINK_KEK_PROVIDER": "file",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR),
                                                       os.environ.get("PYTHONPATH")]))}
    children = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", _APPEND_SCRIPT, f"proc-{n}", str(PER_PROCESS), env=env,
        stderr=asyncio.subprocess.PIPE) for n in range(2)]
    async with asyncio.timeout(60):
        for child in children:
            _, stderr = await child.communicate()
            assert child.returncode == 0, stderr.decode()
    report = await log.verify()
    assert report.ok, report.reason
    assert report.events_checked == 2 * PER_PROCESS
    actors = {event.actor for event in await log.recent(2 * PER_PROCESS)}
    assert actors == {"proc-0", "proc-1"}

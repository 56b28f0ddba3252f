"""A key reference read from the database never reaches outside the key directory.

The vault_keys table may be written by someone else (a shared PostgreSQL, a copied SQLite
file): a planted ``provider_ref`` must not make ``vault rotate-key`` read or delete any
other file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from brokerlink.auth.keys import FileKeyProvider, KeyReferenceError
from brokerlink.auth.vault import Vault
from brokerlink.core.errors import BrokerError
from brokerlink.core.values import utc_now
from brokerlink.storage.engine import Database
from brokerlink.storage.tables import vault_keys

PLANTED = ["/etc/passwd", "../victim.txt", "../../victim.txt", "sub/master.key",
           "master.key/../../victim.txt", "victim.txt", ".master.key", "master-../x.key",
           "master-ABC.key\x00", "", "master-" + "0" * 65 + ".key"]


@pytest.mark.parametrize("reference", PLANTED)
def test_a_foreign_reference_is_refused_and_nothing_is_touched(
        reference: str, brokerlink_home: Path, tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "keys")
    (tmp_path / "keys").mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    with pytest.raises(KeyReferenceError, match="refused"):
        provider.destroy("k", reference or "..")
    with pytest.raises(KeyReferenceError):
        list(provider.candidates("k", reference or "..", None))
    assert victim.read_text() == "keep me"


def test_a_link_out_of_the_key_directory_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    victim = tmp_path / "victim.key"
    victim.write_bytes(os.urandom(32))
    (keys / "master-abc.key").symlink_to(victim)
    provider = FileKeyProvider(keys)
    with pytest.raises(KeyReferenceError, match="link"):
        provider.destroy("k", "master-abc.key")
    assert victim.exists()


async def test_rotate_key_with_a_planted_row_deletes_nothing(
        vault: Vault, database: Database, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    async with database.transaction() as conn:
        version = max((await conn.execute(select(vault_keys.c.version))).scalars(),
                      default=0) + 1
        await conn.execute(insert(vault_keys).values(
            kek_id="f" * 32, version=version, provider="file", provider_ref=str(victim),
            salt=None, check_value=b"\x00" * 32, state="retired", created_at=utc_now(),
            retired_at=utc_now(), destroyed_at=None))
    with pytest.raises(BrokerError) as raised:
        await vault.rotate()
    assert isinstance(raised.value, KeyReferenceError)
    assert str(victim) not in str(raised.value) or "refused" in str(raised.value)
    assert victim.read_text() == "keep me"

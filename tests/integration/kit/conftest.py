"""The fake broker's two packages, installed into a temporary site directory.

``fake_site`` copies ``packages/`` (the fake adapter and emulator, outside the
``brokerlink`` tree) into a fresh directory with a ``.dist-info`` that declares the
adapter under the ``brokerlink.brokers`` entry point group, as ``pip install`` would,
and puts it on ``sys.path``. Nothing in ``src/brokerlink`` is edited or patched.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbfixtures import brokerlink_home, database, db_target, vault
from tests.integration.manager.conftest import service

__all__ = ["brokerlink_home", "database", "db_target", "service", "vault"]

PACKAGES = Path(__file__).parent / "packages"
FAKE_MODULES = ("brokerlink_fake", "brokerlink_fake_emulator")


def install(site: Path) -> Path:
    """Copy the fake packages into ``site`` with their distribution metadata."""
    for name in FAKE_MODULES:
        shutil.copytree(PACKAGES / name, site / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    info = site / "brokerlink_fake-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokerlink-fake\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[brokerlink.brokers]\n"
                                           "fake = brokerlink_fake:SPEC\n")
    return site


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The fake packages importable for this test only."""
    site = install(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in list(sys.modules):
        if name.split(".")[0] in FAKE_MODULES:
            del sys.modules[name]

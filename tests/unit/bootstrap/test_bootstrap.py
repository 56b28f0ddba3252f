"""The composition root builds working parts over one database, and is the only wiring."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from pydantic import SecretStr

import brokerlink
from brokerlink import bootstrap
from brokerlink.auth.keys import KekUnavailableError
from brokerlink.manager.connections import ConnectionService
from brokerlink.manager.manager import BrokerManager
from tests.dbfixtures import DbTarget

SRC = Path(brokerlink.__file__).resolve().parent


def _use(db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in db_target.env.items():
        monkeypatch.setenv(name, value)


async def test_components_share_one_database_across_opens(
        db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(db_target, monkeypatch)
    first = await bootstrap.open_components()
    try:
        await first.vault.put_secret("conn-1", "api_key", SecretStr("PK-BOOTSTRAP"))
        await first.audit.append("connection.add", actor="test", outcome="ok",
                                 connection_id="conn-1")
    finally:
        await first.aclose()
    # A second open (another process would do the same) sees what the first stored.
    second = await bootstrap.open_components()
    try:
        secret = await second.vault.get_secret("conn-1", "api_key")
        assert secret is not None
        assert secret.get_secret_value() == "PK-BOOTSTRAP"
        report = await second.audit.verify()
        assert report.ok, report.reason
        assert report.events_checked == 1
        assert [e.action for e in await second.audit.recent()] == ["connection.add"]
    finally:
        await second.aclose()


async def test_manager_and_service_conveniences_delegate_to_bootstrap(
        db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(db_target, monkeypatch)
    manager = await bootstrap.open_manager(actor="test:bootstrap", base_currency="EUR")
    async with manager:
        assert manager.base_currency == "EUR"
        assert manager.connections.actor == "test:bootstrap"
        assert await manager.connections.list() == []
        stored = await manager.connections.vault.system_key("__test__", "k")
    # BrokerManager.open (the README's entry point) wires the same database and vault.
    async with await BrokerManager.open(actor="test:readme") as again:
        assert await again.connections.vault.system_key("__test__", "k") == stored
    async with await ConnectionService.open(actor="test:service") as service:
        assert await service.vault.system_key("__test__", "k") == stored
        assert (await service.audit.verify()).ok


async def test_a_vault_that_cannot_open_fails_the_open(
        db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(db_target, monkeypatch)
    monkeypatch.setenv("BROKERLINK_KEK_PROVIDER", "env")  # and no BROKERLINK_MASTER_KEY
    with pytest.raises(KekUnavailableError):
        await bootstrap.open_components()


async def test_vault_session_asks_for_the_passphrase_through_the_prompt(
        db_target: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(db_target, monkeypatch)
    monkeypatch.setenv("BROKERLINK_KEK_PROVIDER", "passphrase")
    asked: list[str] = []

    def prompt() -> SecretStr:
        asked.append("asked")
        return SecretStr("correct horse battery staple")

    async with bootstrap.vault_session(passphrase_prompt=prompt) as session:
        status = await session.vault.status()
        log = await session.audit_log()
        await log.append("vault.status", actor="test", outcome="ok")
    assert status.active_kek.provider == "passphrase"
    assert asked
    # The same passphrase opens it again; the audit chain it keyed verifies.
    async with bootstrap.vault_session(passphrase_prompt=prompt) as session:
        assert (await (await session.audit_log()).verify()).ok


# --- the wiring lives in bootstrap alone --------------------------------------------------


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (SRC / package).rglob("*.py"))


def test_auth_and_audit_hold_no_sql() -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(m for m in _imports(path)
                                           if m.split(".")[0] == "sqlalchemy"
                                           or m.startswith("brokerlink.storage"))
        for path in _modules("auth", "audit")}
    assert {k: v for k, v in offenders.items() if v} == {}
    # The scan saw the packages.
    assert _modules("auth")
    assert _modules("audit")


FACES = sorted(p.stem for p in (SRC / "cli").glob("*.py") if p.stem != "__init__")
FORBIDDEN = ("brokerlink.storage", "brokerlink.auth", "brokerlink.audit", "brokerlink.emulators",
             "sqlalchemy")
EMULATOR_REGISTRY = "brokerlink.emulators.registry"
RUN_EMULATORS = {"demo", "emulate"}
"""The faces that run emulators: they may import the emulator registry, nothing else there."""


def _face_imports(path: Path) -> set[str]:
    """``_imports``, with ``from package import module`` read as ``package.module`` (so
    ``from brokerlink.emulators import registry`` is the registry, and ``from
    brokerlink.emulators import EmulatorServer`` the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                relative = Path(*module.split(".")[1:])
                is_module = (module.startswith("brokerlink.")
                             and ((SRC / relative).with_suffix(".py").is_file()
                                  or (SRC / relative / "__init__.py").is_file()))
                found.add(module if is_module else node.module)
    return found


def test_every_cli_module_is_scanned() -> None:
    assert {"app", "audit", "connections", "demo", "emulate", "orders", "portfolio", "sync",
            "vault"} <= set(FACES)


@pytest.mark.parametrize("face", FACES)
def test_cli_faces_import_no_storage_auth_audit_or_emulator_internals(face: str) -> None:
    imported = _face_imports(SRC / "cli" / f"{face}.py")
    allowed = {EMULATOR_REGISTRY} if face in RUN_EMULATORS else set()
    assert sorted(m for m in imported if m.startswith(FORBIDDEN) and m not in allowed) == []


def test_the_face_scan_reads_package_imports_as_modules(tmp_path: Path) -> None:
    sample = tmp_path / "face.py"
    sample.write_text("from brokerlink.emulators import registry\n"
                      "from brokerlink.emulators import EmulatorServer\n"
                      "from brokerlink.storage.records import ConnectionRecord\n"
                      "def f():\n    from brokerlink.auth import keys\n", encoding="utf-8")
    assert _face_imports(sample) == {EMULATOR_REGISTRY, "brokerlink.emulators",
                                     "brokerlink.storage.records", "brokerlink.auth.keys"}


# Concrete persistence: a storage class built over a ``Database``, or an auth/audit class
# implementing a store port (named ``...Store``/``...Repository``, not a protocol).


def _concrete_stores() -> set[str]:
    names: set[str] = set()
    for package in ("storage", "auth", "audit"):
        root = importlib.import_module(f"brokerlink.{package}")
        for info in pkgutil.walk_packages(root.__path__, f"brokerlink.{package}."):
            if ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (not inspect.isclass(value) or value.__module__ != module.__name__
                        or issubclass(value, BaseException)
                        or getattr(value, "_is_protocol", False)):
                    continue
                if package == "storage":
                    init = inspect.signature(value.__init__).parameters.values()
                    if any("Database" in str(p.annotation) for p in init):
                        names.add(name)
                elif name.endswith(("Store", "Repository")):
                    names.add(name)
    return names


def test_only_bootstrap_names_concrete_stores_in_the_manager_and_cli() -> None:
    concrete = _concrete_stores()
    # The scan knows what it is looking for.
    assert {"ConnectionRepository", "SqlTokenStore", "SqlVaultStore", "AuditRepository",
            "VaultPendingStateStore", "BrokerStateRepository", "JournalRepository",
            "OrderQueueRepository"} <= concrete
    assert "Database" not in concrete
    assert "ConnectionRecord" not in concrete
    found: dict[str, list[str]] = {}
    for path in _modules("manager", "cli"):
        relative = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                names = {node.id}
            elif isinstance(node, ast.Attribute):
                names = {node.attr}
            elif isinstance(node, ast.ImportFrom):
                names = {alias.name for alias in node.names}
            else:
                continue
            hits = sorted(names & concrete)
            if hits:
                found.setdefault(relative, []).extend(hits)
    assert found == {}
    # The scan read every manager module, the journal, queue and broker-state owners too.
    scanned = {p.relative_to(SRC).as_posix() for p in _modules("manager", "cli")}
    assert {"manager/journal.py", "manager/market_hours.py", "manager/broker_state.py",
            "manager/connectors.py", "manager/manager.py", "cli/app.py"} <= scanned


def test_only_bootstrap_builds_the_vault_and_audit_log() -> None:
    builders = {("Vault", "load"), ("AuditLog", "open")}
    concrete = {"SqlVaultStore", "AuditRepository"}
    found: dict[str, list[str]] = {}
    for path in _modules("."):
        relative = path.relative_to(SRC)
        if relative.parts[0] in ("auth", "audit", "storage"):
            continue  # where they are defined
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr) in builders):
                found.setdefault(str(relative), []).append(f"{node.value.id}.{node.attr}")
            if isinstance(node, ast.Name) and node.id in concrete:
                found.setdefault(str(relative), []).append(node.id)
    assert set(found) == {"bootstrap.py"}, found

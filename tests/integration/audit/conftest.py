"""Fixtures: the shared database fixtures (SQLite and PostgreSQL) from tests.dbfixtures."""

from tests.dbfixtures import brokerlink_home, database, db_target, vault

__all__ = ["brokerlink_home", "database", "db_target", "vault"]

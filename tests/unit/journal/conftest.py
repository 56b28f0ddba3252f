"""Fixtures: databases on SQLite and PostgreSQL (from ``tests.dbfixtures``)."""

from __future__ import annotations

from tests.dbfixtures import brokerlink_home, database, db_target

__all__ = ["brokerlink_home", "database", "db_target"]

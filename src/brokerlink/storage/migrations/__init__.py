"""Alembic migrations for the brokerlink schema (package data: keep in the wheel)."""

"""Sync engine unit tests."""

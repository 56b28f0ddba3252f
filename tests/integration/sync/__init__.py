"""Sync engine tests against emulators on loopback."""

"""Revision scripts, oldest first; applied by ``brokerlink.storage.migrate``."""

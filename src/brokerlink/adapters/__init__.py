"""Broker adapters: one package per broker, all built on the shared transport in ``_shared``."""

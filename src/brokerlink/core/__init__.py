"""The broker-independent core: models, enums, errors, interface, capabilities, symbols.

Imports nothing else from brokerlink, so every other layer can build on it.
"""

"""The Alpaca emulator: ``create_app`` in ``app.py`` (see ``brokerlink.emulators``)."""

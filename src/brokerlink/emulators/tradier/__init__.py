"""The Tradier emulator. ``EMULATOR`` (``spec.py``) describes it; ``create_app`` in
``app.py`` builds it (see ``brokerlink.emulators``). Importing this package imports
nothing heavy."""

from brokerlink.emulators.tradier.spec import EMULATOR

__all__ = ["EMULATOR"]

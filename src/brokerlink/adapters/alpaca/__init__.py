"""The Alpaca adapter: ``AlpacaBroker`` (``broker.py``); build one with
``brokerlink.adapters.alpaca.broker.create``. Importing registers nothing."""

from .auth import AlpacaAuth
from .broker import AlpacaBroker, create
from .config import AlpacaConfig
from .stream import AlpacaTradeStream, OrderUpdate

__all__ = ["AlpacaAuth", "AlpacaBroker", "AlpacaConfig", "AlpacaTradeStream", "OrderUpdate",
           "create"]

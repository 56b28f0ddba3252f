"""The Tradier adapter: ``TradierBroker`` (``broker.py``); build one with
``brokerlink.adapters.tradier.broker.create``. Importing registers nothing."""

from .broker import TRADIER_CAPABILITIES, TradierBroker, create
from .config import TradierConfig
from .stream import OrderUpdate, TradierAccountStream

__all__ = ["TRADIER_CAPABILITIES", "OrderUpdate", "TradierAccountStream", "TradierBroker",
           "TradierConfig", "create"]

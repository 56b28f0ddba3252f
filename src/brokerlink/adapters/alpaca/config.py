"""Alpaca's endpoints and limits (``specs/alpaca/REFERENCE.md`` sections 1 and 7).

``AlpacaConfig`` is a frozen model; build one with ``AlpacaConfig.live()``,
``.paper_trading()`` or ``.emulator(url)``. An emulator serves trading, data and the
stream on one host. OAuth endpoints and scopes live in the ``SPEC`` (``spec.py``) only.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from brokerlink.adapters._shared.urls import is_loopback

from .spec import LIVE_URL, PAPER_URL

DATA_URL = "https://data.alpaca.markets"
LIVE_STREAM_URL = "wss://api.alpaca.markets/stream"
PAPER_STREAM_URL = "wss://paper-api.alpaca.markets/stream"

RATE_LIMIT_REQUESTS = 200
RATE_LIMIT_PERIOD = timedelta(minutes=1)
"""Trading API: 200 requests per minute per account (Alpaca docs, "API rate limits")."""

MAX_ORDERS_PAGE = 500
MAX_ACTIVITIES_PAGE = 100


class AlpacaConfig(BaseModel):
    """Where one Alpaca connection talks to, and how fast it may."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = PAPER_URL
    data_url: str = DATA_URL
    stream_url: str = PAPER_STREAM_URL
    paper: bool = True
    rate_limit: int = RATE_LIMIT_REQUESTS
    rate_period: timedelta = RATE_LIMIT_PERIOD

    @classmethod
    def live(cls) -> AlpacaConfig:
        return cls(base_url=LIVE_URL, stream_url=LIVE_STREAM_URL, paper=False)

    @classmethod
    def paper_trading(cls) -> AlpacaConfig:
        return cls()

    @classmethod
    def emulator(cls, url: str) -> AlpacaConfig:
        """Everything on one local emulator (``http://127.0.0.1:PORT``)."""
        root = url.rstrip("/")
        ws = "ws" + root.removeprefix("http")
        return cls(base_url=root, data_url=root, stream_url=f"{ws}/stream", paper=True)

    @classmethod
    def for_url(cls, url: str | None) -> AlpacaConfig:
        """The one rule from a base URL to a config: none -> paper trading; a loopback
        URL -> an emulator there; Alpaca's live or paper URL -> that environment (with its
        stream); any other URL -> that trading host, paper unless it is the live one."""
        if not url:
            return cls.paper_trading()
        root = url.rstrip("/")
        if is_loopback(root):
            return cls.emulator(root)
        if root == LIVE_URL:
            return cls.live()
        if root == PAPER_URL:
            return cls.paper_trading()
        return cls(base_url=root, paper=True)

"""Alpaca's endpoints and limits (``specs/alpaca/REFERENCE.md`` sections 1 and 7).

``AlpacaConfig`` is frozen; build one with ``AlpacaConfig.live()``, ``.paper()`` or
``.emulator(url)``. An emulator serves trading, data and the stream on one host.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

LIVE_URL = "https://api.alpaca.markets"
PAPER_URL = "https://paper-api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
LIVE_STREAM_URL = "wss://api.alpaca.markets/stream"
PAPER_STREAM_URL = "wss://paper-api.alpaca.markets/stream"

OAUTH_AUTHORIZE_URL = "https://app.alpaca.markets/oauth/authorize"
OAUTH_TOKEN_URL = "https://api.alpaca.markets/oauth/token"  # noqa: S105  (a URL, not a secret)
OAUTH_SCOPES = ("account:write", "trading", "data")

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

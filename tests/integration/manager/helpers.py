"""Helpers shared by the manager tests: emulator handles and credentials."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from brokerlink.core.enums import BrokerType
from brokerlink.core.models import BrokerCredentials
from brokerlink.emulators import EmulatorEnv, EmulatorServer, env_of


class Emulator:
    """A running emulator: its URL and its environment (faults, prices, clock)."""

    def __init__(self, server: EmulatorServer, app: Any) -> None:
        self.server = server
        self.url = server.url
        self.env: EmulatorEnv = env_of(app)


def alpaca_keys(url: str, key: str) -> BrokerCredentials:
    return BrokerCredentials(broker=BrokerType.ALPACA, api_key=SecretStr(key),
                             api_secret=SecretStr(f"{key}-secret"), base_url=url)


def tradier_token(url: str, token: str) -> BrokerCredentials:
    return BrokerCredentials(broker=BrokerType.TRADIER, access_token=SecretStr(token),
                             base_url=url)

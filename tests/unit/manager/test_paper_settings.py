"""A paper connection's settings travel in its base_url, and come back exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokerlink.adapters.paper import PaperBroker
from brokerlink.adapters.paper.config import paper_url, parse_paper_url
from brokerlink.core.enums import BrokerType
from brokerlink.core.errors import BrokerError
from brokerlink.manager.connectors import connector_for


def test_round_trip() -> None:
    url = paper_url(account_id="PAPER-1", cash=Decimal("2500.50"), seed=3, market="always_open")
    assert url.startswith("paper:?")
    assert parse_paper_url(url) == ("PAPER-1", Decimal("2500.50"), 3, "always_open")
    assert parse_paper_url(None) == (None, Decimal(100_000), 7, "exchange")


@pytest.mark.parametrize("url", ["http://x?cash=1", "paper:?cash=lots", "paper:?market=moon"])
def test_bad_settings_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"paper"):
        parse_paper_url(url)


async def test_connector_builds_the_stored_account() -> None:
    build = connector_for(BrokerType.PAPER)
    broker = build(connection_id="conn-1", base_url=paper_url(
        account_id="PAPER-9", cash=Decimal(10), seed=1, market="always_open"),
        api_key=None, api_secret=None, source=None, audit=None)
    assert isinstance(broker, PaperBroker)
    async with broker:
        assert (await broker.get_account()).account_id == "PAPER-9"
        assert (await broker.get_balances()).cash == Decimal(10)
    with pytest.raises(BrokerError, match="unreadable"):
        build(connection_id="conn-2", base_url="paper:?seed=x", api_key=None,
              api_secret=None, source=None, audit=None)

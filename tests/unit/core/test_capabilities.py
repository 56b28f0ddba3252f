from __future__ import annotations

import pytest

from brokerlink import Capabilities, NotSupportedError, OrderModify, OrderRequest
from brokerlink.core.capabilities import FEATURES, Feature, ModifyStyle
from brokerlink.core.enums import AssetType, OrderType, TimeInForce

NARROW = Capabilities(
    asset_types=frozenset({AssetType.EQUITY}),
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
    modify=ModifyStyle.NONE,
)


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (OrderRequest(symbol="AAPL270115C00150000", side="buy_to_open", quantity=1), "option"),
        (OrderRequest(symbol="A", side="buy", quantity=1, order_type="stop", stop_price=1),
         "stop orders"),
        (OrderRequest(symbol="A", side="buy", quantity=1, time_in_force="ioc"), "ioc"),
        (OrderRequest(symbol="A", side="buy", quantity="0.5"), "fractional"),
        (OrderRequest(symbol="A", side="sell_short", quantity=1), "short"),
        (OrderRequest(symbol="A", side="buy", quantity=1, order_type="limit", limit_price=1,
                      extended_hours=True), "extended"),
    ],
)
def test_unsupported_orders_refused_before_sending(order: OrderRequest, reason: str) -> None:
    with pytest.raises(NotSupportedError, match=reason):
        NARROW.check_order(order, broker="narrow")


def test_supported_order_passes() -> None:
    NARROW.check_order(OrderRequest(symbol="A", side="buy", quantity=1), broker="narrow")


def test_modify_refused_where_broker_cannot() -> None:
    with pytest.raises(NotSupportedError, match="cancel it"):
        NARROW.check_modify(OrderModify(quantity=2), broker="narrow")


def test_features_name_every_yes_no_capability() -> None:
    flags = {name for name, field in Capabilities.model_fields.items()
             if field.annotation is bool}
    assert set(FEATURES) == flags


@pytest.mark.parametrize("feature", FEATURES)
def test_require_refuses_exactly_the_false_features(feature: Feature) -> None:
    off = NARROW.model_copy(update={feature: False})
    with pytest.raises(NotSupportedError, match=feature.replace("_", " ")) as raised:
        off.require(feature, broker="narrow")
    assert raised.value.broker == "narrow"
    NARROW.model_copy(update={feature: True}).require(feature, broker="narrow")

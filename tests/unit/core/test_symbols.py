from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from brokerlink.core.enums import OptionType
from brokerlink.core.errors import InvalidOrderError, SymbolNotFoundError
from brokerlink.core.symbols import (
    OptionContract,
    format_occ,
    is_occ,
    normalize_equity_symbol,
    parse_occ,
    share_class_parts,
)


@pytest.mark.parametrize(
    ("symbol", "root", "expiry", "kind", "strike"),
    [
        ("AAPL  250117C00150000", "AAPL", date(2025, 1, 17), OptionType.CALL, "150.000"),
        ("AAPL250117C00150000", "AAPL", date(2025, 1, 17), OptionType.CALL, "150.000"),
        ("SPY   261218P00412500", "SPY", date(2026, 12, 18), OptionType.PUT, "412.500"),
        ("SPXW  261120C05000000", "SPXW", date(2026, 11, 20), OptionType.CALL, "5000.000"),
        ("AAPL1 250117C00150000", "AAPL1", date(2025, 1, 17), OptionType.CALL, "150.000"),
        ("BRKB  270115P00000500", "BRKB", date(2027, 1, 15), OptionType.PUT, "0.500"),
        ("GOOGL 260320C00001250", "GOOGL", date(2026, 3, 20), OptionType.CALL, "1.250"),
        ("F251219C00012345", "F", date(2025, 12, 19), OptionType.CALL, "12.345"),
    ],
)
def test_parse_padded_and_compact(symbol: str, root: str, expiry: date, kind: OptionType,
                                  strike: str) -> None:
    contract = parse_occ(symbol)
    assert contract == OptionContract(root, expiry, kind, Decimal(strike))
    assert str(contract.strike) == strike


@pytest.mark.parametrize("symbol", ["AAPL  250117C00150000", "AAPL1 250117C00150000",
                                    "SPXW  261120C05000000", "X     260116P00027500"])
def test_round_trip_exact(symbol: str) -> None:
    contract = parse_occ(symbol)
    assert format_occ(contract, padded=True) == symbol
    assert len(format_occ(contract, padded=True)) == 21
    compact = format_occ(contract)
    assert compact == symbol.replace(" ", "")
    assert parse_occ(compact) == contract
    assert contract.occ == compact


def test_lowercase_and_surrounding_space_accepted() -> None:
    assert parse_occ("  aapl250117c00150000 ").root == "AAPL"


@pytest.mark.parametrize("symbol", ["AAPL", "", "AAPL250117X00150000", "TOOLONGROOT250117C00150000",
                                    "AAPL 250117C0015000", "AA PL250117C00150000"])
def test_not_an_occ_symbol(symbol: str) -> None:
    with pytest.raises(SymbolNotFoundError) as raised:
        parse_occ(symbol)
    assert "OCC" in str(raised.value)
    assert not is_occ(symbol)


@pytest.mark.parametrize("symbol", ["AAPL251301C00150000", "AAPL250230C00150000",
                                    "AAPL250117C00000000"])
def test_impossible_dates_and_strikes(symbol: str) -> None:
    with pytest.raises(InvalidOrderError):
        parse_occ(symbol)


def test_contract_validates_its_own_fields() -> None:
    with pytest.raises(InvalidOrderError, match="three decimals"):
        OptionContract("AAPL", date(2025, 1, 17), OptionType.CALL, Decimal("1.2345"))
    with pytest.raises(InvalidOrderError, match="root"):
        OptionContract("TOOLONG", date(2025, 1, 17), OptionType.CALL, Decimal(1))


@pytest.mark.parametrize("spelling", ["BRK.B", "BRK B", "BRK/B", "brk-b", " brk.b "])
def test_share_class_spellings_normalise(spelling: str) -> None:
    assert normalize_equity_symbol(spelling) == "BRK.B"
    assert share_class_parts(spelling) == ("BRK", "B")


def test_plain_tickers() -> None:
    assert normalize_equity_symbol("aapl") == "AAPL"
    assert share_class_parts("AAPL") == ("AAPL", None)
    with pytest.raises(SymbolNotFoundError):
        normalize_equity_symbol("not a ticker!")

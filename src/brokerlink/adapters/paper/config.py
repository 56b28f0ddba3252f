"""How a stored paper connection keeps its settings: a ``paper:`` URL with no secrets."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Literal
from urllib.parse import parse_qs, urlencode, urlsplit

PAPER_SCHEME = "paper"
PaperMarket = Literal["exchange", "always_open"]


def paper_url(*, account_id: str, cash: Decimal, seed: int, market: PaperMarket) -> str:
    """The ``base_url`` a paper connection is stored under: its settings, no secrets.

    A paper broker has no host to name, so the URL's query is the place its settings
    go: ``paper:?account_id=...&cash=...&seed=...&market=...``. The settings travel
    with the connection row and are deleted with it; they say how the account opens,
    while the account itself (orders, positions, cash) is stored in ``paper_accounts``.
    """
    query = urlencode({"account_id": account_id, "cash": str(cash), "seed": str(seed),
                       "market": market})
    return f"{PAPER_SCHEME}:?{query}"


def parse_paper_url(base_url: str | None) -> tuple[str | None, Decimal, int, PaperMarket]:
    """``(account_id, cash, seed, market)`` from a ``paper_url``; defaults for ``None``.

    Raises ``ValueError`` on a malformed setting.
    """
    if not base_url:
        return None, Decimal(100_000), 7, "exchange"
    parts = urlsplit(base_url)
    if parts.scheme != PAPER_SCHEME:
        raise ValueError(f"a paper connection's base_url starts with {PAPER_SCHEME}:")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        cash = Decimal(query.get("cash", "100000"))
    except InvalidOperation as exc:
        raise ValueError("paper cash must be a decimal number") from exc
    market = query.get("market", "exchange")
    if market not in ("exchange", "always_open"):
        raise ValueError("paper market must be exchange or always_open")
    return (query.get("account_id"), cash, int(query.get("seed", "7")),
            "always_open" if market == "always_open" else "exchange")


__all__ = ["PAPER_SCHEME", "PaperMarket", "paper_url", "parse_paper_url"]

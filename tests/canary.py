"""Canary scanning: a planted secret must appear nowhere, in any common encoding."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterable
from pathlib import Path


def encodings(secret: str) -> dict[str, bytes]:
    """``secret`` raw, URL-encoded, hex, and base64 (standard and URL-safe) at every byte
    alignment inside a longer payload."""
    raw = secret.encode()
    forms = {
        "raw": raw,
        "url": urllib.parse.quote(secret, safe="").encode(),
        "url-plus": urllib.parse.quote_plus(secret).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    for offset in range(3):
        for name, encoder in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            encoded = encoder(b"\x00" * offset + raw).rstrip(b"=")
            skip = (offset * 4 + 2) // 3 + 1
            forms[f"{name}@{offset}"] = encoded[skip:-2]
    return forms


def hits(blob: bytes, secrets: Iterable[str]) -> list[str]:
    """Which encodings of which secrets occur in ``blob`` (empty: none)."""
    return [f"{secret[:6]}…:{name}" for secret in secrets
            for name, form in encodings(secret).items() if form and form in blob]


def scan_tree(root: Path, secrets: Iterable[str]) -> dict[str, list[str]]:
    """Every file under ``root`` in which a secret occurs, with the encodings found."""
    wanted = list(secrets)
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            matched = hits(path.read_bytes(), wanted)
            if matched:
                found[str(path.relative_to(root))] = matched
    return found

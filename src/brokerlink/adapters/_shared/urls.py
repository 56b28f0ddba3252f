"""What a stored base URL says about where a connection goes."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(base_url: str | None) -> bool:
    """Whether ``base_url`` names this machine (a local emulator)."""
    if not base_url:
        return False
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = ["is_loopback"]

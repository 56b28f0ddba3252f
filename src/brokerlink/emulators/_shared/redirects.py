"""Redirect URI checks for the emulators' authorization server (RFC 8252 7.3, RFC 9700).

A requested redirect URI is accepted only when it equals a registered one component by
component: same scheme, same host, same path and query, no fragment, and the same port,
except that a registered *loopback IP literal* (``127.0.0.1``, ``[::1]``) accepts any
port (RFC 8252 section 7.3: a native app binds a random port). Refused outright,
whatever is registered:

* userinfo (``user@host``): browsers and ``urlsplit`` disagree on where the host starts
  (``http://evil.example\\@127.0.0.1/`` is ``evil.example`` to a browser);
* any character outside RFC 3986's URI set (a backslash, spaces, controls, non-ASCII)
  and any percent-encoding in the authority;
* a port that is not 1 to 5 digits in 1..65535 (``:99999``, ``:abc``, ``:-1``,
  ``:5555%2f%2fevil.example``);
* anything longer than ``MAX_REDIRECT_URI``.

``check_redirect_uri`` raises ``RedirectRefused`` (the caller answers OAuth's
``invalid_request`` with 400, never a redirect); ``redirect_matches`` is its boolean form.
Parsing is done here by a strict grammar, never ``urlsplit(...).port``, which raises
``ValueError`` on a bad port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REDIRECT_URI = 2048

# RFC 3986 section 2: unreserved, reserved, and "%" for percent-encoding.
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_URI = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)"
    r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?P<fragment>#.*)?$")
_AUTHORITY = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~]+)(?::(?P<port>[0-9]{1,5}))?$")
LOOPBACK_LITERALS = frozenset({"127.0.0.1", "[::1]"})


class RedirectRefused(ValueError):
    """A redirect URI that is malformed or matches no registered one; ``reason`` says
    which rule it broke (safe to show: it never repeats the URI)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RedirectURI:
    """A parsed redirect URI (host lower-cased, port ``None`` when absent)."""

    scheme: str
    host: str
    port: int | None
    path: str
    query: str | None

    @property
    def loopback_literal(self) -> bool:
        return self.scheme == "http" and self.host in LOOPBACK_LITERALS


def parse_redirect_uri(uri: str) -> RedirectURI:
    """``uri`` parsed by the strict grammar above. Raises ``RedirectRefused``."""
    if not uri or len(uri) > MAX_REDIRECT_URI:
        raise RedirectRefused(f"redirect_uri must be 1 to {MAX_REDIRECT_URI} characters")
    if not _URI_CHARS.match(uri):
        raise RedirectRefused("redirect_uri holds characters a URI cannot hold")
    parts = _URI.match(uri)
    if parts is None:
        raise RedirectRefused("redirect_uri is not an absolute URI")
    if parts["fragment"] is not None:
        raise RedirectRefused("redirect_uri must not have a fragment")
    authority = parts["authority"]
    if "@" in authority:
        raise RedirectRefused("redirect_uri must not carry userinfo")
    if "%" in authority:
        raise RedirectRefused("redirect_uri must not percent-encode its host or port")
    where = _AUTHORITY.match(authority)
    if where is None:
        raise RedirectRefused("redirect_uri has a malformed host or port")
    port: int | None = None
    if where["port"] is not None:
        port = int(where["port"])
        if not 1 <= port <= 65535:
            raise RedirectRefused("redirect_uri port must be between 1 and 65535")
    return RedirectURI(scheme=parts["scheme"].lower(), host=where["host"].lower(),
                       port=port, path=parts["path"], query=parts["query"])


def _same(requested: RedirectURI, registered: RedirectURI) -> bool:
    if (requested.scheme, requested.host, requested.path, requested.query) != (
            registered.scheme, registered.host, registered.path, registered.query):
        return False
    return registered.loopback_literal or requested.port == registered.port


def check_redirect_uri(uri: str, registered: tuple[str, ...]) -> str:
    """``uri`` if it matches one of ``registered`` (see the module docstring). Raises
    ``RedirectRefused`` when it is malformed or matches none."""
    requested = parse_redirect_uri(uri)
    for candidate in registered:
        try:
            allowed = parse_redirect_uri(candidate)
        except RedirectRefused:
            continue  # a bad registration matches nothing
        if _same(requested, allowed):
            return uri
    raise RedirectRefused("redirect_uri does not match a registered redirect URI")


def redirect_matches(uri: str, registered: tuple[str, ...]) -> bool:
    """Whether ``check_redirect_uri`` accepts ``uri``."""
    try:
        check_redirect_uri(uri, registered)
    except RedirectRefused:
        return False
    return True

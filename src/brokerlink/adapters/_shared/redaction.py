"""Keeping secrets out of logs, errors, audit events and URLs.

Two complementary defences: by *name* (a header, query parameter or JSON key that looks
like a credential has its value replaced) and by *value* (any known secret string is
replaced wherever it appears in free text, such as a response body a broker echoed).
Every function returns a new object and never mutates its input.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only for annotations at import time: the CLI's log filter imports this module on
    # every command, and httpx would cost ``brokerlink --help`` a fifth of a second.
    import httpx

REDACTED = "[redacted]"

#: Bodies quoted in exceptions are cut to this many characters after redaction.
MAX_BODY_CHARS = 500

#: Shorter "secrets" are not replaced by value: replacing e.g. "1" everywhere would
#: garble every message while protecting nothing real. Name-based redaction still applies.
MIN_SECRET_CHARS = 4

_SCAN_MARGIN = 4096

# Substrings of normalised names (lower case, "-" -> "_") that mark a credential.
_SENSITIVE_PARTS = (
    "authorization",
    "token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "api_key",
    "apikey",
    "key_id",
    "code_verifier",
    "cookie",
    "signature",
    "session_id",
    "sessionid",
    "session_key",
    "credential",
    "private_key",
)
_SENSITIVE_PREFIXES = ("apca_api_",)
# Whole names that are secret in requests (an OAuth authorization code, a one-time
# password) but would be too broad as substrings: "code" is also a broker's error code in
# a response body, and "session" alone is an order field at Schwab ("NORMAL", "AM").
_SENSITIVE_EXACT = frozenset({"code", "pin", "key", "sig", "otp", "totp"})

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# key=value (query strings, form bodies) and "key": "value" (JSON) for credential-like keys;
# "code" is deliberately absent so broker error codes in response bodies stay readable.
_KEYED = re.compile(
    r"""(?ix)
    (?<![\w-])
    (?P<key>["']?[\w-]*(?:token|password|passwd|secret|api[_-]?key|apikey|key[_-]id|
        code[_-]verifier|authorization|signature|session[_-]?id|credential)[\w-]*["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<quote>["'])?
    (?P<value>(?(quote)[^"']*|[^\s&,;"'}]*))
    """
)


def is_sensitive_name(name: str) -> bool:
    """True if a header, parameter or JSON key named ``name`` holds a credential."""
    normalised = name.strip().lower().replace("-", "_")
    if normalised in _SENSITIVE_EXACT:
        return True
    if normalised.startswith(_SENSITIVE_PREFIXES):
        return True
    return any(part in normalised for part in _SENSITIVE_PARTS)


def redact_headers(headers: Mapping[str, str] | httpx.Headers) -> dict[str, str]:
    """A copy of ``headers`` with credential-like values replaced by ``[redacted]``."""
    return {
        name: (REDACTED if is_sensitive_name(name) else value) for name, value in headers.items()
    }


def redact_value(value: Any) -> Any:
    """Redact nested mappings and sequences by key; other values are returned as is."""
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` (recursively) with credential-like keys' values redacted.

    Keys are stringified. Used for request summaries, query parameters and form bodies.
    """
    return {
        str(key): (REDACTED if is_sensitive_name(str(key)) else redact_value(value))
        for key, value in mapping.items()
    }


def _usable_secrets(secrets: Iterable[str]) -> list[str]:
    # Longest first so a secret containing another is replaced whole.
    unique = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS}
    return sorted(unique, key=len, reverse=True)


def _redact_keyed(match: re.Match[str]) -> str:
    quote = match["quote"] or ""
    return f"{match['key']}{match['sep']}{quote}{REDACTED}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value, bearer/basic credentials and ``key=value`` or
    ``"key": "value"`` pairs with credential-like keys in ``text``."""
    for secret in _usable_secrets(secrets):
        text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _KEYED.sub(_redact_keyed, text)


def truncate(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marking that it was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more chars]"


def redact_body(text: str, secrets: Iterable[str] = (), limit: int = MAX_BODY_CHARS) -> str:
    """A response body made safe to quote in an exception: redacted, then truncated."""
    # Only the head can survive truncation, so only the head is scanned (bodies can be
    # megabytes); the margin keeps a secret that straddles the cut from surviving in part.
    head = redact_text(text[: limit + _SCAN_MARGIN], secrets)
    if len(head) <= limit and len(text) <= limit + _SCAN_MARGIN:
        return head
    return f"{head[:limit]}... [body truncated from {len(text)} chars]"


def redact_url(url: str | httpx.URL, secrets: Iterable[str] = ()) -> str:
    """``url`` with userinfo dropped and credential-like query values redacted."""
    import httpx

    parsed = httpx.URL(str(url))
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if parsed.query:
        params = [
            (key, REDACTED if is_sensitive_name(key) else value)
            for key, value in parsed.params.multi_items()
        ]
        parsed = parsed.copy_with(params=params)
    return redact_text(str(parsed), secrets)


def scrub_values(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (nested mappings, lists, tuples) with every string passed through
    ``redact_text``; keys and non-string leaves (numbers, Decimals) are kept as they are.

    Catches a secret filed under an innocent key, which name-based redaction cannot.
    """
    known = list(secrets)
    if isinstance(value, Mapping):
        return {str(k): scrub_values(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_values(v, known) for v in value]
    if isinstance(value, str):
        return redact_text(value, known)
    return value


class SecretSet:
    """Every secret value one connection has handled, for scrubbing by value.

    ``remember`` also files the bare token of ``"Bearer abc"``/``"Basic abc"``/
    ``"Token abc"``, so it is scrubbed whole and bare. Never printed: its repr names
    only how many values it holds."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: set[str] = set()

    def remember(self, values: Iterable[str]) -> None:
        """Add ``values`` (and the token inside any credential scheme among them)."""
        for value in values:
            self._values.add(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic", "token"):
                self._values.add(token)

    def redact(self, text: str) -> str:
        """``redact_text`` with these secrets."""
        return redact_text(text, self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretSet({len(self._values)} values)"


# --- logs: stricter than errors, for text nobody reads to debug a broker's answer -------

# OAuth parameters that are secret in a URL or form body but innocent words elsewhere.
_QUERY_SECRET_NAMES = frozenset({"code", "state", "assertion", "client_assertion",
                                 "id_token", "nonce"})
# name=value after "?", "&", the start of the text, whitespace or an opening quote: a
# URL's query or a form body (httpcore prints a redirect's Location header, uvicorn a
# request line, a library a form it posts).
_QUERY_PAIR = re.compile(
    r"""(?P<lead>(?:^|(?<=[?&\s"'(\[,;])))(?P<name>[A-Za-z0-9_.%\-\[\]]{1,64})=(?P<value>[^&\s#"'<>)\]},;]*)""")
# ('name', 'value') / (b'name', b'value') header tuples (httpcore) and "name": "value"
# or 'name': 'value' pairs (a dict's repr, a JSON body, a websocket frame).
_QUOTED_PAIR = re.compile(
    r"""(?P<q>b?["'])(?P<name>[A-Za-z0-9_.\-]{1,64})["']
        (?P<sep>\s*[,:]\s*)
        (?P<vq>b?["'])(?P<value>[^"'\\]*)(?P<end>["'])""", re.VERBOSE)
# "Name: value" header lines (websockets, aiohttp and h11 print them so).
_HEADER_LINE = re.compile(r"(?m)(?P<name>(?<![\w-])[A-Za-z][\w-]{0,63})(?P<sep>:[ \t]+)"
                          r"(?P<value>[^\r\n]+)")
_TOKENISH = re.compile(r"[A-Za-z0-9._~+/=-]{16,}")


def _secret_pair_name(name: str, value: str) -> bool:
    """Whether ``name`` = ``value`` holds a credential in a log line. ``code`` and
    ``state`` are an OAuth code and state only when the value looks like one: a broker's
    error code or an order's state is short and stays readable."""
    if value.startswith(REDACTED[:-1]):
        return False  # already redacted by an earlier pattern
    normalised = name.strip().lower().replace("-", "_")
    if normalised in ("code", "state"):
        return bool(_TOKENISH.fullmatch(value))
    return normalised in _QUERY_SECRET_NAMES or is_sensitive_name(name)


def _redact_query_pair(match: re.Match[str]) -> str:
    name, value = match["name"], match["value"]
    lowered = name.lower()
    # In a query string (after "?" or "&") code and state are always the OAuth ones.
    in_query = match.start() > 0 and match.string[match.start() - 1] in "?&"
    if value and not value.startswith(REDACTED[:-1]) and (
            (in_query and lowered in _QUERY_SECRET_NAMES) or _secret_pair_name(name, value)):
        return f"{match['lead']}{name}={REDACTED}"
    return match.group(0)


def _redact_quoted_pair(match: re.Match[str]) -> str:
    if match["value"] and _secret_pair_name(match["name"], match["value"]):
        return (f"{match['q']}{match['name']}{match['q'][-1]}{match['sep']}{match['vq']}"
                f"{REDACTED}{match['end']}")
    return match.group(0)


def _redact_header_line(match: re.Match[str]) -> str:
    name = match["name"]
    if name.lower() in ("code", "state") or not is_sensitive_name(name):
        return match.group(0)
    return f"{name}{match['sep']}{REDACTED}"


def redact_log_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``redact_text``, plus what only a log line needs: credential-like values in URL
    queries and form bodies (OAuth ``code``, ``state``, ``code_verifier``, tokens,
    keys, passwords), in ``(name, value)`` header tuples, quoted ``name: value`` pairs
    and ``Name: value`` header lines. Stricter than ``redact_text`` (which keeps error
    messages readable), since a log line is never the only copy of a broker's answer."""
    text = redact_text(text, secrets)
    text = _QUERY_PAIR.sub(_redact_query_pair, text)
    text = _QUOTED_PAIR.sub(_redact_quoted_pair, text)
    return _HEADER_LINE.sub(_redact_header_line, text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from a record's message, its arguments, its
    exception and stack text (``redact_log_text``).

    Attach it to *handlers* (a filter on a logger does not see records its children
    propagate), or install it for every record with ``install_record_redaction``.
    Secrets known by value can be given up front or added later with ``add_secret``;
    name-based and pattern-based redaction always applies. Never drops a record.
    """

    def __init__(self, secrets: Iterable[str] = (), name: str = "") -> None:
        super().__init__(name)
        self._secrets: set[str] = set(secrets)

    def add_secret(self, value: str) -> None:
        """Also scrub ``value`` from now on."""
        self._secrets.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place so no handler sees the unredacted text."""
        self.redact_record(record)
        return True

    def redact_record(self, record: logging.LogRecord) -> None:
        """Merge ``record``'s arguments into its message and redact it, its exception
        text and its stack text, in place. A message whose arguments do not fit its
        format is kept as the redacted format plus the redacted arguments' reprs."""
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_log_text(str(message), self._secrets)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_log_text(formatted, self._secrets)
            # The formatter would otherwise re-render the raw exception from exc_info.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_log_text(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact_log_text(record.stack_info, self._secrets)


_FACTORY_MARK = "_brokerlink_redacting_factory"


def install_record_redaction(redacting: RedactingFilter) -> None:
    """Redact every log record as it is created, whichever logger made it and whichever
    handler will print it (a library's own handler, e.g. uvicorn's, included).

    Wraps the logging module's record factory; installing again replaces the previous
    brokerlink wrapper rather than stacking on it. Records are created only for enabled
    levels, so disabled debug logging costs nothing.
    """
    current = logging.getLogRecordFactory()
    base = getattr(current, _FACTORY_MARK, current)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redacting.redact_record(record)
        return record

    setattr(factory, _FACTORY_MARK, base)
    logging.setLogRecordFactory(factory)


def uninstall_record_redaction() -> None:
    """Restore the record factory ``install_record_redaction`` wrapped (if it did)."""
    current = logging.getLogRecordFactory()
    base = getattr(current, _FACTORY_MARK, None)
    if base is not None:
        logging.setLogRecordFactory(base)


__all__ = [
    "MAX_BODY_CHARS",
    "REDACTED",
    "RedactingFilter",
    "SecretSet",
    "install_record_redaction",
    "is_sensitive_name",
    "redact_body",
    "redact_headers",
    "redact_log_text",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "redact_value",
    "scrub_values",
    "truncate",
    "uninstall_record_redaction",
]

"""Logging for the ``brokerlink`` command: one stderr handler on the root logger, with
``RedactingFilter`` attached, so no log line a command prints carries a secret (by
name, bearer-token pattern, URL query, header or known value), whichever library logged
it. The same filter also rewrites every record as it is created
(``install_record_redaction``), so a library that prints through a handler of its own
(uvicorn configures some) prints redacted text too, at every verbosity.

Libraries do not configure logging (a host application owns that); the CLI is such an
application, and this is its configuration. An application embedding brokerlink should
attach ``RedactingFilter`` to its own handlers the same way.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from brokerlink.adapters._shared.redaction import RedactingFilter, install_record_redaction

_MARK = "_brokerlink_cli_handler"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (as the standard
    library's last-resort handler does), not the stream of the moment it was built."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        # Called under the handler's lock: swapping the stream here is safe.
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int = logging.WARNING) -> RedactingFilter:
    """Install (or replace) the CLI's redacting stderr handler at ``level``, make every
    log record redacted as it is created, and return the filter (``add_secret`` scrubs
    more values by value). Idempotent: calling it again swaps the handler and filter."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    redacting = RedactingFilter()
    handler.addFilter(redacting)
    install_record_redaction(redacting)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request line at INFO; with -v that is noise, not news.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    return redacting


__all__ = ["configure_logging"]

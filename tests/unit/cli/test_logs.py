"""The CLI's log handler: secrets never reach stderr, whichever logger wrote them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from brokerlink.cli.logs import configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_secrets_are_redacted_by_name_pattern_and_value(
        restore_root: None, capsys: pytest.CaptureFixture[str]) -> None:
    redacting = configure_logging(logging.INFO)
    redacting.add_secret("hunter2-the-vault-value")
    log = logging.getLogger("some.library")
    log.warning("sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def")
    log.info("refresh_token=rt-0123456789abcdef&grant_type=refresh_token")
    log.error("the broker echoed %s back", "hunter2-the-vault-value")
    try:
        raise ValueError("api_secret=sk-live-0123456789")
    except ValueError:
        log.exception("failed")
    err = capsys.readouterr().err
    for secret in ("eyJhbGciOiJIUzI1NiJ9", "rt-0123456789abcdef", "hunter2-the-vault-value",
                   "sk-live-0123456789"):
        assert secret not in err
    assert err.count("[redacted]") >= 4
    assert "WARNING some.library: sent" in err


def test_configuring_twice_keeps_one_handler(restore_root: None) -> None:
    configure_logging()
    configure_logging(logging.DEBUG)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_brokerlink_cli_handler",
                                                               False)]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.DEBUG

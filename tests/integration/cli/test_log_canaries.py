"""Issue 19 item 4: no secret reaches stdout or stderr at any verbosity.

Every random secret the run makes (OAuth state, PKCE verifier, authorization code,
access and refresh tokens: all drawn from ``secrets.token_urlsafe``, in the client and
in the in-process emulator alike) is made a recognisable canary, and so are the API key
and secret, the OAuth client secret and the vault passphrase. Real commands run against
the emulators on loopback at no -v, -v and -vv; the canaries must appear in no encoding
in what the process printed (including what libraries' own handlers wrote to the
file descriptors)."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brokerlink.cli.app import app
from brokerlink.emulators._shared.oauth_server import SANDBOX_CLIENT
from tests.canary import hits

runner = CliRunner()

API_KEY = "PKCANARYKEY7Q2W9E"
API_SECRET = "canary-api-secret/9f8e+7d6c=5b4a&3z"
PASSPHRASE = "canary passphrase: correct horse"


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``secrets.token_urlsafe`` value from now on, recorded (same length and
    alphabet as the real ones, so every parser still takes them)."""
    made: list[str] = []
    real = secrets.token_urlsafe

    def canary(nbytes: int | None = None) -> str:
        value = real(nbytes)
        made.append(value)
        return value

    monkeypatch.setattr(secrets, "token_urlsafe", canary)
    return made


@pytest.fixture
def keys_env(brokerlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY_ID", API_KEY)
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", API_SECRET)
    monkeypatch.setenv("BROKERLINK_KEK_PROVIDER", "passphrase")
    monkeypatch.setenv("BROKERLINK_PASSPHRASE", PASSPHRASE)


def _run(args: list[str], capfd: pytest.CaptureFixture[str]) -> str:
    result = runner.invoke(app, args)
    captured = capfd.readouterr()
    printed = result.output + captured.out + captured.err
    assert result.exit_code == 0, printed
    return printed


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]], ids=["quiet", "-v", "-vv"])
@pytest.mark.usefixtures("keys_env")
def test_no_canary_in_output_at_any_verbosity(
        verbosity: list[str], emulators: tuple[str, str], planted: list[str],
        capfd: pytest.CaptureFixture[str]) -> None:
    alpaca, tradier = emulators
    printed = [
        _run([*verbosity, "connect", "alpaca", "--base-url", alpaca], capfd),
        _run([*verbosity, "connect", "tradier", "--base-url", tradier], capfd),
        _run([*verbosity, "connect", "alpaca", "--base-url", alpaca, "--auth", "oauth"],
             capfd),
        _run([*verbosity, "portfolio"], capfd),
        _run([*verbosity, "order", "place", "AAPL", "buy", "1", "--json"], capfd),
        _run([*verbosity, "orders"], capfd),
    ]
    # Two OAuth sign-ins: state, verifier, code, access and refresh token at least each.
    assert len(planted) >= 8
    canaries = [*planted, API_KEY, API_SECRET, PASSPHRASE,
                SANDBOX_CLIENT.client_secret or "", SANDBOX_CLIENT.client_secret or ""]
    output = "\n".join(printed)
    assert hits(output.encode(), [c for c in canaries if c]) == []
    if verbosity == ["-vv"]:
        # The run did log the traffic the canaries travelled in, redacted.
        assert "httpcore" in output
        assert "[redacted]" in output


def test_the_scan_sees_a_canary_that_leaks(emulators: tuple[str, str], planted: list[str],
                                           capfd: pytest.CaptureFixture[str],
                                           keys_env: None) -> None:
    # The control: a log line that escapes redaction (a bare value under an innocent
    # name) is found by the same scan.
    _run(["connect", "alpaca", "--base-url", emulators[0]], capfd)
    logging.getLogger("control").warning("innocent=%s", API_SECRET[:-1] + "!")
    leak = capfd.readouterr().err
    assert hits(leak.encode(), [API_SECRET[:-1] + "!"]) != []


@pytest.mark.parametrize("line", [
    "receive_response_headers.complete return_value=(b'HTTP/1.1', 302, b'Found', "
    "[(b'location', b'http://127.0.0.1:5/callback?code={c}&state={c}')])",
    "POST /oauth/token grant_type=authorization_code&code={c}&code_verifier={c}",
    '{{"access_token": "{c}", "refresh_token": "{c}", "token_type": "bearer"}}',
    "> Authorization: Bearer {c}",
    "> APCA-API-SECRET-KEY: {c}",
    "{{'action': 'auth', 'key': '{c}', 'secret': '{c}'}}",
    "GET /callback?state={c}&code={c} HTTP/1.1",
    "sent passphrase={c}",
])
@pytest.mark.parametrize("logger", ["httpcore.http11", "httpx", "aiohttp.client",
                                    "websockets.client", "uvicorn.error", "authlib"])
def test_third_party_log_lines_are_redacted(line: str, logger: str,
                                            capfd: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from brokerlink.cli.logs import configure_logging

    configure_logging(logging.DEBUG)
    canary = secrets.token_urlsafe(32)
    log = _as_configured_by_nobody(logger, monkeypatch)
    log.warning(line.format(c=canary))  # in the message
    log.warning("%s", line.format(c=canary))  # in the arguments
    try:
        raise RuntimeError(line.format(c=canary))
    except RuntimeError:
        log.exception("failed")  # in the exception text
    err = capfd.readouterr().err
    assert err.count("[redacted]") >= 3
    assert hits(err.encode(), [canary]) == []


def test_a_library_handler_of_its_own_prints_redacted(
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from brokerlink.cli.logs import configure_logging

    configure_logging(logging.INFO)
    # As uvicorn configures its access log: a handler of its own, not propagating.
    own = _as_configured_by_nobody("uvicorn.access", monkeypatch)
    monkeypatch.setattr(own, "handlers", [logging.StreamHandler(sys.stderr)])
    monkeypatch.setattr(own, "propagate", False)
    canary = secrets.token_urlsafe(32)
    own.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
             f"/callback?code={canary}&state={canary}", "1.1", 302)
    err = capfd.readouterr().err
    assert "/callback?code=[redacted]&state=[redacted]" in err
    assert canary not in err


def _as_configured_by_nobody(name: str, monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    """The logger ``name`` as it is before its library configures it (an emulator run in
    an earlier test gives uvicorn's loggers handlers of their own and a level)."""
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):  # its parents too (uvicorn.error's "uvicorn")
        log = logging.getLogger(".".join(parts[:depth]))
        monkeypatch.setattr(log, "handlers", [])
        monkeypatch.setattr(log, "propagate", True)
        monkeypatch.setattr(log, "disabled", False)
        monkeypatch.setattr(log, "level", logging.NOTSET)
    logging.getLogger().manager._clear_cache()  # type: ignore[attr-defined]  # levels cached
    return logging.getLogger(name)

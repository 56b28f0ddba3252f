"""What decides how the test suite runs: full-size stress runs and spec-conformance tests.

``make test`` runs every test at a size that fits its time budget (the whole suite under
8 minutes on two idle cores, no test past half its 120 s timeout). The fault storm and
the SIGKILL test also have a full size (2,000 orders, 50 kills): ``make stress`` runs
them alone with ``BROKERLINK_STRESS=1``; ``sized(small, full)`` picks the size, and the
``stress`` marker names the tests that have one.

Spec-conformance tests check the emulators against the brokers' published specs, which
live beside the repository in ``../shared/specs``. ``requires_specs("alpaca",
"trading-api.json")`` marks a test that reads one; where it is missing the test is
skipped with the reason, except under ``CI=true``, where it fails: CI must never pass
by checking nothing. ``tests/conftest.py`` applies the rule.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS = Path(os.environ.get("BROKERLINK_SPECS") or REPO.parent / "shared" / "specs")
"""The brokers' specs: ``../shared/specs`` (see its README), or ``BROKERLINK_SPECS``."""

STRESS = os.environ.get("BROKERLINK_STRESS", "") not in ("", "0")
"""Full-size run (``make stress``)."""


def sized(small: int, full: int) -> int:
    """``full`` under ``make stress`` (``BROKERLINK_STRESS=1``), else ``small``."""
    return full if STRESS else small


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``, as GitHub Actions and most CIs set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def requires_specs(*parts: str) -> pytest.MarkDecorator:
    """Mark a test (or, as ``pytestmark``, a module) that reads ``../shared/specs/<parts>``.

    Missing: skipped with the reason, or failed under ``CI=true``.
    """
    return pytest.mark.requires_specs(SPECS.joinpath(*parts))


def check_specs(item: pytest.Item) -> None:
    """Skip or fail ``item`` when a spec file it requires is missing (module docstring).
    Called from ``pytest_runtest_setup``."""
    for marker in item.iter_markers("requires_specs"):
        path = Path(marker.args[0])
        if path.is_file():
            continue
        reason = (f"spec file {path} not found (the specs live beside the repository "
                  "in ../shared/specs)")
        if in_ci():
            pytest.fail(f"{reason}; under CI=true a spec-conformance test must not skip",
                        pytrace=False)
        pytest.skip(reason)


__all__ = ["REPO", "SPECS", "STRESS", "check_specs", "in_ci", "requires_specs", "sized"]

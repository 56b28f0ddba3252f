"""Suite-wide hooks: spec-conformance tests skip, or fail under ``CI=true``, when
``../shared/specs`` is missing (``tests/suite.py``)."""

from __future__ import annotations

import pytest

from tests.suite import check_specs


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_specs(item)

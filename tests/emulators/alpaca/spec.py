"""Alpaca's official OpenAPI files as JSON Schema validators, for checking the emulator.

The specs live outside the repository, in ``../shared/specs/alpaca`` (see
``specs/README.md``); tests skip with a reason where that folder is absent, and fail
under ``CI=true`` (``tests.suite.requires_specs``). OpenAPI 3.0
is not JSON Schema: ``nullable: true`` becomes a ``null`` type (and a ``None`` enum
member), and ``$ref`` s resolve inside the spec's own ``components``. Formats
``date-time`` and ``uuid`` are checked; unknown formats (``decimal``, ...) are not.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from tests.suite import SPECS as ALL_SPECS
from tests.suite import requires_specs as _requires

SPECS = ALL_SPECS / "alpaca"
TRADING = "trading-api.json"
MARKET_DATA = "market-data-api.json"

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")

requires_specs = _requires("alpaca", TRADING)
"""Skips where the specs are missing, fails under ``CI=true`` (``tests/suite.py``)."""

_FORMATS = FormatChecker(formats=())


def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(re.match(r"^\d{4}-\d{2}-\d{2}$", value))


_FORMATS.checks("date-time")(_is_datetime)
_FORMATS.checks("uuid", raises=ValueError)(_is_uuid)
_FORMATS.checks("date")(_is_date)


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (``nullable`` only; the rest is shared)."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _convert(value) for key, value in node.items()
                 if key not in ("nullable", "example", "examples", "x-examples")}
    if node.get("nullable") is True:
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
        if "enum" in converted and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
        if "$ref" in converted:
            converted = {"anyOf": [{"$ref": converted.pop("$ref")}, {"type": "null"}],
                         **converted}
    return converted


@functools.cache
def spec(name: str) -> dict[str, Any]:
    with (SPECS / name).open() as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@functools.cache
def _components(name: str) -> dict[str, Any]:
    converted: dict[str, Any] = _convert(spec(name)["components"])
    return converted


def validator(schema_name: str, *, api: str = TRADING, array: bool = False) -> Draft202012Validator:
    """A validator for ``components/schemas/<schema_name>`` (or an array of it)."""
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    root: dict[str, Any] = {"components": _components(api),
                            **({"type": "array", "items": ref} if array else ref)}
    return Draft202012Validator(root, format_checker=_FORMATS)


def properties(schema_name: str, *, api: str = TRADING) -> set[str]:
    """The property names a schema declares."""
    return set(spec(api)["components"]["schemas"][schema_name].get("properties", {}))


def check(instance: Any, schema_name: str, *, api: str = TRADING,
          extra_keys: frozenset[str] = frozenset(),
          date_only: frozenset[str] = frozenset()) -> None:
    """Assert ``instance`` validates against the named schema and uses no key the
    schema does not declare (catching misspelled optional fields, which JSON Schema
    alone lets through); ``extra_keys`` lists keys the spec's own examples use.
    ``date_only`` names top-level ``date-time`` fields allowed to be plain dates, where
    the spec's own example disagrees with its schema."""
    errors = sorted((e for e in validator(schema_name, api=api).iter_errors(instance)
                     if not (e.validator == "format" and len(e.absolute_path) == 1
                             and e.absolute_path[0] in date_only
                             and _is_date(e.instance))), key=str)
    assert not errors, f"{schema_name}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
    if isinstance(instance, dict):
        unknown = set(instance) - properties(schema_name, api=api) - extra_keys
        assert not unknown, f"{schema_name}: keys not in the spec: {sorted(unknown)}"


def example(name: str) -> Any:
    """A named example from ``components/examples`` of the trading spec."""
    return spec(TRADING)["components"]["examples"][name]["value"]

"""The broker registry: every installed ``BrokerSpec``, found without naming a broker.

Specs come from three places, in this order: every package under ``brokerlink.adapters``
(except ``_shared``) that exports ``SPEC``; the ``brokerlink.brokers`` entry point group
(a broker shipped as its own distribution); and ``register`` (tests, applications).
Discovery runs once, on first use, and imports only each package's ``__init__`` (which
imports only its ``spec.py``), so listing brokers loads no adapter.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any

from brokerlink.adapters._shared.spec import BrokerSettings, BrokerSpec
from brokerlink.core.enums import BrokerType, normalize_broker_name
from brokerlink.core.errors import NotSupportedError
from brokerlink.core.interface import BrokerInterface

logger = logging.getLogger("brokerlink.adapters.registry")

ENTRY_POINT_GROUP = "brokerlink.brokers"
_PACKAGE = "brokerlink.adapters"

_specs: dict[BrokerType, BrokerSpec] | None = None


def _discover() -> dict[BrokerType, BrokerSpec]:
    found: dict[BrokerType, BrokerSpec] = {}
    package = importlib.import_module(_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.ispkg or module.name.startswith("_"):
            continue
        _add(found, _load_spec(f"{_PACKAGE}.{module.name}"), origin=module.name)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = entry.load()
        except Exception:  # a broken plug-in must not hide the installed brokers
            logger.warning("broker plug-in %s could not be loaded", entry.name, exc_info=True)
            continue
        _add(found, spec, origin=f"entry point {entry.name}")
    return found


def _load_spec(module_name: str) -> object:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        logger.warning("broker package %s could not be imported", module_name, exc_info=True)
        return None
    return getattr(module, "SPEC", None)


def _add(found: dict[BrokerType, BrokerSpec], spec: object, *, origin: str) -> None:
    if spec is None:
        return
    if not isinstance(spec, BrokerSpec):
        logger.warning("%s exports SPEC that is not a BrokerSpec; skipped", origin)
        return
    if spec.broker_type in found:
        logger.warning("%s registers %s again; the first one is kept", origin,
                       spec.broker_type)
        return
    found[spec.broker_type] = spec


def _all() -> dict[BrokerType, BrokerSpec]:
    global _specs
    if _specs is None:
        _specs = _discover()
    return _specs


def specs() -> list[BrokerSpec]:
    """Every installed broker's spec, sorted by broker name."""
    return sorted(_all().values(), key=lambda spec: spec.broker_type.value)


def available() -> list[BrokerType]:
    """Brokers with an adapter in this installation."""
    return [spec.broker_type for spec in specs()]


def resolve(broker: BrokerType | str) -> BrokerSpec:
    """The spec of ``broker`` (its type, name or an alias, in any case).

    Raises ``NotSupportedError`` naming the installed brokers when none matches.
    """
    key = normalize_broker_name(str(broker))
    for spec in _all().values():
        if key in spec.names:
            return spec
    ready = ", ".join(b.value for b in available())
    raise NotSupportedError(f"no adapter for {str(broker)!r} here; available: {ready}",
                            broker=key[:40])


def register(spec: BrokerSpec) -> None:
    """Add ``spec`` (replacing an earlier spec of the same broker type)."""
    _all()[spec.broker_type] = spec


def unregister(broker: BrokerType | str) -> None:
    """Remove a registered broker; nothing happens if it is not registered."""
    _all().pop(BrokerType.parse(broker), None)


@contextmanager
def registered(spec: BrokerSpec) -> Iterator[BrokerSpec]:
    """``register`` for the duration of a ``with`` block, restoring what was there."""
    table = _all()
    before = table.get(spec.broker_type)
    table[spec.broker_type] = spec
    try:
        yield spec
    finally:
        if before is None:
            table.pop(spec.broker_type, None)
        else:
            table[spec.broker_type] = before


def create_broker(broker: BrokerType | str | BrokerSettings,
                  **settings: Any) -> BrokerInterface:
    """Build the ``BrokerInterface`` for ``broker``.

    ``broker`` is a ``BrokerType``, name or alias with keyword ``settings``, which the
    broker's own settings model validates (paper takes ``cash``, ``market``, ``seed``,
    ...); or an instance of a broker's settings model, fully typed, with no keywords.
    Raises ``NotSupportedError`` for a broker not installed and ``ValueError`` (pydantic's
    ``ValidationError``) naming any setting the broker does not take or cannot use.
    Nothing connects until ``connect()``.
    """
    if isinstance(broker, BrokerSettings):
        if settings:
            raise ValueError("pass either a settings model or keyword settings, not both")
        spec = _spec_of_settings(broker)
        return spec.create(broker)
    spec = resolve(broker)
    return spec.create(spec.settings_model.model_validate(settings))


def _spec_of_settings(settings: BrokerSettings) -> BrokerSpec:
    for spec in _all().values():
        if type(settings) is spec.settings_model:
            return spec
    raise NotSupportedError(f"{type(settings).__name__} is not the settings model of an "
                            "installed broker")


__all__ = ["ENTRY_POINT_GROUP", "available", "create_broker", "register", "registered",
           "resolve", "specs", "unregister"]

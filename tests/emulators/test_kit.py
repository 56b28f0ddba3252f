"""The emulator kit: every emulator package has the kit's files and names, and the
shared pieces answer in each broker's own shapes (checked against the spec files in
``../shared/specs``, never against an adapter)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from brokerlink.emulators import EmulatorEnv, EmulatorServer, EmulatorSpec, registry
from brokerlink.emulators._shared.oauth_config import OAuthServerConfig
from brokerlink.emulators._shared.ratelimit import RateLimitPolicy
from tests.emulators.alpaca.spec import check, requires_specs

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PACKAGE = Path(importlib.import_module("brokerlink.emulators").__path__[0])
KIT_FILES = ("__init__.py", "spec.py", "oauth.py", "app.py", "context.py", "errors.py",
             "serialize.py", "orders.py", "stream.py")
"""The files every ``emulators/<broker>/`` holds (docs/adding-a-broker.md)."""
SHARED = PACKAGE / "_shared"
HEADERS = {
    "alpaca": {"APCA-API-KEY-ID": "PKKITTEST01", "APCA-API-SECRET-KEY": "kit-secret-0001"},
    "tradier": {"Authorization": "Bearer kit-test-token-1", "Accept": "application/json"},
}
READ = {"alpaca": "/v2/account", "tradier": "/v1/user/profile"}


def test_every_emulator_package_follows_the_kit() -> None:
    packages = sorted(p.name for p in PACKAGE.iterdir()
                      if p.is_dir() and not p.name.startswith("_") and
                      (p / "__init__.py").is_file())
    assert packages == registry.names()
    for name in packages:
        missing = [f for f in KIT_FILES if not (PACKAGE / name / f).is_file()]
        assert missing == [], f"emulators/{name} lacks {missing}"
        package = importlib.import_module(f"brokerlink.emulators.{name}")
        assert package.__all__ == ["EMULATOR"]
        spec = package.EMULATOR
        assert isinstance(spec, EmulatorSpec)
        assert spec.name == name
        assert isinstance(spec.oauth, OAuthServerConfig)
        assert isinstance(spec.rate_limit, RateLimitPolicy)
        assert spec.oauth is importlib.import_module(
            f"brokerlink.emulators.{name}.oauth").OAUTH
        app = spec.create_app(seed=3)
        assert isinstance(app, FastAPI)
        assert app.state.env.broker == spec.broker_type
        assert app.state.spec is spec


def test_shared_code_and_registry_name_no_broker() -> None:
    for path in [*SHARED.glob("*.py"), PACKAGE / "registry.py"]:
        text = path.read_text().lower()
        for name in registry.names():
            assert name not in text, f"{path.name} names {name}"


def test_broker_packages_import_nothing_heavy() -> None:
    code = ("import sys; from brokerlink.emulators import registry; registry.specs(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', "
            "'brokerlink.sim.engine') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603 - our own code
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_registry_keeps_its_public_functions() -> None:
    assert registry.available() == registry.names()
    assert registry.load("Alpaca ") is registry.spec("alpaca").create_app.load()
    assert isinstance(registry.create_app("tradier", seed=4), FastAPI)
    with pytest.raises(KeyError):
        registry.load("nope")


@pytest.fixture(params=["alpaca", "tradier"])
async def served(request: pytest.FixtureRequest
                 ) -> AsyncIterator[tuple[str, EmulatorEnv, httpx.AsyncClient]]:
    name: str = request.param
    spec = registry.spec(name)
    env = EmulatorEnv.create(spec.broker_type, start=START)
    async with EmulatorServer(spec.create_app(env)) as server, httpx.AsyncClient(
            base_url=server.url, headers=HEADERS[name]) as http:
        yield name, env, http


async def test_unknown_routes_answer_in_the_brokers_shape(
        served: tuple[str, EmulatorEnv, httpx.AsyncClient]) -> None:
    name, _, http = served
    for response in (await http.get("/v2/nothing-here"), await http.get("/v1/nope"),
                     await http.delete(READ[name])):
        assert response.status_code in (404, 405)
        body = response.json()
        assert "detail" not in body
        if name == "alpaca":
            assert set(body) == {"code", "message"}
            assert body["code"] // 100_000 == response.status_code
        else:  # REFERENCE.md section 5: {"errors": {"error": "<message>"}}
            assert set(body) == {"errors"}
            assert isinstance(body["errors"]["error"], str)


@requires_specs
async def test_alpaca_unknown_route_validates_against_the_openapi_error() -> None:
    spec = registry.spec("alpaca")
    async with EmulatorServer(spec.create_app()) as server, httpx.AsyncClient(
            base_url=server.url) as http:
        response = await http.get("/v2/unknown")
    assert response.status_code == 404
    check(response.json(), "Error")
    assert response.json()["code"] == 40410000


async def test_rate_window_enforces_the_documented_limit_in_the_brokers_429(
        served: tuple[str, EmulatorEnv, httpx.AsyncClient]) -> None:
    name, env, http = served
    documented = {"alpaca": 200, "tradier": 120}[name]
    first = await http.get(READ[name])
    assert first.status_code == 200
    state = env.rates.charge("probe", "GET", READ[name])
    assert state.limit == documented
    # Use the rest of the window cheaply, then one request over the limit over HTTP.
    bucket = env.rates.policy.bucket_for("GET", READ[name])
    env.rates.policy = replace(env.rates.policy, limits={
        **env.rates.policy.limits, bucket: 3})
    statuses = [(await http.get(READ[name])).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await http.get(READ[name])
    assert refused.status_code == 429
    if name == "alpaca":  # REFERENCE.md section 6/7
        assert refused.json() == {"code": 42910000, "message": "rate limit exceeded"}
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.headers["x-ratelimit-limit"] == "3"
    else:  # REFERENCE.md section 6: X-Ratelimit-* with expiry in epoch milliseconds
        assert refused.text == "Rate limit exceeded"
        assert refused.headers["x-ratelimit-available"] == "0"
        assert int(refused.headers["x-ratelimit-expiry"]) > 10**12
    env.rates.reset()
    assert (await http.get(READ[name])).status_code == 200

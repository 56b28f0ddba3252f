# Each target works on a fresh clone: it builds .venv with python3 -m venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit stress bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/brokerlink demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict

# Budget: the whole of `make test` under 8 minutes on two idle cores, no test past half
# its 120 s timeout; the 25 slowest are listed at the end to keep it so.
unit: $(STAMP)
	$(BIN)/pytest --durations=25

test: lint typecheck unit

# The full-size fault storm (2,000 orders) and SIGKILL test (50 kills), which `make test`
# runs small; several minutes each, so their timeout is raised here (README: Stress runs).
stress: $(STAMP)
	BROKERLINK_STRESS=1 $(BIN)/pytest -m stress --timeout=1800 --durations=0 -s \
		tests/integration/journal

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

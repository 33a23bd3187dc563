# onething — two commands on a fresh machine:
#   make run    serve the platform on http://127.0.0.1:8000 with an embedded SQLite database and demo data
#   make test   run the whole suite (installs what it needs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install deps lint check clean upgrade

# Installs exactly what requirements.lock pins (with hashes), then the project itself without resolving again:
# a new release of a dependency changes nothing until `make upgrade` refreshes the lock in a commit of its own.
$(BIN)/onething: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(BIN)/onething

install: $(BIN)/onething

# A local demo (ONETHING_DEMO=1): demo registries, a random key in var/, cookies over plain http. Production
# sets ONETHING_SECRET_KEY and runs `onething serve` without it (docs/deployment.md).
run: install
	$(BIN)/onething db upgrade
	ONETHING_DEMO=1 $(BIN)/onething demo load
	ONETHING_DEMO=1 $(BIN)/onething serve --host $(HOST) --port $(PORT)

# System pieces the tests drive for real: Chromium (Debian's), PostgreSQL (a server or local binaries), axe-core.
deps: install
	bash scripts/test-deps.sh

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/onething db check
	$(BIN)/onething catalog validate --require-guide

test: deps lint
	$(BIN)/python -m pytest -n 2 -q --durations=25

# Refresh requirements.lock to the newest releases the ranges in pyproject.toml allow (hashes included), install
# it and run the whole suite on it; commit the lock on its own when the suite passes.
upgrade: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --upgrade --extra dev --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(MAKE) test

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .ruff_cache .mypy_cache

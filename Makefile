# onething — two commands on a fresh machine:
#   make run    serve the platform on http://127.0.0.1:8000 with an embedded SQLite database and demo data
#   make test   run the whole suite (installs what it needs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install deps lint check clean

$(BIN)/onething: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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
	$(BIN)/onething catalog validate

test: deps lint
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .ruff_cache .mypy_cache

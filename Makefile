# medgate: `make demo` runs a whole consortium on the embedded default; `make test` runs every check.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck contracts pytest bench system-deps browser-deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: PostgreSQL binaries (throwaway server when none answers) and Chromium.
system-deps:
	@bash .ci/system-deps.sh

# axe-core (npm registry) for the portal's accessibility test, into tests/browser/axe/node_modules.
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/axe/package.json
	npm install --prefix tests/browser/axe --no-audit --no-fund --silent
	touch $(AXE)

browser-deps: $(AXE)

demo: $(STAMP)
	$(BIN)/medgate demo --dir $(or $(DIR),.demo) --fresh $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check gateway ledger policies tests bench
	$(BIN)/ruff check gateway ledger policies tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) system-deps browser-deps
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

check: lint typecheck contracts

test: check pytest

bench: $(STAMP)
	$(BIN)/python bench/ledger_commit.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache

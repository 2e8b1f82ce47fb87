# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

## Start Utskick on its embedded default (SQLite under ./var) and print where to open it.
run: $(STAMP)
	$(BIN)/utskick serve

## Install what the tests need and run them (PostgreSQL tests skip if it is not reachable).
test: $(DEV_STAMP)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

## ruff, mypy and import-linter.
lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Benchmarks; figures go into docs/performance.md.
bench: $(STAMP)
	$(BIN)/utskick bench sign --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

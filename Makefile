# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# The independent E-ARK validator pins lxml 5.1, which Utskick's lxml 6 excludes: a venv of
# its own, which the archive tests run as a subprocess (tests/support/eark_validate.py).
EARK_VENV := .venv-eark
EARK_STAMP := $(EARK_VENV)/.installed-eark-validator-1.1.3

.PHONY: run test lint bench install install-dev browser eark-validator clean

# Debian's Chromium for the browser tests (playwright's own download does not work everywhere).
# As root, or with password-less sudo; otherwise the browser tests skip and say why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

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
test: $(DEV_STAMP) browser eark-validator
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

$(EARK_STAMP):
	$(PYTHON) -m venv $(EARK_VENV)
	$(EARK_VENV)/bin/pip install --quiet eark-validator==1.1.3
	touch $@

## The E-ARK validator the archive tests use (in its own venv, .venv-eark).
eark-validator: $(EARK_STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 && \
	  ( $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	    ( $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q chromium >/dev/null ) ); \
	} || echo "Chromium could not be installed (apt-get install chromium): the browser tests will skip."

## ruff (lint and format), mypy and import-linter.
lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/import_cycles.py

## Benchmarks; figures go into docs/performance.md.
bench: $(STAMP)
	$(BIN)/utskick bench sign --json
	$(BIN)/utskick bench checks --json
	$(BIN)/utskick bench far --json
	$(BIN)/utskick bench deliver --json

clean:
	rm -rf $(VENV) $(EARK_VENV) .pytest_cache .mypy_cache .ruff_cache

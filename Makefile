# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Every dependency, direct and indirect, pinned with the hashes of its files: pip refuses any
# file whose hash is not in the lock. Both are made from pyproject.toml by `make lock`, for
# Linux x86_64 and Python 3.11; the runtime lock takes its versions from the development lock.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --all-build-deps --no-emit-index-url --no-emit-find-links
# The independent E-ARK validator pins lxml 5.1, which Utskick's lxml 6 excludes: a venv of
# its own, which the archive tests run as a subprocess (tests/support/eark_validate.py).
EARK_VENV := .venv-eark
EARK_STAMP := $(EARK_VENV)/.installed-eark-validator-1.1.3

.PHONY: run test lint bench install install-dev lock audit browser eark-validator clean

# Debian's Chromium for the browser tests (playwright's own download does not work everywhere).
# As root, or with password-less sudo; otherwise the browser tests skip and say why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The locked packages first (setuptools, the build backend, among them), then Utskick itself
# with no dependencies of its own and built with that setuptools: nothing unhashed comes in.
# `pip check` then finds a dependency that pyproject.toml names but the lock lacks or pins
# otherwise (a lock not made again after a change).
LOCK_MATCHES_PYPROJECT = $(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	echo "The lock does not match pyproject.toml: run make lock, then install again."; exit 1; }

$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(LOCK_MATCHES_PYPROJECT)
	touch $@

$(DEV_STAMP): $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(LOCK_MATCHES_PYPROJECT)
	touch $@ $(STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

## Make the locks again from pyproject.toml, keeping every version that still fits. To move on:
## make lock LOCK_ARGS="--upgrade-package NAME" (one package) or LOCK_ARGS=--upgrade (all).
# Only the locked packages (pip-tools among them), not the check: it fails until this has run.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PIP_COMPILE) $(LOCK_ARGS) --extra dev -o $(DEV_LOCK) pyproject.toml
	rm -f $(LOCK)
	$(PIP_COMPILE) --constraint $(DEV_LOCK) -o $(LOCK) pyproject.toml

## Known vulnerabilities in the locked packages (pip-audit; the development lock holds them all).
## Fails on a vulnerability, and when the advisories cannot be reached: AUDIT_ARGS=--allow-unchecked
## reports that instead of failing.
audit: $(DEV_STAMP)
	$(BIN)/python .ci/audit_dependencies.py $(DEV_LOCK) $(AUDIT_ARGS)

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

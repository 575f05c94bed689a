# Two entry points for a fresh machine: `make run` (the main job on the shipped sample data)
# and `make test` (every test). Both create .venv on first use; `make test` also installs the
# system packages its tests drive (Debian's chromium and mariadb-server, only when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install services

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv

install: $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'

run: $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e .
	$(BIN)/datapipeline run

services:
	./scripts/install-browser.sh
	./scripts/install-test-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install services lint
	$(BIN)/pytest

# Two entry points, both safe on a fresh machine: `make quickstart` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup quickstart test test-fast benchmarks

$(BIN)/modomodo: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: the CPU wheel on this machine's disk; then the project and its extras, at the
	# known-good versions of constraints.txt, so that the figures in docs/ reproduce.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,ray]'
	touch $(BIN)/modomodo

setup: $(BIN)/modomodo

quickstart: setup
	HF_HUB_OFFLINE=1 $(BIN)/modomodo run examples/quickstart.toml

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

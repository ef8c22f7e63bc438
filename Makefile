# The lab's entry points. Every target creates .venv/ (once) and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEIGHTS ?= auto

.PHONY: setup lab serve check test benchmark clean

# Reinstalled only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

## The main job: the notebooks in JupyterLab (as root too; with no display it prints the address).
## Extra JupyterLab options: make lab LAB_ARGS=--port=8899
lab: setup
	scripts/start-lab $(LAB_ARGS)

## The model server and the web app together, in the foreground (Ctrl-C stops both).
serve: setup
	$(BIN)/python -m harness.serve --weights $(WEIGHTS)

## The fast checks, in seconds: lint (ruff) and types (mypy; what it checks is in pyproject.toml).
check: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

## The test suite, notebooks and a real browser included; the fast checks first, so that a lint or
## type error fails in seconds.
test: setup check
	scripts/ensure-browser
	scripts/ensure-network-tools
	$(BIN)/python -m pytest

## Every way of serving the model, measured: writes benchmarks/results/ (takes ~15 minutes).
benchmark: setup
	$(BIN)/python -m pip install --quiet -e ".[benchmark]"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache

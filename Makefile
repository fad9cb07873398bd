# Every target does its own set-up: a fresh machine needs only Python 3.11 and git.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
ALERT  ?= example-repo/alerts/KubePodCrashLooping.json

.PHONY: install run test check lint format typecheck layers bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## run: the product on embedded defaults (validate the example repository, plan a sample alert)
run: install
	$(BIN)/reconciler validate example-repo
	$(BIN)/reconciler plan --alert $(ALERT) example-repo

## test: the whole test suite
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/ruff format --check reconciler tests bench

format: install
	$(BIN)/ruff format reconciler tests bench
	$(BIN)/ruff check --fix reconciler tests bench

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

## check: everything CI checks
check: lint typecheck layers test

bench: install
	$(BIN)/python bench/loading.py
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/engine.py --runs 3

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis

# Every target does its own set-up: a fresh machine needs only Python 3.11 and git.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
STATE  ?= .reconciler
PORT   ?= 8080

.PHONY: install run test check lint format typecheck layers bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## run: the service on embedded defaults: example-repo as a local Git repository, a simulated
## cluster (example-repo/cluster.yaml) with a kubeconfig for it in $(STATE)/kubeconfig, SQLite
## under $(STATE), the webhook and API on http://127.0.0.1:$(PORT) (`make run PORT=9090`;
## Ctrl-C stops it)
run: install
	rm -rf $(STATE)/example-repo && mkdir -p $(STATE) && cp -R example-repo $(STATE)/example-repo
	git -C $(STATE)/example-repo init -q -b main
	git -C $(STATE)/example-repo add -A
	git -C $(STATE)/example-repo -c user.name=reconciler -c user.email=reconciler@localhost \
		commit -q -m "example-repo"
	@echo "reconciler: http://127.0.0.1:$(PORT); in another terminal, once it says \"serving\":"
	@echo "  $(BIN)/reconciler status --server http://127.0.0.1:$(PORT)"
	@echo "  kubectl --kubeconfig $(STATE)/kubeconfig get pods -A    # the simulated cluster"
	$(BIN)/reconciler run --repo $(STATE)/example-repo --state-dir $(STATE) \
		--listen 127.0.0.1:$(PORT) --cluster sim:example-repo/cluster.yaml \
		--sim-kubeconfig $(STATE)/kubeconfig

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
	$(BIN)/python bench/actions.py --runs 3
	$(BIN)/python bench/service.py --runs 2
	$(BIN)/python bench/overload.py --runs 1

clean:
	rm -rf $(VENV) $(STATE) .mypy_cache .pytest_cache .ruff_cache .hypothesis

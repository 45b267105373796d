# One entry point for people and CI. `make test` sets up .venv from the
# project's own files and runs every check (what CI runs); `make test-fast`
# runs the checks and every test that needs no TensorFlow, no browser, no Ray
# cluster and no long run (the pytest markers in pyproject.toml), for every
# change; `make example` generates the
# example's data, then trains and deploys the example stack on the local
# backend, shows its status and a prediction.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast test-ray lint example bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/ruff format --check reconciler tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The Ray tests start a real cluster: in a network namespace whose only interface is
# loopback (Ray would otherwise use this machine's routable address), as root.
ISOLATED := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'

test: lint
	$(BIN)/python -m pytest -q -m "not ray"
	$(MAKE) --no-print-directory test-ray

test-ray: $(STAMP)
	$(ISOLATED) $(BIN)/python -m pytest -q -m ray

FAST := not (tensorflow or browser or ray or slow)

test-fast: lint
	$(BIN)/python -m pytest -q -m "$(FAST)"

example: $(STAMP)
	test -f manifests/data/taxi-train.csv || $(BIN)/python manifests/data/generate.py
	$(BIN)/mlapply manifests/ --auto-approve
	$(BIN)/mlapply status manifests/
	$(BIN)/mlapply predict taxifare manifests/ --json-instances manifests/sample-request.json

bench: $(STAMP)
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

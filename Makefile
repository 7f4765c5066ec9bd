# Two commands: `make run` (set up + run the main job on embedded defaults) and
# `make test` (set up + run the whole test suite). Both are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := tests/node_modules/.installed-stamp
ASSETS_STAMP := api/assets/node_modules/.installed-stamp

# two test processes (pytest-xdist), each module on one of them (its shared sandbox, Ray or
# server fixtures stay together): most end-to-end tests wait on I/O, so 2 cores run the
# whole suite in about half the time. PYTEST_PARALLEL= runs it in one process.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: setup run test test-fast lint fmt system-deps bench clean

# scripts/install.sh is the one install, shared with the cluster nodes' image (Dockerfile)
$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh python $(VENV) dev --editable
	@touch $(STAMP)

# Debian's chromium (Playwright drives it; Playwright's own browser download cannot work
# offline; scripts/install.sh, as the image does) and the pinned node packages of the
# TimescaleDB tests. Skipped with a message where they cannot be installed (no root, no
# npm): the tests that need them then skip.
system-deps:
	@scripts/install.sh system
	@if [ -f tests/package-lock.json ] && [ ! -f $(NODE_STAMP) ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    (cd tests && npm ci --no-audit --no-fund --loglevel=error) && touch $(NODE_STAMP); \
	  else echo "note: npm missing; TimescaleDB tests will skip"; fi; fi
	@# the dashboard's and /schema's third-party scripts, pinned by api/assets/package-lock.json
	@# and served from our own origin (/assets/...); reinstalled when the lockfile changes
	@if [ ! -f $(ASSETS_STAMP) ] || [ api/assets/package-lock.json -nt $(ASSETS_STAMP) ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    (cd api/assets && npm ci --no-audit --no-fund --loglevel=error) && touch $(ASSETS_STAMP); \
	  else echo "note: npm missing; the dashboard's chart, htmx and the API reference need it (apt-get install npm)"; fi; fi

setup: $(STAMP) system-deps

run: setup
	$(BIN)/ripcity run

# the import rules (pyproject's [tool.importlinter] contracts) are checked before the tests
test: setup
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-fast: setup
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check crawler engine api storage bench tests || true

# the scale-out benchmarks, measured again: Debian's wrk is the API's load generator
# (scripts/install.sh bench); their JSON lands in bench/results/, from which
# `python -m bench.capacity` computes README's sizing (paste its output there)
bench: setup
	@scripts/install.sh bench
	@mkdir -p bench/results
	set -o pipefail; $(BIN)/python -m bench.api --processes 2 | tail -1 > bench/results/api.json
	set -o pipefail; $(BIN)/python -m bench.pipeline --listings 200000 --nodes 2 \
	  | tail -1 > bench/results/pipeline.json
	set -o pipefail; $(BIN)/python -m bench.alerts | tail -1 > bench/results/alerts.json
	$(BIN)/python -m bench.capacity

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) tests/node_modules api/assets/node_modules .pytest_cache .ruff_cache

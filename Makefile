# hr-pipeline: `make run` to run it, `make test` to test it. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .hr/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
HR := $(VENV)/bin/hr
# uv must use this machine's Python, never download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Install compiled bytecode: where PYTHONDONTWRITEBYTECODE is set (as on CI machines and in
# the image) every process would otherwise compile Dagster's ~1,000 modules again, ~1 s each start.
export UV_COMPILE_BYTECODE := 1

.PHONY: run test test-fast test-integration test-api test-deploy test-browser stop install lint \
	bench-ingest bench-api bench-web bench-scale bench-study bench-export soak web web-test clean

# The dashboard (web/): built into web/dist, which the API serves under /app/.
WEB_TOOLCHAIN := web/toolchain.sh
WEB_INSTALLED := web/node_modules/.installed
WEB_BUILT := web/dist/.built
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package.json \
	web/package-lock.json web/vite.config.ts $(wildcard web/tsconfig*.json)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

$(WEB_INSTALLED): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

# Rebuilt only when a source changed (vite empties dist/, so the stamp is written after it).
$(WEB_BUILT): $(WEB_INSTALLED) $(WEB_SOURCES)
	cd web && npm run build
	@touch $@

# Builds the dashboard if Node.js can; without it says so and carries on (the API runs without it).
web:
	@if problem=$$($(WEB_TOOLCHAIN) node); then $(MAKE) --no-print-directory $(WEB_BUILT); \
	else echo "*** dashboard not built: $$problem; the API runs without it (/app/ answers 404)"; fi

# The dashboard's unit tests (Vitest), and Chromium for its browser tests (pytest -m browser).
web-test:
	@$(WEB_TOOLCHAIN) chromium >/dev/null || echo "*** browser tests will be skipped: $$($(WEB_TOOLCHAIN) chromium 2>/dev/null)"
	@if problem=$$($(WEB_TOOLCHAIN) node); then $(MAKE) --no-print-directory $(WEB_BUILT) && cd web && npm test; \
	else echo "*** SKIPPED the dashboard's unit tests and build (the browser tests skip too): $$problem"; fi

# The API runs without keys here (loopback only) unless HR_API_AUTH says otherwise.
run: install web
	$(HR) setup
	$(HR) backfill --last-days 7
	HR_API_AUTH=$${HR_API_AUTH:-off} $(HR) serve

# The tests, in layers (docs/testing.md): `make test` runs every layer, a pytest-xdist worker per core,
# each worker with its own embedded PostgreSQL; `make test-fast` is the inner loop (the unit layer: pure,
# no server); test-integration, test-api, test-deploy and test-browser run one layer each. ARGS passes
# pytest options (ARGS="-k sensor"). With HR_TEST_TIMESCALE_URL set, the timescale-marked tests run too.
PYTEST := $(VENV)/bin/python -m pytest
# loadgroup: the tests sharing one expensive fixture run on one worker (see the layers' conftest.py).
PARALLEL := -n auto --dist loadgroup
TESTS := hr_assets_tests
# The API's fuzz suite runs in one process after the others: schemathesis makes its cases inside the test
# (one per operation), which pytest-xdist's workers do not (a fuzz test there sends almost no requests).
FUZZ := hr_assets_tests/api/test_api_fuzz.py
# FUZZ_RUN= leaves that second step out: a test of `make test` itself, selecting one file, runs only that.
FUZZ_RUN := $(FUZZ)

test: install web-test
	@bash monitoring/install-tools.sh
	$(PYTEST) $(PARALLEL) --ignore=$(FUZZ) $(ARGS)
	$(if $(FUZZ_RUN),$(PYTEST) $(FUZZ_RUN) $(ARGS))

test-fast: install
	$(PYTEST) $(PARALLEL) $(TESTS)/unit $(ARGS)

test-integration: install
	$(PYTEST) $(PARALLEL) $(TESTS)/integration $(ARGS)

test-api: install
	$(PYTEST) $(PARALLEL) $(TESTS)/api $(ARGS)

test-deploy: install
	@bash monitoring/install-tools.sh
	$(PYTEST) $(PARALLEL) $(TESTS)/deploy $(ARGS)

test-browser: install web-test
	$(PYTEST) $(PARALLEL) $(TESTS)/browser $(ARGS)

stop:
	@if [ -n "$$HR_DATABASE_URL" ]; then echo "HR_DATABASE_URL is set: no embedded server to stop"; \
	elif [ -x $(HR) ]; then $(HR) db stop; else echo "nothing to stop"; fi

lint: install
	$(VENV)/bin/ruff check hr_assets hr_api hr_assets_tests bench
	$(VENV)/bin/mypy

bench-ingest: install
	$(VENV)/bin/python bench/ingest.py $(ARGS)

bench-api: install
	$(VENV)/bin/python bench/api.py $(ARGS)

bench-web: install web
	$(VENV)/bin/python bench/web.py $(ARGS)

# Usage: make soak DURATION=30m (needs HR_TEST_TIMESCALE_URL; figures in soak-report.json)
soak: install
	HR_SOAK_DURATION=$(or $(DURATION),30m) $(VENV)/bin/python -m pytest hr_assets_tests/integration/test_soak.py -m soak -s -p no:cacheprovider

bench-scale: install
	$(VENV)/bin/python bench/scale.py $(ARGS)

bench-study: install
	$(VENV)/bin/python bench/study.py $(ARGS)

bench-export: install
	$(VENV)/bin/python bench/export.py $(ARGS)

clean: stop
	rm -rf .hr $(VENV) web/dist web/node_modules

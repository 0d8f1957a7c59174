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

.PHONY: run test stop install lint bench-ingest bench-api bench-web bench-scale soak web web-test clean

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

test: install web-test
	@bash monitoring/install-tools.sh
	$(VENV)/bin/python -m pytest

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
	HR_SOAK_DURATION=$(or $(DURATION),30m) $(VENV)/bin/python -m pytest hr_assets_tests/test_soak.py -m soak -s -p no:cacheprovider

bench-scale: install
	$(VENV)/bin/python bench/scale.py $(ARGS)

clean: stop
	rm -rf .hr $(VENV) web/dist web/node_modules

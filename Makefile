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

.PHONY: run test stop install lint bench-ingest bench-api clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

# The API runs without keys here (loopback only) unless HR_API_AUTH says otherwise.
run: install
	$(HR) setup
	$(HR) backfill --last-days 7
	HR_API_AUTH=$${HR_API_AUTH:-off} $(HR) serve

test: install
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

clean: stop
	rm -rf .hr $(VENV)

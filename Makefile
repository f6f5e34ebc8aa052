# The two commands: `make run` and `make test`. Everything else is for developers.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint format bench bench-smoke chaos browser clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## run: set up, migrate, seed the demo when empty, and start web + worker + scheduler on the embedded defaults
run: $(STAMP)
	@$(PY) -m nurture_ui.launcher

## browser: Debian's Chromium for the Playwright tests (installed when missing and running as root)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Chromium from Debian's packages…"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Chromium is missing: run 'sudo apt-get install chromium' (the browser tests need it)."; exit 1; \
		fi; \
	fi

## test: set up and run the whole suite (SQLite + embedded Redis, or DATABASE_URL / REDIS_URL when set)
test: $(STAMP) browser
	@$(PY) -m pytest $(PYTEST_ARGS)

## test-fast: everything but the browser tests
test-fast: $(STAMP)
	@$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: $(STAMP)
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

## bench: every benchmark on PostgreSQL (DATABASE_URL, else the database nurture_bench on 127.0.0.1, created
## when missing; REDIS_URL, else redis://127.0.0.1:6379/14), written to BENCHMARKS.md. BENCH_MEMORY_STEPS=1000000
## adds the worker's memory at that many due steps; BENCH_ARGS passes more (see python -m bench.report --help).
bench: $(STAMP)
	@$(PY) -m bench.report $(if $(BENCH_MEMORY_STEPS),--memory-steps $(BENCH_MEMORY_STEPS)) $(BENCH_ARGS)

## bench-smoke: the same at tiny sizes, checking only that it works (the report goes to a temp file)
bench-smoke: $(STAMP)
	@$(PY) -m bench.report --smoke $(BENCH_ARGS)

## chaos: 10,000 enrollments, three workers killed at random, Redis and PostgreSQL restarted, SMTP refusing,
## leads unsubscribing; checks every step ran once and every email arrived once (needs PostgreSQL 15 binaries)
chaos: $(STAMP)
	@$(PY) bench/chaos.py --enrollments $(or $(CHAOS_ENROLLMENTS),10000) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache

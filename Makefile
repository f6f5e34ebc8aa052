# The two commands: `make run` and `make test`. Everything else is for developers.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint format bench bench-smoke chaos browser mail-servers test-deps clean

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

## mail-servers: Debian's dovecot (IMAP + LMTP) and exim for the real-mailbox tests (installed when missing and
## running as root; the tests start their own copies on free localhost ports, never the system services)
MAIL_PACKAGES := dovecot-imapd dovecot-lmtpd exim4-daemon-light
mail-servers:
	@if [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/lmtp ] || [ ! -x /usr/sbin/exim4 ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing $(MAIL_PACKAGES) from Debian's packages…"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				-o Dpkg::Options::=--force-confdef $(MAIL_PACKAGES) >/dev/null; \
			for service in dovecot exim4; do \
				(command -v systemctl >/dev/null && systemctl disable --now $$service >/dev/null 2>&1) || \
				service $$service stop >/dev/null 2>&1 || true; \
			done; \
		else \
			echo "dovecot/exim missing: the real-mailbox tests will skip (sudo apt-get install $(MAIL_PACKAGES))."; \
		fi; \
	fi

## test-deps: what the tests need from the system (Chromium, the mail servers)
test-deps: browser mail-servers

## test: set up and run the whole suite (SQLite + embedded Redis, or DATABASE_URL / REDIS_URL when set)
test: $(STAMP) test-deps
	@$(PY) -m pytest $(PYTEST_ARGS)

## test-fast: everything but the browser tests
test-fast: $(STAMP) mail-servers
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
## Exits non-zero when a target is missed (each missed one printed). Needs pgbench and exim4 (make mail-servers).
bench: $(STAMP) mail-servers
	@$(PY) -m bench.report $(if $(BENCH_MEMORY_STEPS),--memory-steps $(BENCH_MEMORY_STEPS)) $(BENCH_ARGS)

## bench-smoke: the same at tiny sizes, checking only that it works (the report goes to a temp file; fails on
## errors, never on a missed target)
bench-smoke: $(STAMP) mail-servers
	@$(PY) -m bench.report --smoke $(BENCH_ARGS)

## chaos: 10,000 enrollments, three workers killed at random, Redis and PostgreSQL restarted, SMTP refusing,
## leads unsubscribing; checks every step ran once and every email arrived once (needs PostgreSQL 15 binaries)
chaos: $(STAMP)
	@$(PY) bench/chaos.py --enrollments $(or $(CHAOS_ENROLLMENTS),10000) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache

# Two commands for a new user: `make run` serves the app, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# How the product is always served (lib/server/http_server.py's SERVE_OPTIONS; a test checks they agree):
# a deadline for request heads and JSON parser errors; forwarding headers left to TRUSTED_PROXIES.
SERVE_OPTIONS := --http lib.server.http_server:GuardedHttpToolsProtocol --no-proxy-headers

.PHONY: run test lint format train bench install install-dev system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

## Serve the UI (and API) on http://localhost:8000 with the committed model.
run: install
	$(BIN)/uvicorn app:app $(SERVE_OPTIONS) --host $(HOST) --port $(PORT)

## Run the whole test suite (installs Debian's chromium and wrk first when missing).
test: install-dev system-deps
	$(BIN)/pytest

## Browser tests need Debian's chromium, the benchmark smoke test wrk, the store-fault tests chattr,
## the image rehearsal Debian's python3 with venv, the replica tests a PostgreSQL server, nginx
## and Prometheus (started by the tests themselves on loopback).
system-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v chattr >/dev/null 2>&1 || missing="$$missing e2fsprogs"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3 python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (install them: sudo apt-get install -y$$missing)"; exit 1; fi; \
	fi

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Retrain on DATA_CONFIG and serve the new version (MODEL_URI must be a local folder).
train: install
	$(BIN)/python -m lib.training

## Every benchmark: prints a table, writes bench/results/latest.json (about a minute).
bench: install-dev system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .cache

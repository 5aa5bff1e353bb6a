# Atelier: the two commands are `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PY := .venv/bin/python

.PHONY: install chromium web web-api run run-bg stop test test-unit test-integration test-web chaos fuzz bench lint format clean

# Installs what is missing: uv (with pip), the locked environment, and Chromium for the browser tests.
install: .venv/.installed

.venv/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	@$$(command -v uv || echo "$(UV)") sync --frozen --quiet
	@touch $@

# The web app (web/: Svelte 5 + Vite), built to web/dist, which the gateway serves under /app/.
# npm ci from the committed lock file when it changed; a rebuild when any source changed.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/svelte.config.js web/tsconfig.json
web: web/dist/index.html

web/node_modules/.installed: web/package.json web/package-lock.json
	@cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	@cd web && npx vite build --logLevel warn

# The web app's API types, generated from the gateway's OpenAPI document (commit the result).
web-api: install web/node_modules/.installed
	@$(PY) -m services.gateway.openapi_document web/openapi.json
	@cd web && npx openapi-typescript ./openapi.json -o ./src/lib/api/schema.d.ts --silent

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Starts broker, database, object store and the five services; Ctrl-C stops everything.
run: install web
	@$(PY) -m libs.stack.run

# The same in the background; `make stop` ends it.
run-bg: install web
	@$(PY) -m libs.stack.run --background

stop:
	@$(PY) -m libs.stack.run stop

# The whole suite against real services (each integration run starts its own on free ports).
test: install chromium web
	@cd web && npx vitest run --silent
	@$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$status

test-unit: install
	@$(PY) -m pytest -q tests/unit

test-integration: install
	@$(PY) -m pytest -q tests/integration

# The web app alone: Vitest, then the pages in a real headless Chromium.
test-web: install chromium web
	@cd web && npx vitest run --silent
	@$(PY) -m pytest -q tests/browser

# Faults against the real local stack, minutes not seconds (bench/chaos.py, a fixed seed): a steady
# multi-workspace import with reflections while each service is kill -9ed and the broker, object store and
# PostgreSQL are stopped and restarted; poison of every kind; a whale and minnows. Writes bench/chaos.md and
# rows in bench/results.json. Smaller for development: CHAOS_IMAGES=600 CHAOS_WHALE=2000 make chaos
chaos: install
	@$(PY) bench/chaos.py

# The API fuzz of `make test` (every route of the gateway's OpenAPI document under schemathesis) with 200
# examples per operation instead of 10 and a new seed each run.
fuzz: install
	@ATELIER_FUZZ_EXAMPLES=200 ATELIER_FUZZ_SEED=random $(PY) -m pytest -q -rP --show-capture=stdout tests/integration/test_api_fuzz.py

# Benchmarks: prints a table and writes bench/results.json.
bench: install chromium web
	@$(PY) bench/run.py

lint: install web/node_modules/.installed
	@$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy libs services
	@cd web && npx prettier --check --log-level warn . && npx svelte-check --tsconfig ./tsconfig.json --fail-on-warnings --output human

format: install web/node_modules/.installed
	@$(PY) -m ruff format . && $(PY) -m ruff check --fix .
	@cd web && npx prettier --write --log-level warn .

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist

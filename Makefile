# Energo's entry points. `make demo` runs the main job; `make test` passes the tests.
# Both set up what is missing first (Python venv from requirements-dev.lock, npm ci).
# requirements.lock is the runtime closure alone (a gateway or an API host installs only it).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# py-solc-x (and so `ape compile`) finds the npm solc behind tools/solc.js here.
export SOLCX_BINARY_PATH := $(CURDIR)/.cache/solcx

.PHONY: setup system-deps compile lint test demo bench clean

setup: $(VENV)/.installed node_modules/.installed .cache/solcx/solc-v0.8.28

.cache/solcx/solc-v0.8.28: tools/solc.js
	mkdir -p .cache/solcx
	ln -sf ../../tools/solc.js $@

# The development venv: runtime + demo + dev pins, then energo and (once it exists) the
# development-only test kit, both editable.
TESTKIT := $(wildcard testkit/pyproject.toml)

$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml $(TESTKIT)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check pip==24.3.1
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . $(if $(TESTKIT),-e ./testkit)
	$(PY) -m pip check --quiet --disable-pip-version-check
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium (browser tests), postgresql (indexer tests) and wrk (API benchmark).
system-deps:
	bash tools/setup-system.sh

compile: setup
	$(PY) -m energo.build

# The npm wrapper node_modules/.bin/forge exits 0 even when `fmt --check` finds a
# difference; the native binary inside the package reports it.
FORGE = $(firstword $(wildcard node_modules/@foundry-rs/forge-linux-*/bin/forge) node_modules/.bin/forge)

# ruff; import-linter's floors ([tool.importlinter]); mypy ([tool.mypy]); the Solidity
# format (foundry.toml); the exported artifacts against a fresh compile.
lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(FORGE) fmt --check
	$(PY) -m energo.build --check

test: setup system-deps lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(PY) -m energo_community $(if $(SERVE),--serve) $(DEMO_ARGS)

bench: setup system-deps
	$(PY) -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules .build demo-out

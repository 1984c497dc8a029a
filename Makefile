# `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint typecheck pytest bench fuzz redis-server softhsm2 curl wrk interop-node clean

demo: $(VENV)/.installed-server
	$(BIN)/jwtbearer demo

test: $(VENV)/.installed-dev redis-server softhsm2 curl wrk interop-node lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

pytest: $(VENV)/.installed-dev redis-server softhsm2 curl wrk interop-node
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench redis-server softhsm2 wrk
	$(BIN)/python bench/importtime.py
	$(BIN)/python bench/sign.py
	$(BIN)/python bench/cache.py
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/server.py
	$(BIN)/python bench/hsm.py

# The fuzz suite runs in `make test` with a few dozen examples per target; this is the long run
# (about 10 minutes on 2 cores): new random examples each time, figures printed at the end and
# written to $(VENV)/fuzz-report.json. FUZZ_EXAMPLES=N changes the examples per target.
FUZZ_EXAMPLES ?= 8000
fuzz: $(VENV)/.installed-dev
	JWTBEARER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) JWTBEARER_FUZZ_REPORT=$(VENV)/fuzz-report.json \
	  $(BIN)/python -m pytest tests/fuzz -q

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed-server: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[server]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-server

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[dev,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-server

# The tests start their own redis-server on a free loopback port; this only makes sure the
# binary is there (Debian package), installing it when missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server is missing and could not be installed"; exit 1; }

# tests/interop runs panva oidc-provider (npm) on loopback: Node.js from Debian when missing, the
# locked npm packages when node_modules is missing.
INTEROP_NODE := tests/interop/node
interop-node:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "installing nodejs and npm (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@[ -d $(INTEROP_NODE)/node_modules/oidc-provider ] || \
	  (cd $(INTEROP_NODE) && npm ci --no-audit --no-fund --loglevel=error)

# The PKCS#11 tests initialise their own SoftHSM2 token in a temporary directory; this only
# makes sure SoftHSM2 (module and softhsm2-util) is there, installing the Debian package.
softhsm2:
	@command -v softhsm2-util >/dev/null 2>&1 || { \
	  echo "installing softhsm2 (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq softhsm2 >/dev/null; }
	@command -v softhsm2-util >/dev/null 2>&1 || { echo "softhsm2 is missing and could not be installed"; exit 1; }

# The server tests run the seed-style curl command and the one `jwtbearer assert --curl` prints.
curl:
	@command -v curl >/dev/null 2>&1 || { \
	  echo "installing curl (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq curl >/dev/null; }
	@command -v curl >/dev/null 2>&1 || { echo "curl is missing and could not be installed"; exit 1; }

# wrk (Debian package) loads the server in bench/server.py; a unit test checks that harness.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing wrk (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@command -v wrk >/dev/null 2>&1 || { echo "wrk is missing and could not be installed"; exit 1; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

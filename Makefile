# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NPM_INSTALLED := node_modules/.installed
VENDOR := static/vendor/htmx.min.js

.PHONY: install demo test lint typecheck jstest pytest system runtime-tools clean

install: $(INSTALLED) $(VENDOR)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,neural]'
	touch $@

$(NPM_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(VENDOR): $(NPM_INSTALLED)
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

# Debian packages the tests need (Chromium, command-line codecs, Tesseract) and the
# PostgreSQL and Redis they talk to.
system:
	scripts/ensure-system.sh

# Debian packages the platform itself runs (Tesseract).
runtime-tools:
	scripts/ensure-system.sh runtime

demo: install runtime-tools
	$(BIN)/miscomp demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Test files are spread over PYTEST_WORKERS processes (tests/conftest.py gives each its own
# PostgreSQL database and Redis index); a file's tests stay together in one.
PYTEST_WORKERS ?= 2

pytest: install system
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

# The viewer's pure ES modules (static/js/viewer/) apart from the page, with Node's own test
# runner: no npm package, nothing from the network.
jstest:
	node --test tests/js/*.test.mjs

test: install system lint typecheck jstest pytest

clean:
	rm -rf $(VENV) node_modules static/vendor .mypy_cache .ruff_cache .pytest_cache

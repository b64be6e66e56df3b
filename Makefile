# The two commands a fresh machine needs (see README.md):
#   make demo   install everything, ingest a generated sample book end to end, serve it in the viewer
#   make test   install everything, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VIEWER := iiif_server/viewer
VIEWER_STAMP := $(VIEWER)/node_modules/.installed

.PHONY: demo test lint setup system-packages clean

demo: setup
	$(BIN)/shuying demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Configured in pyproject.toml; CI runs it before the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

setup: system-packages $(STAMP) $(VIEWER_STAMP)

system-packages:
	@if [ "$$(id -u)" = 0 ]; then scripts/install-system-packages.sh; \
	else sudo scripts/install-system-packages.sh; fi

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

# Mirador 4 from the npm registry, served locally by iiif_server (no CDN).
$(VIEWER_STAMP): $(VIEWER)/package.json $(VIEWER)/package-lock.json
	npm ci --prefix $(VIEWER) --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) shuying-data $(VIEWER)/node_modules

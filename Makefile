# The two commands a fresh machine needs (see README.md):
#   make demo   install what the demo needs, ingest a generated sample book end to end, serve it in the viewer
#   make test   install that plus what only the tests need, run the test suite
# Each set-up phase prints one line with its duration (scripts/phase).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
VIEWER := iiif_server/viewer
VIEWER_STAMP := $(VIEWER)/node_modules/.installed
PHASE := scripts/phase
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: demo test lint setup setup-runtime system-packages-runtime system-packages-test clean

demo: setup-runtime
	$(BIN)/shuying demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Configured in pyproject.toml; CI runs it before the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# What the demo, ingest and serve need: run-time Debian packages, Shuying in .venv, Mirador.
setup-runtime: system-packages-runtime $(RUNTIME_STAMP) $(VIEWER_STAMP)

# What the tests and lint need besides: a browser, PDF tools, more fonts, the test extras.
setup: system-packages-test $(TEST_STAMP) $(VIEWER_STAMP)

# The script is idempotent and checks what is installed first, so these always run.
system-packages-runtime:
	@$(PHASE) "system packages (run time)" $(AS_ROOT) scripts/install-system-packages.sh runtime

system-packages-test:
	@$(PHASE) "system packages (run time and tests)" $(AS_ROOT) scripts/install-system-packages.sh test

$(VENV)/bin/python:
	@$(PHASE) "virtual environment" $(PYTHON) -m venv $(VENV)
	@$(PHASE) "pip upgrade" $(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	@$(PHASE) "Shuying and its libraries" $(BIN)/python -m pip install --quiet -e .
	touch $@

# The test extras on top of the run-time install (which pip leaves as it is when current).
$(TEST_STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	@$(PHASE) "Shuying with the test extras" $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(RUNTIME_STAMP)

# Mirador 4 from the npm registry, served locally by iiif_server (no CDN).
$(VIEWER_STAMP): $(VIEWER)/package.json $(VIEWER)/package-lock.json
	@$(PHASE) "Mirador viewer (npm ci)" npm ci --silent --prefix $(VIEWER) --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) shuying-data $(VIEWER)/node_modules

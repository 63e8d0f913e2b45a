# viewcount: `make run` serves the demo on an embedded Redis; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip-compile lives in a venv of its own, so the lock tool never lands in the locked set.
LOCK_TOOLS := $(VENV)/lock-tools
PIP_TOOLS := pip-tools==7.6.2
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOLS)/bin/pip-compile --quiet \
	--generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	--no-emit-trusted-host

.PHONY: run test unit soak bench lint typecheck lock clean

# Every install goes through the hashed lock; the package itself adds nothing to it (--no-deps).
$(STAMP): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/viewcount serve --demo

test: $(STAMP)
	$(BIN)/pytest -q -m "not soak"

# Pure code only: no Redis, uvicorn or browser is started (tests/unit/conftest.py refuses).
unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

soak: $(STAMP)
	$(BIN)/pytest -q -m soak

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Regenerate the lock files from pyproject.toml. Pins already in them are kept while they still
# satisfy pyproject.toml; `rm requirements/*.txt` first to take the newest versions instead.
lock:
	test -x $(LOCK_TOOLS)/bin/pip-compile || \
		{ $(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet '$(PIP_TOOLS)'; }
	$(COMPILE) --extra dev --output-file requirements/dev.txt pyproject.toml
	$(COMPILE) --output-file requirements/runtime.txt pyproject.toml

clean:
	rm -rf $(VENV) test-output

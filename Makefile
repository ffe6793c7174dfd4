# clipzoo developer commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test lint format bench clean

install: $(STAMP)

# uv resolves torch and torchvision as one matching pair from the lock; bootstrap it with pip when missing.
$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv sync --frozen --extra dev --compile-bytecode
	@touch $@

lint: install
	$(VENV)/bin/ruff check src tests scripts

format: install
	$(VENV)/bin/ruff format src tests scripts
	$(VENV)/bin/ruff check --fix src tests scripts

test: install lint
	OMP_NUM_THREADS=2 $(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/clipzoo demo

bench: install
	mkdir -p .bench
	$(PY) scripts/bench.py --json .bench/results.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist build

# clipzoo developer commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test lint format bench bench-env hf5-env clean

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

# Both cores: two pytest-xdist workers, one intra-op thread each (tests control their own thread counts).
test: install lint bench-env hf5-env
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 $(PYTEST_ARGS)
	OMP_NUM_THREADS=2 $(HF5_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/hf5

demo: install
	$(VENV)/bin/clipzoo demo

bench: install
	mkdir -p .bench
	$(PY) scripts/bench.py --json .bench/results.json

# clip_benchmark's own environment for tests/test_clip_benchmark.py (it needs numpy < 2.3; the main lock has 2.4)
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp
bench-env: $(BENCH_STAMP)

$(BENCH_STAMP): tests/envs/bench-requirements.txt pyproject.toml $(STAMP)
	$(PY) -m uv venv --allow-existing --python $(PY) $(BENCH_VENV)
	$(PY) -m uv pip install --python $(BENCH_VENV)/bin/python -r tests/envs/bench-requirements.txt
	$(PY) -m uv pip install --python $(BENCH_VENV)/bin/python --no-deps -e .
	@touch $@

# transformers 5.x environment for tests/hf5/ (the main lock pins transformers<4.57 for open_clip's CoCa parity)
HF5_VENV := .venv-hf5
HF5_STAMP := $(HF5_VENV)/.installed-stamp
hf5-env: $(HF5_STAMP)

$(HF5_STAMP): tests/envs/hf5-requirements.txt pyproject.toml $(STAMP)
	$(PY) -m uv venv --allow-existing --python $(PY) $(HF5_VENV)
	$(PY) -m uv pip install --python $(HF5_VENV)/bin/python -r tests/envs/hf5-requirements.txt
	$(PY) -m uv pip install --python $(HF5_VENV)/bin/python --no-deps -e .
	@touch $@

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(HF5_VENV) .pytest_cache .ruff_cache dist build

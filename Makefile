# clipzoo developer commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# This machine sets PYTHONDONTWRITEBYTECODE: without .pyc files every run (and every xdist worker and subprocess)
# compiled clipzoo and re-did pytest's assertion rewriting of ~140 test modules, about 8 s of CPU per process.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test test-fast lint typecheck format bench bench-env hf5-env retrieval-env clean

install: $(STAMP)

# uv resolves torch and torchvision as one matching pair from the lock; bootstrap it with pip when missing.
$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv sync --frozen --extra dev --extra ray --compile-bytecode
	@touch $@

# The type check (mypy over src/clipzoo and the user program tests/typing_user_program.py, at the strictness stated
# in pyproject.toml [tool.mypy]) is part of lint.
# Its cache in .cache/mypy makes a re-run take seconds; a cold run reads torch's annotations (minutes of CPU).
MYPY_CACHE := .cache/mypy

lint: install
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy --cache-dir $(MYPY_CACHE)

typecheck: install
	$(VENV)/bin/mypy --cache-dir $(MYPY_CACHE)

format: install
	$(VENV)/bin/ruff format src tests scripts
	$(VENV)/bin/ruff check --fix src tests scripts

# Both cores: two pytest-xdist workers, one intra-op thread each (tests control their own thread counts).
test: install lint bench-env hf5-env octests-env retrieval-env
	$(PY) -m compileall -q -j 0 src tests/helpers
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist worksteal $(PYTEST_ARGS)
	OMP_NUM_THREADS=2 $(HF5_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/hf5

# The edit loop: no parity sweeps (tests/parity, marker parity), no slow or Ray tests, no transformers-5 env.
test-fast: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist worksteal -m "not slow and not parity and not ray" -p no:cacheprovider $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/clipzoo demo

bench: install retrieval-env
	mkdir -p .bench
	$(PY) scripts/bench.py --json .bench/results.json

# Test environments beside the main one, each from a pinned tests/envs/NAME-requirements.txt plus clipzoo
# (editable): `bench` runs clip_benchmark (it needs numpy < 2.3; the main lock has 2.4), `hf5` transformers 5.x
# (the main lock pins transformers < 4.57 for open_clip's CoCa parity). uv's cache shares torch with .venv.
BENCH_VENV := .venv-bench
HF5_VENV := .venv-hf5
RETRIEVAL_VENV := .venv-retrieval
OCTESTS_VENV := .venv-octests
bench-env: $(BENCH_VENV)/.installed-stamp
hf5-env: $(HF5_VENV)/.installed-stamp
# clip-retrieval 2.45 (open-clip-torch<3, numpy<2, pyarrow<16): the peer of `clipzoo embed` in make bench, and the
# reader of its folder in tests/test_compat_clip_retrieval.py (its `index` step, embedding-reader).
retrieval-env: $(RETRIEVAL_VENV)/.installed-stamp
# open_clip 3.3.0's own tests: the tests/ of its sdist, fetched from PyPI into .cache/ (not copied into this
# repository). Which of them pass on open_clip itself is recorded once here (tests/helpers/octests.py: it depends on
# .venv-octests and the suite, not on clipzoo); tests/test_compat_open_clip_suite.py runs them on clipzoo.
OCTESTS_DIR := .cache/open_clip-3.3.0
octests-env: $(OCTESTS_DIR)/open_clip-passed.json

$(OCTESTS_DIR)/open_clip-passed.json: $(OCTESTS_VENV)/.installed-stamp $(OCTESTS_DIR)/tests/util_test.py tests/helpers/octests.py
	rm -f $@
	$(PY) -m tests.helpers.octests

$(OCTESTS_DIR)/tests/util_test.py: tests/envs/octests-requirements.txt
	rm -rf $(OCTESTS_DIR) && mkdir -p $(OCTESTS_DIR)
	$(PYTHON) -m pip download --quiet --no-deps --no-binary :all: open-clip-torch==3.3.0 -d $(OCTESTS_DIR)
	tar -xzf $(OCTESTS_DIR)/open_clip_torch-3.3.0.tar.gz -C $(OCTESTS_DIR) --strip-components=1 \
		open_clip_torch-3.3.0/tests
	@touch $@

.venv-%/.installed-stamp: tests/envs/%-requirements.txt pyproject.toml $(STAMP)
	$(PY) -m uv venv --allow-existing --python $(PY) .venv-$*
	$(PY) -m uv pip install --python .venv-$*/bin/python --compile-bytecode -r tests/envs/$*-requirements.txt
	$(PY) -m uv pip install --python .venv-$*/bin/python --no-deps -e .
	@touch $@

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(HF5_VENV) $(RETRIEVAL_VENV) $(OCTESTS_VENV) .cache/open_clip-3.3.0 $(MYPY_CACHE) .pytest_cache .ruff_cache dist build

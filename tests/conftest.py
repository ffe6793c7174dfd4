"""Shared fixtures (built from tests/helpers): fresh registries, tiny architectures, the local Hub."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from tests.helpers.configs import TINY_CONFIGS, TINY_ONE_BLOCK
from tests.helpers.hub_server import FakeServer, hub_env
from tests.helpers.registry import write_configs

# tests/hf5/ needs transformers 5.x: it runs in .venv-hf5 (`make test` runs it after this suite), not in the main
# environment, whose lock keeps transformers 4.x for open_clip's CoCa parity.
PARITY_DIR = Path(__file__).parent / "parity"
collect_ignore = [] if int(metadata.version("transformers").split(".")[0]) >= 5 else ["hf5"]


def pytest_collection_modifyitems(config, items):
    """Every test under tests/parity carries the parity marker (`make test-fast` leaves them out)."""
    for item in items:
        if item.path.is_relative_to(PARITY_DIR):
            item.add_marker(pytest.mark.parity)


@pytest.fixture(autouse=True)
def _restore_clipzoo_log_handlers():
    """A command that adds a log handler on sys.stderr (clipzoo embed/search) would leave one writing to this
    test's captured stream, closed once the test ends: later tests that log would print a logging error. The
    logger's handlers and level are put back after each test."""
    import logging

    logger = logging.getLogger("clipzoo")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
def fresh_registry():
    """The built-in architecture registry only, restored afterwards (user configs added by a test go away)."""
    from clipzoo.registry import architectures as registry

    yield registry.reset_registry()
    registry.reset_registry()


@pytest.fixture
def tiny_configs(tmp_path_factory, fresh_registry):
    """Register tiny architectures (tiny-vit, tiny-rn, tiny-siglip) in clipzoo; returns the folder."""
    from clipzoo.registry import architectures as registry

    folder = write_configs(tmp_path_factory.mktemp("configs"), TINY_CONFIGS)
    registry.add_model_config(folder)
    return folder


@pytest.fixture
def tiny_folder(tmp_path, fresh_registry):
    """Two one-block architectures, hostile-a and hostile-b (embed_dim 16 and 24), registered from a folder."""
    from clipzoo.registry import architectures as registry

    configs = {"hostile-a": TINY_ONE_BLOCK, "hostile-b": {**TINY_ONE_BLOCK, "embed_dim": 24}}
    folder = write_configs(tmp_path / "cfg", configs)
    registry.add_model_config(folder)
    return folder


@pytest.fixture
def fresh_tags():
    """A tag registry that tests may extend; restored afterwards."""
    from clipzoo.registry import tags as pretrained

    yield pretrained.reset_tags()
    pretrained.reset_tags()


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op thread for a module: tiny models' ops are too small to split across threads; on a busy
    machine extra threads only wait on each other (about 10x slower here)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """The local imitation of the Hub (tests/helpers/hub_server.py) as HF_ENDPOINT, caches in tmp_path."""
    hub_env(monkeypatch, tmp_path)
    with FakeServer(slow_seconds=1.0) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.base)
        yield server

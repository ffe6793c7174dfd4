"""Shared fixtures (built from tests/helpers): fresh registries, tiny architectures and checkpoints, the local Hub,
and what both a library module's tests and its command's tests (tests/test_cli_<command>.py) read: the README's
embedded corpus, an int8 ONNX export of tiny-digits and digit images (built once per session)."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.helpers import images
from tests.helpers.checkpoints import seeded_checkpoint
from tests.helpers.configs import TINY_CLAP, TINY_COCA_VOCAB, TINY_CONFIGS, TINY_ONE_BLOCK, tiny_coca
from tests.helpers.hub_server import FakeServer, hub_env
from tests.helpers.registry import register_configs, write_configs
from tests.helpers.shared import built_once_per_run

# tests/hf5/ needs transformers 5.x: it runs in .venv-hf5 (`make test` runs it after this suite), not in the main
# environment, whose lock keeps transformers 4.x for open_clip's CoCa parity.
PARITY_DIR = Path(__file__).parent / "parity"
README = Path(__file__).resolve().parents[1] / "README.md"
README_STDOUT = "readme-demo-stdout.txt"
collect_ignore = [] if int(metadata.version("transformers").split(".")[0]) >= 5 else ["hf5"]


@functools.cache
def _module_marks(path: Path) -> frozenset[str]:
    """The markers a test module gives all its tests: ``parity`` under tests/parity, and the ``pytest.mark.NAME``
    in its module-level ``pytestmark`` (read from the source, without importing the module)."""
    marks = {"parity"} if path.is_relative_to(PARITY_DIR) else set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            marks.update(
                n.attr
                for n in ast.walk(node.value)
                if isinstance(n, ast.Attribute) and getattr(n.value, "attr", None) == "mark"
            )
    return frozenset(marks)


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """Leave unimported the test modules whose module-level markers the ``-m`` expression deselects whatever else
    their tests carry (`make test-fast`: "not slow and not parity and not ray"): importing them (open_clip,
    transformers, hypothesis) was most of the edit loop's collection time, for tests it then deselected."""
    expression = config.getoption("markexpr")
    if not expression or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    from _pytest.mark.expression import Expression

    marks = _module_marks(collection_path)
    if not marks:
        return None
    compiled = Expression.compile(expression)
    # deselected with every other marker absent and with every other marker present
    if not any(
        compiled.evaluate(lambda name, others=others: name in marks or others) for others in (False, True)
    ):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    """Every test under tests/parity carries the parity marker (`make test-fast` leaves them out); modules holding
    slow tests run first, whole (module fixtures are built once): two xdist workers then end on short tests, not
    one of them on a long one while the other waits."""
    for item in items:
        if item.path.is_relative_to(PARITY_DIR):
            item.add_marker(pytest.mark.parity)
    heavy = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in heavy)


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
def coca_names(tiny_configs, tmp_path):
    """Registers tiny-coca-gen (64-token vocab) and tiny-coca-clipvocab (CLIP's 49408) next to conftest's models."""
    return register_configs(
        tmp_path, {"tiny-coca-gen": tiny_coca(TINY_COCA_VOCAB), "tiny-coca-clipvocab": tiny_coca()}
    )


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    """A registered tiny CLAP architecture, tiny-clap (random weights), its model and audio transform; the
    built-in registry only afterwards (the registry checks of later modules count built-in architectures)."""
    import json

    import torch

    import clipzoo
    from clipzoo.registry import architectures as registry

    folder = tmp_path_factory.mktemp("clap_cfg")
    (folder / "tiny-clap.json").write_text(json.dumps(TINY_CLAP))
    clipzoo.add_model_config(folder / "tiny-clap.json", overwrite=True)
    torch.manual_seed(0)
    model, _, preprocess = clipzoo.create_model_and_transforms("tiny-clap")
    yield model.eval(), preprocess
    registry.reset_registry()


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_configs):
    """tiny-vit with seeded random weights in eval mode and its safetensors file: (model, path)."""
    model, path = seeded_checkpoint("tiny-vit", tmp_path / "tiny.safetensors")
    return model.eval(), path


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


@pytest.fixture(scope="session")
def readme_corpus(tmp_path_factory) -> tuple[Path, str]:
    """The README's corpus demo, run as written from an empty folder: (folder, its stdout). Once per run, shared
    by the xdist workers (read-only): the library's search tests and `clipzoo search`'s read the same corpus."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Embed and search a corpus") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)

    def build(folder: Path) -> None:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        (folder / README_STDOUT).write_text(proc.stdout)  # the demo writes relative paths: the folder may move

    folder = built_once_per_run(tmp_path_factory, "readme-corpus", build)
    return folder, (folder / README_STDOUT).read_text()


@pytest.fixture(scope="session")
def digits_int8(tmp_path_factory):
    """tiny-digits exported with ``clipzoo export ... --format onnx --quantize int8`` (the CLI path). Once per
    run, shared by the xdist workers (an export is ~20 s of CPU): the ONNX runtime's tests, the classify, info and embed
    commands' read the same folder and never write into it."""
    from clipzoo.cli import main

    def export(target: Path) -> None:
        argv = ["export", "tiny-digits", "sklearn_digits", "--format", "onnx", "--to", str(target)]
        assert main([*argv, "--quantize", "int8"]) == 0

    return built_once_per_run(tmp_path_factory, "digits-int8", export)


@pytest.fixture(scope="session")
def digit_pngs(tmp_path_factory):
    """Three held-out digits as PNG files, with their labels."""
    return images.digit_pngs(tmp_path_factory.mktemp("pngs"), 3)

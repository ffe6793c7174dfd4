"""A built wheel, installed non-editable into a fresh venv, finds its configs and tags."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"

CHECK = """
import sys, clipzoo
from pathlib import Path
assert 'site-packages' in clipzoo.__file__, clipzoo.__file__
assert len(clipzoo.list_models()) >= 144, clipzoo.list_models()
assert clipzoo.get_model_config('ViT-B-32')['embed_dim'] == 512
assert len(clipzoo.list_pretrained()) >= 196
from clipzoo.registry.architectures import builtin_config_dir
assert 'site-packages' in str(builtin_config_dir())
pkg = Path(clipzoo.__file__).parent
for rel in ('tokenizers/bpe_simple_vocab_16e6.txt.gz', 'weights/tiny-digits-sklearn_digits.safetensors',
            'weights/digits_heldout.npz', 'registry/pretrained_tags.json', 'registry/model_profiles.json',
            'registry/pretrained_results.json', 'py.typed'):
    assert (pkg / rel).is_file(), rel
assert clipzoo.get_pretrained_cfg('tiny-digits', 'sklearn-digits')['file'].startswith(str(pkg))
print('ok')
"""


@pytest.mark.slow
def test_wheel_ships_model_configs(tmp_path):
    if not UV.exists():
        pytest.skip("uv is not installed in the dev environment")
    dist = tmp_path / "dist"
    subprocess.run(
        [str(UV), "build", "--wheel", "--offline", "--no-build-isolation", "-o", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        env=_env(),
    )
    wheel = next(dist.glob("clipzoo-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "-p", sys.executable, str(venv)], check=True, env=_env())
    py = venv / "bin" / "python"
    subprocess.run(
        [str(UV), "pip", "install", "-q", "--no-deps", "--offline", "-p", str(py), str(wheel)],
        check=True,
        env=_env(),
    )
    proc = subprocess.run([str(py), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    cli = subprocess.run(
        [str(venv / "bin" / "clipzoo"), "pretrained", "ViT-B-32", "--tag", "openai"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 0 and cli.stdout.split() == ["ViT-B-32", "openai", "image-text"], cli.stderr


def _env():
    import os

    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    return env

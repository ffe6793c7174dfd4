"""``import clipzoo`` and the registry functions must not pull in heavy libraries."""

import json
import subprocess
import sys

HEAVY = ("torch", "torchvision", "timm", "transformers", "open_clip", "numpy", "PIL")

SCRIPT = """
import json, sys
import clipzoo
clipzoo.list_models(); clipzoo.get_model_config('ViT-B-32'); clipzoo.add_model_config
clipzoo.list_pretrained(); clipzoo.list_pretrained(as_str=True); clipzoo.get_pretrained_cfg('ViT-B-32', 'openai')
clipzoo.list_pretrained_tags_by_model('RN50'); clipzoo.list_pretrained_models_by_tag('openai')
clipzoo.is_pretrained_cfg('RN50', 'openai'); clipzoo.get_pretrained_url('RN50', 'openai'); clipzoo.normalize_tag('A-b')
from clipzoo.cli import main
main(['pretrained', '--json']); main(['models']); main(['info', 'ViT-B-32', 'openai', '--no-params'])
print(json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)
"""


def _loaded(script: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_registry_path_imports_nothing_heavy():
    assert _loaded(SCRIPT % (HEAVY,)) == []


def test_all_public_names_resolve():
    import clipzoo

    for name in clipzoo.__all__:
        assert getattr(clipzoo, name) is not None, name
    assert "list_models" in dir(clipzoo)


def test_unknown_attribute():
    import pytest

    import clipzoo

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clipzoo.nope  # noqa: B018

"""Parameter counts for `clipzoo info`: stored counts equal a fresh meta-device count (and open_clip's)."""


import pytest

import clipzoo
from clipzoo.factory import summary
from tests.helpers.peers import open_clip_dir

SAMPLE = ("RN50", "ViT-B-32", "coca_ViT-B-32", "ViT-B-16-SigLIP", "EVA02-B-16")


@pytest.mark.parametrize("name", SAMPLE)
def test_stored_counts_match_a_fresh_meta_count(name):
    stored = summary._stored_counts()[name]
    assert stored == summary.count_on_meta(name)
    assert stored["total"] == sum(v for k, v in stored.items() if k != "total")


def test_every_offline_buildable_builtin_has_stored_counts():
    stored = summary._stored_counts()
    # audio-text models are counted with their Hugging Face text tower built from its published config
    audio = {n for n in clipzoo.list_models() if clipzoo.registry.architectures.model_modality(n) == "audio-text"}
    expected = {n for n in clipzoo.list_models() if summary.buildable_offline(n)} | audio
    assert set(stored) == expected


def _peer_config_names() -> set[str]:
    """The architectures open_clip ships: the parity layout sweep checks their stored counts on its model (found
    without importing open_clip: collection stays light)."""
    folder = open_clip_dir()
    return {p.stem for p in (folder / "model_configs").glob("*.json")} if folder else set()


@pytest.mark.parametrize(
    "name", sorted(n for n in set(summary._stored_counts()) - _peer_config_names() if summary.buildable_offline(n))
)
@pytest.mark.slow
def test_all_stored_counts_match_meta_counts(name):
    assert summary.count_on_meta(name) == summary._stored_counts()[name]


@pytest.mark.parity
def test_counts_equal_open_clip():
    import open_clip
    import torch

    for name in ("RN50", "ViT-B-32"):
        with torch.device("meta"):
            peer = open_clip.create_model(name, device="meta")
        assert summary.parameter_summary(name)["total"] == sum(p.numel() for p in peer.parameters())

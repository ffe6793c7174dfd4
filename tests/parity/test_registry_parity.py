"""Registry parity with open_clip 3.3.0 (test-only peer): architectures and all 196 (model, tag) records."""

import open_clip
import open_clip.pretrained as oc_pretrained

import clipzoo

VL_FIELDS = ("url", "hf_hub", "mean", "std", "interpolation", "resize_mode", "quick_gelu")
# tiny-digits: the embedded default, trained by clipzoo itself. The NaFlex architectures and their two webli tags
# come from open_clip's main branch (4.2.0.dev0), which no released open_clip has: 3.3.0 cannot be their peer.
NAFLEX = {"naflex_ViT-B-16", "naflex_ViT-B-32", "ViT-B-16-SigLIP2-naflex", "ViT-SO400M-16-SigLIP2-naflex"}
# past open_clip 3.3.0: TIPSv2 (open_clip PR #1166) and CLAP (open_clip main)
TIPSV2 = {f"TIPSv2-{size}-14" for size in ("B", "L", "SO400M", "g")}
CLAP = {
    "CLAP-HTSAT-tiny", "CLAP-HTSAT-base", "CLAP-HTSAT-large", "CLAP-HTSAT-tiny-Roberta-base",
    "CLAP-HTSAT-tiny-Roberta-base-fused", "CLAP-HTSAT-base-Roberta-base", "CLAP-Whisper-tiny-Roberta-base",
    "CLAP-Whisper-small-Roberta-base", "CLAP-Whisper-base-Roberta-base",
}  # fmt: skip
CLIPZOO_ONLY = {"tiny-digits"} | NAFLEX | TIPSV2 | CLAP


def _peer_builtin_models():
    # open_clip's shipped configs (other tests may register extra ones in its global registry)
    import json
    from pathlib import Path

    from clipzoo.registry.architectures import _natural_key

    folder = Path(open_clip.__file__).parent / "model_configs"
    configs = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    return sorted(configs, key=_natural_key), configs


def _ours_models():
    return [m for m in clipzoo.list_models() if m not in CLIPZOO_ONLY]


def _ours_pretrained(as_str=False):
    pairs = [(m, t) for m, t in clipzoo.list_pretrained() if m not in CLIPZOO_ONLY]
    return [f"{m}:{t}" for m, t in pairs] if as_str else pairs


def test_same_architectures_in_same_order():
    names, _ = _peer_builtin_models()
    assert _ours_models() == names
    assert set(clipzoo.list_models()) - set(names) == CLIPZOO_ONLY


def test_same_configs():
    names, configs = _peer_builtin_models()
    for name in names:
        assert clipzoo.get_model_config(name) == configs[name], name


def test_all_196_tags_identical():
    theirs = open_clip.list_pretrained()
    assert len(theirs) == 196
    assert _ours_pretrained() == theirs
    assert _ours_pretrained(as_str=True) == open_clip.list_pretrained(as_str=True)
    identical = 0
    for model, tag in theirs:
        ours, peer = clipzoo.get_pretrained_cfg(model, tag), open_clip.get_pretrained_cfg(model, tag)
        assert ours == peer, (model, tag)
        assert all(ours.get(k) == peer.get(k) for k in VL_FIELDS)
        assert clipzoo.get_pretrained_url(model, tag) == open_clip.get_pretrained_url(model, tag)
        identical += 1
    assert identical == 196


def test_list_helpers_match():
    for model in oc_pretrained._PRETRAINED:
        assert clipzoo.list_pretrained_tags_by_model(model) == open_clip.list_pretrained_tags_by_model(model)
    for tag in {t for _, t in open_clip.list_pretrained()}:
        ours = [m for m in clipzoo.list_pretrained_models_by_tag(tag) if m not in CLIPZOO_ONLY]
        assert ours == open_clip.list_pretrained_models_by_tag(tag)


def test_normalization_fixes_the_documented_example():
    assert open_clip.get_pretrained_cfg("ViT-B-32", "laion-400m-e32") == {}  # the peer's gap
    assert clipzoo.get_pretrained_cfg("ViT-B-32", "laion-400m-e32") == open_clip.get_pretrained_cfg(
        "ViT-B-32", "laion400m_e32"
    )

"""Pretrained-tag registry: normalization, lookups, records, collisions."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clipzoo
from clipzoo.registry import tags as P

SEPARATORS = st.sampled_from(["-", "_", ".", " ", "--", "_-"])


def test_documented_spellings_are_one_tag():
    cfgs = [
        clipzoo.get_pretrained_cfg("ViT-B-32", t)
        for t in ("laion-400m-e32", "LAION400M_E32", "laion400m_e32")
    ]
    assert cfgs[0] and cfgs[0] == cfgs[1] == cfgs[2]
    assert cfgs[0]["quick_gelu"] is True


def test_unknown_pairs():
    assert clipzoo.get_pretrained_cfg("ViT-B-32", "nope") == {}
    assert clipzoo.get_pretrained_cfg("Nope", "openai") == {}
    assert clipzoo.get_pretrained_url("ViT-B-32", "nope") == ""
    assert not clipzoo.is_pretrained_cfg("ViT-B-32", "nope")
    assert clipzoo.list_pretrained_tags_by_model("Nope") == []


def test_unknown_tag_error_lists_close_tags():
    with pytest.raises(
        P.UnknownTagError, match="unknown pretrained tag 'laion2b' for ViT-B-32; known tags: laion2b_e16"
    ):
        P.get_typed_pretrained_cfg("ViT-B-32", "laion2b")
    with pytest.raises(P.UnknownTagError, match="no pretrained weights are registered for model 'tiny'"):
        P.get_typed_pretrained_cfg("tiny", "x")


def test_quickgelu_variants_are_derived():
    tags = clipzoo.list_pretrained_tags_by_model("ViT-B-32-quickgelu")
    assert set(tags) == {
        t
        for t in clipzoo.list_pretrained_tags_by_model("ViT-B-32")
        if clipzoo.get_pretrained_cfg("ViT-B-32", t).get("quick_gelu")
    }
    assert "openai" in tags and "laion2b_s34b_b79k" not in tags


def test_models_by_tag_normalizes():
    assert clipzoo.list_pretrained_models_by_tag("OpenAI") == clipzoo.list_pretrained_models_by_tag("openai")
    assert "RN50" in clipzoo.list_pretrained_models_by_tag("openai")
    assert "ViT-B-32" in clipzoo.list_pretrained_models_by_tag("LAION2B-S34B-B79K")


def test_as_str():
    assert "ViT-B-32:openai" in clipzoo.list_pretrained(as_str=True)


def test_no_two_tags_of_one_model_collide_after_normalization():
    data = P._TAGS.models()
    for model in data:
        tags = clipzoo.list_pretrained_tags_by_model(model)
        assert len({P.normalize_tag(t) for t in tags}) == len(tags), model
    # and the data file itself: a collision there would silently drop a record
    import json

    raw = json.loads(P._TAGS_FILE.read_text())
    for model, tags in raw["models"].items():
        assert len({P.normalize_tag(t) for t in tags}) == len(tags), model


def test_records_are_typed_and_presets_apply():
    rec = P.get_typed_pretrained_cfg("ViT-B-16-SigLIP", "webli")
    assert isinstance(rec, P.PretrainedCfg)
    assert rec.mean == (0.5, 0.5, 0.5) and rec.resize_mode == "squash"


def test_add_pretrained_cfg_runtime():
    reg = P.reset_tags()
    try:
        clipzoo.add_pretrained_cfg(
            "ViT-B-32", "My-Tag", {"url": "file:///x.pt", "mean": [0.1, 0.2, 0.3], "std": [1, 1, 1]}
        )
        cfg = clipzoo.get_pretrained_cfg("ViT-B-32", "my_tag")
        assert cfg["url"] == "file:///x.pt" and cfg["mean"] == (0.1, 0.2, 0.3)
        assert reg.get("ViT-B-32", "MYTAG").tag == "My-Tag"
    finally:
        P.reset_tags()


def test_non_string_tag():
    with pytest.raises(TypeError, match="must be a string"):
        P.normalize_tag(3)


@given(
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    ),
    st.data(),
)
@pytest.mark.slow
def test_normalization_ignores_case_and_separators(parts, data):
    seps = [data.draw(SEPARATORS) for _ in parts[1:]]
    spelled = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
    variant = "".join(c.upper() if data.draw(st.booleans()) else c for c in spelled)
    assert P.normalize_tag(variant) == P.normalize_tag("".join(parts)) == "".join(parts)


@pytest.mark.slow
@given(st.text(max_size=30))
def test_normalization_is_idempotent(tag):
    once = P.normalize_tag(tag)
    assert P.normalize_tag(once) == once


@given(st.sampled_from(P.list_pretrained()), st.data())
def test_every_registered_tag_survives_respelling(pair, data):
    model, tag = pair
    respelled = "".join(
        (c.upper() if data.draw(st.booleans()) else c) if c not in "-_" else data.draw(SEPARATORS)
        for c in tag
    )
    assert clipzoo.get_pretrained_cfg(model, respelled) == clipzoo.get_pretrained_cfg(model, tag)

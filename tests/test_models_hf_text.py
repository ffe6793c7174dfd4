"""HFTextTower: behaviour, and parity with open_clip 3.3.0's HFTextEncoder (peer: open_clip; atol 1e-5, fp32).

No Hub access: tiny random transformers models are saved to tmp_path and named by directory.
"""

from __future__ import annotations

import sys

import pytest
import torch

pytestmark = pytest.mark.parity  # compared with a peer (open_clip): in make test, not in make test-fast

transformers = pytest.importorskip("transformers")
open_clip_hf = pytest.importorskip("open_clip.hf_model")

from clipzoo.models.hf_text import HFTextTower  # noqa: E402
from clipzoo.registry.config import TextCfg  # noqa: E402
from tests.helpers.transformers import save_pretrained, tiny_roberta  # noqa: E402

ATOL = 1e-5
EMBED_DIM = 24


_save = save_pretrained


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory) -> str:
    config = tiny_roberta()
    return _save(config, tmp_path_factory.mktemp("roberta"))


@pytest.fixture(scope="module")
def mt5_dir(tmp_path_factory) -> str:
    config = transformers.MT5Config(
        vocab_size=64, d_model=32, d_kv=16, d_ff=48, num_layers=2, num_heads=2, pad_token_id=0
    )
    return _save(config, tmp_path_factory.mktemp("mt5"))


@pytest.fixture(scope="module")
def m2m_dir(tmp_path_factory) -> str:
    config = transformers.M2M100Config(vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=1,
                                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=48,
                                       decoder_ffn_dim=48, max_position_embeddings=40, pad_token_id=1)  # fmt: skip
    return _save(config, tmp_path_factory.mktemp("m2m"))


def _cfg(path: str, **overrides) -> TextCfg:
    return TextCfg(hf_model_name=path, **overrides)


def _tokens(pad_id: int) -> torch.Tensor:
    ids = torch.randint(3, 64, (3, 12), generator=torch.Generator().manual_seed(0))
    ids[0, 8:] = pad_id  # padded rows exercise the attention mask and the poolers' masking
    ids[1, 5:] = pad_id
    return ids


def _peer(cfg: TextCfg) -> torch.nn.Module:
    torch.manual_seed(1)
    return open_clip_hf.HFTextEncoder(
        cfg.hf_model_name,
        output_dim=EMBED_DIM,
        proj_type=cfg.hf_proj_type,
        pooler_type=cfg.hf_pooler_type,
        pretrained=cfg.hf_model_pretrained,
        output_tokens=cfg.output_tokens,
    ).eval()


def _ours_from_peer(cfg: TextCfg, peer: torch.nn.Module, on_meta: bool = True) -> HFTextTower:
    if on_meta:
        with torch.device("meta"):
            ours = HFTextTower(cfg, EMBED_DIM)
    else:
        ours = HFTextTower(cfg, EMBED_DIM)
    ours.load_state_dict(peer.state_dict(), strict=True, assign=on_meta)
    return ours.eval()


PARITY_CASES = {
    "mean+mlp": dict(hf_pooler_type="mean_pooler", hf_proj_type="mlp"),
    "cls+linear": dict(hf_pooler_type="cls_pooler", hf_proj_type="linear"),
    "cls_last_hidden+linear": dict(hf_pooler_type="cls_last_hidden_state_pooler", hf_proj_type="linear"),
    "mean+mlp+tokens": dict(hf_pooler_type="mean_pooler", hf_proj_type="mlp", output_tokens=True),
    "cls+linear+tokens": dict(hf_pooler_type="cls_pooler", hf_proj_type="linear", output_tokens=True),
}


@pytest.mark.parametrize("pretrained", [True, False], ids=["pretrained", "config-only"])
@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_roberta_matches_open_clip(roberta_dir, case, pretrained):
    cfg = _cfg(roberta_dir, hf_model_pretrained=pretrained, **PARITY_CASES[case])
    peer = _peer(cfg)
    ours = _ours_from_peer(cfg, peer)
    assert list(ours.state_dict()) == list(peer.state_dict())
    ids = _tokens(pad_id=1)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), peer(ids), atol=ATOL, rtol=0)


@pytest.mark.parametrize("fixture", ["mt5_dir", "m2m_dir"])
def test_encoder_decoder_keeps_encoder_and_matches_open_clip(request, fixture):
    path = request.getfixturevalue(fixture)
    pooler = "mean_pooler" if fixture == "mt5_dir" else "cls_pooler"
    cfg = _cfg(path, hf_model_pretrained=False, hf_pooler_type=pooler, hf_proj_type="linear")
    peer = _peer(cfg)
    ours = _ours_from_peer(cfg, peer)
    assert list(ours.state_dict()) == list(peer.state_dict())
    assert not any(k.startswith("transformer.decoder") for k in ours.state_dict())
    ids = _tokens(pad_id=ours.config.pad_token_id)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), peer(ids), atol=ATOL, rtol=0)


def test_pretrained_loads_the_saved_weights(roberta_dir):
    ours = HFTextTower(_cfg(roberta_dir, hf_model_pretrained=True), EMBED_DIM)
    saved = transformers.AutoModel.from_pretrained(roberta_dir, add_pooling_layer=False)
    for key, value in saved.state_dict().items():
        torch.testing.assert_close(ours.transformer.state_dict()[key], value, atol=0, rtol=0)


def test_pretrained_weights_are_real_under_meta(roberta_dir):
    with torch.device("meta"):
        ours = HFTextTower(_cfg(roberta_dir, hf_model_pretrained=True), EMBED_DIM)
    assert not any(p.is_meta for p in ours.transformer.parameters())


def test_meta_build_keeps_computed_buffers_real(roberta_dir):
    with torch.device("meta"):
        ours = HFTextTower(_cfg(roberta_dir, hf_model_pretrained=False), EMBED_DIM)
    assert all(p.is_meta for p in ours.parameters())
    position_ids = ours.transformer.embeddings.position_ids
    assert not position_ids.is_meta
    torch.testing.assert_close(position_ids[0], torch.arange(40))


def test_max_pooler_ignores_padding(roberta_dir):
    ours = HFTextTower(
        _cfg(roberta_dir, hf_pooler_type="max_pooler", hf_proj_type="linear"), EMBED_DIM
    ).eval()
    ids = _tokens(pad_id=1)
    mask = (ids != 1).long()
    with torch.no_grad():
        states = ours.transformer(input_ids=ids, attention_mask=mask).last_hidden_state
        expected = torch.stack([states[i, mask[i].bool()].max(dim=0).values for i in range(len(ids))])
        torch.testing.assert_close(ours(ids), ours.proj(expected), atol=ATOL, rtol=0)


def test_identity_projection_when_widths_match(roberta_dir):
    tower = HFTextTower(_cfg(roberta_dir, hf_proj_type=None), 32)
    assert isinstance(tower.proj, torch.nn.Identity)
    with pytest.raises(ValueError, match="differs from embed_dim"):
        HFTextTower(_cfg(roberta_dir, hf_proj_type=None), EMBED_DIM)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(hf_proj_type="mpl"), "did you mean 'mlp'"),
        (dict(hf_pooler_type="mean"), "did you mean 'mean_pooler'"),
    ],
)
def test_unknown_options_name_the_fix(roberta_dir, overrides, message):
    with pytest.raises(ValueError, match=message):
        HFTextTower(_cfg(roberta_dir, **overrides), EMBED_DIM)


def test_missing_transformers_names_the_extra(roberta_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'clipzoo\[hf\]'"):
        HFTextTower(_cfg(roberta_dir), EMBED_DIM)


def _grad_flags(module: torch.nn.Module) -> dict[str, bool]:
    return {n: p.requires_grad for n, p in module.named_parameters()}


@pytest.mark.parametrize(("unlocked", "freeze_ln"), [(0, True), (0, False), (1, True), (2, False)])
def test_lock_matches_open_clip(roberta_dir, unlocked, freeze_ln):
    cfg = _cfg(roberta_dir, hf_model_pretrained=False)
    peer = _peer(cfg)
    ours = _ours_from_peer(cfg, peer, on_meta=False)
    peer.lock(unlocked, freeze_ln)
    ours.lock(unlocked, freeze_ln)
    assert _grad_flags(ours) == _grad_flags(peer)
    assert any(_grad_flags(ours).values()) and not all(_grad_flags(ours).values())


def test_lock_layers_on_bert_like_arch(m2m_dir):
    ours = HFTextTower(_cfg(m2m_dir, hf_pooler_type="cls_pooler", hf_proj_type="linear"), EMBED_DIM)
    ours.lock(unlocked_layers=1)
    flags = _grad_flags(ours.transformer)
    assert not any(v for k, v in flags.items() if k.startswith(("embed_tokens", "layers.0.")))
    assert all(v for k, v in flags.items() if k.startswith("layers.1."))


def test_grad_checkpointing_toggles(roberta_dir):
    ours = HFTextTower(_cfg(roberta_dir), EMBED_DIM)
    ours.set_grad_checkpointing(True)
    assert ours.transformer.is_gradient_checkpointing
    ours.set_grad_checkpointing(False)
    assert not ours.transformer.is_gradient_checkpointing


def test_attributes_follow_the_hf_config(roberta_dir):
    ours = HFTextTower(_cfg(roberta_dir), EMBED_DIM)
    assert (ours.vocab_size, ours.context_length, ours.output_dim) == (64, 40, EMBED_DIM)

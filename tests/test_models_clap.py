"""CLAP (audio-text): the config schema, the model's API on a tiny HTSAT, the audio transform (decoding, resampling,
padding, errors), zero-shot classification (``clipzoo classify`` on sound files: test_cli_classify.py). Parity with transformers is in
tests/hf5/test_hf5_clap.py; state-dict keys against open_clip main in scripts/clap_open_clip_main_parity.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import clipzoo
from clipzoo.registry.config import ConfigError, parse_model_config
from tests.helpers.audio import tone
from tests.helpers.configs import TINY_CLAP


def test_nine_clap_configs_are_audio_text():
    from clipzoo.registry.architectures import model_modality

    names = [n for n in clipzoo.list_models() if n.startswith("CLAP-")]
    assert len(names) == 9 and {model_modality(n) for n in names} == {"audio-text"}
    assert model_modality("ViT-B-32") == "image-text"
    assert "vision_cfg" not in clipzoo.get_model_config("CLAP-HTSAT-tiny")


def test_laion_tags_name_the_transformers_checkpoints():
    fused = clipzoo.get_pretrained_cfg("CLAP-HTSAT-tiny-Roberta-base-fused", "laion")
    plain = clipzoo.get_pretrained_cfg("CLAP-HTSAT-tiny-Roberta-base", "laion")
    assert fused["hf_hub"] == "laion/clap-htsat-fused/model.safetensors" and fused["fused"] is True
    assert plain["hf_hub"] == "laion/clap-htsat-unfused/pytorch_model.bin" and plain["fused"] is False


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"vision_cfg": {}}, "not both"),
        ({"audio_cfg": {"model_type": "PANN"}}, "model_type 'PANN'"),
        ({"audio_cfg": {"model_name": "huge"}}, "model_name 'huge'"),
        ({"audio_cfg": {"fmax": 30000}}, "fmax"),
        ({"audio_cfg": {"hop_sizes": 1}}, "did you mean 'hop_size'"),
    ],
)
def test_bad_audio_configs_are_config_errors(change, needle):
    raw = {**TINY_CLAP, **{k: ({**TINY_CLAP.get(k, {}), **v} if k == "audio_cfg" else v) for k, v in change.items()}}
    with pytest.raises(ConfigError, match=needle):
        parse_model_config(raw, "x.json")


def test_forward_tuple_dict_and_logits(tiny_clap):
    model, preprocess = tiny_clap
    batch = torch.utils.data.default_collate([preprocess(tone(2.0)), preprocess(tone(1.0, freq=880))])
    text = torch.randint(1, 400, (3, 16))
    with torch.no_grad():
        audio_features, text_features, scale = model(batch, text)
        logits, logits_t = model.get_logits(batch, text)
        model.output_dict = True
        out = model(batch, text)
        model.output_dict = False
    assert audio_features.shape == (2, 16) and text_features.shape == (3, 16)
    assert torch.allclose(audio_features.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(logits, scale * audio_features @ text_features.T, atol=1e-4)
    assert torch.equal(logits_t, logits.T) and set(out) == {"audio_features", "text_features", "logit_scale"}


def test_encode_audio_takes_waveforms_and_refuses_other_inputs(tiny_clap):
    model, preprocess = tiny_clap
    wave = torch.from_numpy(np.tile(tone(1.0), 10))[None]  # exactly 10 s: no padding either way
    with torch.no_grad():
        from_wave = model.encode_audio(wave)  # the in-model front end (open_clip's unfused input)
        from_features = model.encode_audio({k: v[None] for k, v in preprocess(wave[0]).items()})
    assert (from_wave - from_features).abs().max() < 1e-3
    from clipzoo.models.audio import AudioInputError

    with pytest.raises(AudioInputError, match="mel features"):
        model.encode_audio(torch.zeros(2, 3, 4))


@pytest.mark.parametrize("fmt, ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_files_decode_resample_and_mix_to_mono(tiny_clap, tmp_path, fmt, ext):
    import soundfile

    _, preprocess = tiny_clap
    stereo = np.stack([tone(1.5, 16000), tone(1.5, 16000)], axis=1)
    path = tmp_path / f"tone.{ext}"
    soundfile.write(path, stereo, 16000, format=fmt, subtype="FLOAT" if fmt == "WAV" else None)
    got = preprocess(str(path))["input_features"]
    want = preprocess((torch.from_numpy(stereo.T.copy()), 16000))["input_features"]  # (channels, samples), rate
    assert got.shape == (1, 1001, 64) and not preprocess(str(path))["is_longer"]
    if fmt == "WAV":  # float samples: the same numbers
        assert (got - want).abs().max() < 1e-3
    else:  # compressed (16-bit, lossy, MP3's encoder delay): the loud bands agree to a few dB
        loud = want > -30
        assert (got - want).abs()[loud].median() < 3.0


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: p / "missing.wav", "no such audio file"),
        (lambda p: (p / "empty.wav").write_bytes(b"") and p / "empty.wav" or p / "empty.wav", "empty"),
        (lambda p: (p / "junk.wav").write_bytes(b"RIFF junk" * 10) and p / "junk.wav", "not a readable audio file"),
        (lambda p: np.zeros(0, np.float32), "empty"),
        (lambda p: np.full(100, np.nan, np.float32), "non-finite"),
        (lambda p: {"not": "audio"}, "audio must be"),
        (lambda p: (np.zeros(10, np.float32), -5), "sample rate"),
    ],
)
def test_bad_audio_is_a_typed_input_error(tiny_clap, tmp_path, make, needle):
    from clipzoo.errors import InputError
    from clipzoo.preprocess.audio import AudioError

    _, preprocess = tiny_clap
    with pytest.raises(AudioError, match=needle) as info:
        preprocess(make(tmp_path))
    assert isinstance(info.value, InputError)


def test_absurdly_long_audio_is_refused(tiny_clap, monkeypatch):
    from clipzoo.preprocess import audio

    monkeypatch.setattr(audio, "MAX_AUDIO_SECONDS", 2.0)
    with pytest.raises(audio.AudioError, match="at most 2 s"):
        tiny_clap[1](tone(3.0))


def test_repeat_padding_and_long_clips(tiny_clap):
    from clipzoo.preprocess.audio import repeat_pad

    assert repeat_pad(np.arange(3.0), 8).tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    _, preprocess = tiny_clap
    long = preprocess(tone(12.0))
    assert bool(long["is_longer"]) and long["input_features"].shape == (1, 1001, 64)


def test_zero_shot_classify_audio(tiny_clap):
    model, preprocess = tiny_clap
    tokenizer = clipzoo.get_tokenizer("tiny-clap")
    results = clipzoo.zero_shot_classify(
        model, [tone(1.0), tone(2.0, freq=300)], ["dog", "rain", "siren"], tokenizer, preprocess, top_k=2
    )
    assert len(results) == 2 and all(len(r) == 2 for r in results)
    assert all(abs(sum(p for _, p in r) - 1) < 1 for r in results)


ROBERTA_BASE = {  # roberta-base's published config.json, so the RoBERTa text towers build offline
    "model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1,
    "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}  # fmt: skip


@pytest.mark.slow
def test_state_dict_keys_equal_open_clip_main():
    """Keys and shapes of the 9 CLAP configs against open_clip main's models (dumped from open_clip main at
    89fb801, built on the CPU; scripts/clap_open_clip_main_parity.py recomputes them). Every audio tower is
    compared; whole models for the native-text configs and one RoBERTa config (the six RoBERTa text towers are
    transformers' roberta-base, building each costs seconds)."""
    import gzip
    from pathlib import Path

    from clipzoo.factory.meta_build import build, empty_parameters
    from clipzoo.factory.resolve import resolve

    data = Path(__file__).parent / "data" / "open_clip-main" / "clap_state_dict_keys.json.gz"
    theirs = json.loads(gzip.decompress(data.read_bytes()))
    assert len(theirs) == 9
    from clipzoo.models.audio import AudioTower

    for name, keys in theirs.items():
        spec = resolve(name, None)
        cfg = spec.model_cfg
        if cfg.uses_hf_text and name != "CLAP-HTSAT-tiny-Roberta-base-fused":
            with empty_parameters():
                tower = AudioTower(cfg.audio_cfg, cfg.embed_dim).state_dict()
            audio = {k.removeprefix("audio."): v for k, v in keys.items() if k.startswith("audio.")}
            assert {k: list(v.shape) for k, v in tower.items()} == audio, name
            continue
        cfg.text_cfg.hf_model_config = ROBERTA_BASE if cfg.uses_hf_text else None
        cfg.text_cfg.hf_model_pretrained = False
        ours = {k: list(v.shape) for k, v in build(spec, empty=True).state_dict().items()}
        assert ours == keys, name

"""CLAP against transformers 5.x: tiny random ``ClapModel`` folders (fused and unfused) load through ``local-dir:``
with the features of ``get_audio_features``/``get_text_features`` (1e-4), clipzoo's audio transform gives
``ClapFeatureExtractor``'s ``input_features`` and ``is_longer`` (1e-5), and the export writes a folder that
``AutoModel``/``AutoProcessor`` load with the same features.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

RATE = 48000
FEATURE_TOL = 1e-4
MEL_TOL = 1e-5


def _sounds(seconds: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
    """Tones with a little noise, one per length."""
    rng = np.random.RandomState(seed)
    out = []
    for i, s in enumerate(seconds):
        t = np.arange(int(s * RATE)) / RATE
        out.append((0.4 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.05 * rng.randn(t.size)).astype(np.float32))
    return out


def _tokenizer(folder):
    """A byte-level BPE RoBERTa tokenizer trained on a few words (vocab.json + merges.txt)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaTokenizerFast

    from tests.hf5.hf5_twins import corpus

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus(), vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")  # fmt: skip


def _clap_folder(root, fused: bool):
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    folder = root / ("fused" if fused else "unfused")
    folder.mkdir()
    tokenizer = _tokenizer(folder)
    # HTSAT's image geometry (256 / 64 mel bins: 1001 frames fold into 4 strips; stages at 64, 32, 16, 8), thin
    audio = dict(patch_embeds_hidden_size=8, depths=[1, 2, 1, 1], num_attention_heads=[1, 2, 2, 2],
                 hidden_size=64, projection_dim=16, enable_fusion=fused)  # fmt: skip
    text = dict(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=32, projection_dim=16, max_position_embeddings=80, pad_token_id=1)  # fmt: skip
    torch.manual_seed(0)
    model = ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16)).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics and logit scale
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.5)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
        model.logit_scale_a.fill_(2.5)
    extractor = ClapFeatureExtractor(frequency_min=50, frequency_max=14000,
                                     truncation="fusion" if fused else "rand_trunc")  # fmt: skip
    model.save_pretrained(folder)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder, model, extractor


@pytest.fixture(scope="module", params=[False, True], ids=["unfused", "fused"])
def clap(request, tmp_path_factory):
    return _clap_folder(tmp_path_factory.mktemp("clap"), request.param)


def _ours(folder):
    import clipzoo

    model, _, preprocess = clipzoo.create_model_and_transforms(f"local-dir:{folder}")
    return model.eval(), preprocess


def _batch(items: list[dict]) -> dict:
    return {key: torch.stack([torch.as_tensor(item[key]) for item in items]) for key in items[0]}


def test_features_match_transformers(clap):
    folder, hf, extractor = clap
    ours, _ = _ours(folder)
    sounds = _sounds((3.0, 10.0, 14.0))  # short, exact, long (fused: the crops of the long one)
    inputs = extractor(sounds, sampling_rate=RATE, return_tensors="pt")
    ids = torch.randint(3, hf.config.text_config.vocab_size, (3, 9))
    ids[1, 6:] = 1  # padding
    with torch.no_grad():
        want_audio = hf.get_audio_features(input_features=inputs["input_features"], is_longer=inputs["is_longer"])
        want_text = hf.get_text_features(input_ids=ids, attention_mask=(ids != 1).long())
        want_audio = getattr(want_audio, "pooler_output", want_audio)
        want_text = getattr(want_text, "pooler_output", want_text)
        got_audio = ours.encode_audio(dict(inputs), normalize=True)
        got_text = ours.encode_text(ids, normalize=True)
    audio_diff = (torch.nn.functional.normalize(want_audio, dim=-1) - got_audio).abs().max().item()
    text_diff = (torch.nn.functional.normalize(want_text, dim=-1) - got_text).abs().max().item()
    print(f"{folder.name}: audio features max diff {audio_diff:.2e}, text {text_diff:.2e}")
    assert audio_diff < FEATURE_TOL and text_diff < FEATURE_TOL


def test_audio_transform_matches_feature_extractor(clap):
    folder, _, extractor = clap
    _, preprocess = _ours(folder)
    sounds = _sounds((0.7, 4.0, 10.0, 13.5), seed=1)
    worst = 0.0
    for sound in sounds[:3]:  # at most 10 s: no random crop on either side
        want = extractor(sound, sampling_rate=RATE, return_tensors="np")
        got = preprocess(sound)
        worst = max(worst, float(np.abs(got["input_features"].numpy() - want["input_features"][0]).max()))
    np.random.seed(3)  # the long clip: transformers draws its crop(s) from numpy; so does random_crop=True
    want = extractor([sounds[3], sounds[0]], sampling_rate=RATE, return_tensors="np")
    np.random.seed(3)
    from clipzoo.preprocess.audio import AudioTransform

    got = AudioTransform(preprocess.cfg, random_crop=True)(sounds[3])
    worst = max(worst, float(np.abs(got["input_features"].numpy() - want["input_features"][0]).max()))
    print(f"{folder.name}: input_features max diff {worst:.2e}")
    assert worst < MEL_TOL
    assert [bool(preprocess(s)["is_longer"]) for s in sounds] == [False, False, False, True]
    assert want["is_longer"][:, 0].tolist() == [True, False]  # a batch with a long clip: no random flag


def test_export_round_trips_to_clap_model(clap, tmp_path):
    """clipzoo's ClapModel export: AutoModel/AutoProcessor load it and give clipzoo's features."""
    from transformers import AutoModel, AutoProcessor

    import clipzoo

    folder, _, _ = clap
    out = clipzoo.export_model(f"local-dir:{folder}", to=tmp_path / "export", format="transformers")
    ours, _ = _ours(folder)
    back = AutoModel.from_pretrained(out).eval()
    processor = AutoProcessor.from_pretrained(out)
    sounds = _sounds((2.0, 12.0), seed=2)
    texts = ["a dog", "the rain on a red car"]
    np.random.seed(0)
    inputs = processor(text=texts, audio=sounds, sampling_rate=RATE, return_tensors="pt", padding=True)
    with torch.no_grad():
        want_audio = back.get_audio_features(input_features=inputs["input_features"], is_longer=inputs["is_longer"])
        want_text = back.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        want_audio = torch.nn.functional.normalize(getattr(want_audio, "pooler_output", want_audio), dim=-1)
        want_text = torch.nn.functional.normalize(getattr(want_text, "pooler_output", want_text), dim=-1)
        got_audio = ours.encode_audio(
            {"input_features": inputs["input_features"], "is_longer": inputs["is_longer"]}, normalize=True
        )
        got_text = ours.encode_text(clipzoo.get_tokenizer(f"local-dir:{folder}")(texts), normalize=True)
    audio_diff = (want_audio - got_audio).abs().max().item()
    text_diff = (want_text - got_text).abs().max().item()
    print(f"{folder.name} export: audio {audio_diff:.2e}, text {text_diff:.2e}")
    assert audio_diff < FEATURE_TOL and text_diff < FEATURE_TOL
    assert processor.feature_extractor.truncation == ("fusion" if back.config.audio_config.enable_fusion else "rand_trunc")
    reloaded = clipzoo.create_model(f"local-dir:{out}").eval()
    with torch.no_grad():
        again = reloaded.encode_audio(dict(input_features=inputs["input_features"], is_longer=inputs["is_longer"]),
                                      normalize=True)  # fmt: skip
    assert (again - got_audio).abs().max().item() < FEATURE_TOL

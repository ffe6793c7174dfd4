"""CLAP against open_clip main (not a test: open_clip main is unreleased and needs torchlibrosa).

Run with a Python that has torch, transformers, torchlibrosa and librosa, and open_clip main's source on the path:

    PYTHONPATH=/path/to/open_clip/src:src python scripts/clap_open_clip_main_parity.py

For each of the 9 CLAP configs it compares the state-dict keys and shapes of clipzoo's model with open_clip main's
(built on the CPU: torchlibrosa's STFT refuses the meta device; RoBERTa from roberta-base's published config, no
download), and for HTSAT-tiny, HTSAT-tiny fused and Whisper-tiny it loads open_clip's random weights into clipzoo
and prints the largest differences of the computed buffers and of ``encode_audio``/``encode_text``.
"""

from __future__ import annotations

import numpy as np
import torch


def _offline_roberta() -> None:
    from transformers import AutoConfig, RobertaConfig

    config = RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2)  # fmt: skip
    AutoConfig.from_pretrained = lambda *a, **k: config


def _ours(name: str):
    from clipzoo.factory.meta_build import build
    from clipzoo.factory.resolve import resolve

    spec = resolve(name, None)
    spec.model_cfg.text_cfg.hf_model_pretrained = False
    return build(spec).eval()


def _inputs(model, name: str) -> dict:
    cfg = model.audio.cfg
    t = np.arange(cfg.clip_samples) / cfg.sample_rate
    wave = torch.tensor(0.3 * np.sin(2 * np.pi * 440 * t)[None], dtype=torch.float32)
    if cfg.enable_fusion:
        return {"mel_fusion": torch.randn(1, 4, 1001, 64) * 10 - 30, "longer": torch.tensor([True]), "waveform": wave}
    return {"waveform": wave}


def main() -> None:
    """Print the comparison (see the module docstring)."""
    import open_clip

    _offline_roberta()
    torch.manual_seed(0)
    for name in [n for n in open_clip.list_models() if n.startswith("CLAP-")]:
        ref = open_clip.create_model(name, pretrained_text=False).eval()
        ours = _ours(name)
        theirs = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        mine = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
        print(f"{name}: {len(theirs)} keys; same keys and shapes: {theirs == mine}")
        if name not in ("CLAP-HTSAT-tiny", "CLAP-HTSAT-tiny-Roberta-base-fused", "CLAP-Whisper-tiny-Roberta-base"):
            continue
        state = ref.state_dict()
        own = ours.state_dict()
        computed = [k for k in own if "extractor" in k or "attn_mask" in k or "position_index" in k]
        buffers = max(((own[k].float() - state[k].float()).abs().max().item() for k in computed), default=0.0)
        ours.load_state_dict(state)
        batch = _inputs(ours, name)
        text = torch.randint(3, 1000, (2, 20))
        with torch.no_grad():
            audio = (ref.encode_audio(batch) - ours.encode_audio(batch)).abs().max().item()
            words = (ref.encode_text(text) - ours.encode_text(text)).abs().max().item()
        print(f"  computed buffers {buffers:.1e}, encode_audio {audio:.1e}, encode_text {words:.1e}")


if __name__ == "__main__":
    main()

"""Write ``src/clipzoo/registry/model_profiles.json``: parameters and FLOPs of every built-in architecture.

Each architecture is built on the meta device (no weights allocated) and run once under
``torch.utils.flop_counter.FlopCounterMode``: one image at the config's image size through the image tower,
one sequence of ``context_length`` tokens through the text tower, and both through the whole model. This is
what open_clip's own profiler (``open_clip_train/profiler.py``, its default ``torch`` mode) measures, and the
numbers in open_clip's ``docs/model_profile.csv`` are that profiler's output: FLOPs as torch counts them
(a multiply-add is two FLOPs), batch size 1. They are checked against that file (within 2%) by
``tests/test_registry_results.py``.

Counting convention: the *reference* forward, every token through every layer. clipzoo's own forward skips
work whose result is discarded (the last block computes only the pooled token when the class token is the
output; the text tower stops at the pooled position; the ResNet attention pool projects only the mean
token's query). While counting, this script turns those shortcuts off so the numbers describe the
architecture, as open_clip counts it, not clipzoo's implementation.

Architectures whose text tower is a remote Hugging Face model (``text_cfg.hf_model_name``) cannot be built
offline: for them only the image tower is built and counted; the text tower's and the totals' numbers are
open_clip's published ones (all of them are in its profile), and the entry says so in ``note``.

    OMP_NUM_THREADS=1 python scripts/profile_models.py [--models A,B] [--published CSV] [--out JSON]

With ``--models`` only those entries are recomputed; the others are kept from the existing file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "clipzoo" / "registry" / "model_profiles.json"
DEFAULT_PUBLISHED = ROOT / "tests" / "data" / "open_clip-3.3.0" / "model_profile.csv"
PUBLISHED_KEYS = ("mparams", "image_mparams", "text_mparams", "gflops", "image_gflops", "text_gflops")
ABOUT = (
    "Parameters and FLOPs per architecture (batch size 1: one image at the config's image size, one text of "
    "context_length tokens). 'computed': scripts/profile_models.py on the meta device with torch's "
    "FlopCounterMode (a multiply-add counts as two FLOPs), counting the reference forward (every token "
    "through every layer), as open_clip's profiler does. 'published': open_clip 3.3.0 docs/model_profile.csv "
    "(params in millions, GFLOPs), carried over unchanged. Parameter counts are exact integers per tower "
    "(visual, text, text_decoder for CoCa, other = logit scale/bias; total)."
)


def _published(path: Path) -> dict[str, dict[str, float]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["model"]: {k: float(row[k]) for k in PUBLISHED_KEYS} for row in csv.DictReader(handle)}


@contextlib.contextmanager
def reference_forward() -> Iterator[None]:
    """Turn off clipzoo's skip-the-discarded-work shortcuts for the duration (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    from clipzoo.models.resnet import AttentionPool2d
    from clipzoo.models.vit import VisionTransformer

    def full_attention_pool(self: AttentionPool2d, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).transpose(1, 2)
        tokens = torch.cat((tokens.mean(dim=1, keepdim=True), tokens), dim=1)
        tokens = tokens + self.positional_embedding.to(tokens.dtype)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

        q, k, v = (heads(proj(tokens)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        return self.c_proj(out)[:, 0]

    saved = (AttentionPool2d.forward, VisionTransformer._class_token_only)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    AttentionPool2d.forward = full_attention_pool
    VisionTransformer._class_token_only = lambda self: False
    # nn.MultiheadAttention's fused kernel (the default forward takes it where open_clip's would) is one op the
    # FLOP counter does not know: the unfused calls are counted
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        AttentionPool2d.forward, VisionTransformer._class_token_only = saved
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _flops(fn, *args) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args)
    return int(counter.get_total_flops())


def _text_forward(model, text):
    from clipzoo.models.text import TextEncoderMixin

    tower = getattr(model, "text", model)
    if isinstance(tower, TextEncoderMixin):  # every position, as open_clip's text tower computes
        return tower.encode_text_tokens(text, need_tokens=True)
    return tower(text)


def _image_size(cfg) -> tuple[int, int]:
    size = cfg.vision_cfg.image_size
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


# Token budgets a NaFlex image tower is profiled at: open_clip main's NaFlex training sequence lengths (its eval
# default is the config's image_seq_len, also profiled). Each as a dense grid of that many patches: a NaFlex batch
# computes every position up to its budget, padding included, so the cost depends on the budget alone.
NAFLEX_BUDGETS = (128, 256, 576, 784, 1024)


def _grid_for(budget: int) -> tuple[int, int]:
    """The most square (rows, cols) with rows * cols == budget."""
    rows = max(r for r in range(1, int(budget**0.5) + 1) if budget % r == 0)
    return rows, budget // rows


def naflex_budget_flops(model, cfg) -> dict[str, int]:
    """Image-tower FLOPs of a NaFlex tower at each token budget (keys: the budget as a string)."""
    import torch

    from clipzoo.registry.naflex import naflex_patch_size, naflex_token_budget

    patch = naflex_patch_size(cfg.vision_cfg)
    out = {}
    for budget in sorted({*NAFLEX_BUDGETS, naflex_token_budget(cfg.vision_cfg)}):
        rows, cols = _grid_for(budget)
        out[str(budget)] = _flops(model.encode_image, torch.ones(1, 3, rows * patch, cols * patch))
    return out


AUDIO_SECONDS = 10.0  # CLAP models are counted on one clip of this length (their transform's input for it)
# Hugging Face text configs the audio-text configs name, as published (roberta-base's config.json), so their text
# towers can be built offline for counting.
OFFLINE_TEXT_CONFIGS = {
    "roberta-base": {
        "model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514,
        "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    },
}  # fmt: skip


def audio_profile(cfg) -> dict:
    """An audio-text (CLAP) entry: parameters and FLOPs of the audio tower on a 10 s clip and of one text."""
    import numpy as np
    import torch

    from clipzoo.models import build_model, count_parameters
    from clipzoo.preprocess.audio import audio_transform

    if cfg.uses_hf_text:
        cfg.text_cfg.hf_model_config = OFFLINE_TEXT_CONFIGS[cfg.text_cfg.hf_model_name]
        cfg.text_cfg.hf_model_pretrained = False
    clip = audio_transform(cfg.audio_cfg)(np.zeros(int(AUDIO_SECONDS * cfg.audio_cfg.sample_rate), np.float32))
    # a 10 s clip is not "longer": a fused tower sees its global view only, so the flags can stay out
    batch = {key: value[None] for key, value in clip.items() if key != "is_longer"}
    context = cfg.text_cfg.context_length
    with torch.device("meta"):
        model = build_model(cfg).eval()
        model.requires_grad_(False)
        batch = {key: value.to("meta") for key, value in batch.items()}
        flops = {"audio": _flops(model.encode_audio, batch)}
        if not cfg.uses_hf_text:
            flops["text"] = _flops(_text_forward, model, torch.ones(1, context, dtype=torch.long))
    if cfg.uses_hf_text:  # transformers' RoBERTa reads its mask's values: count it on real (random) weights
        from clipzoo.models.towers import build_text_tower

        with torch.no_grad():
            tower = build_text_tower(cfg.embed_dim, cfg.text_cfg).eval()
            flops["text"] = _flops(tower, torch.ones(1, context, dtype=torch.long))
    flops["total"] = flops["audio"] + flops["text"]
    note = f"audio-text: the audio tower on one {AUDIO_SECONDS:g} s clip"
    if cfg.audio_cfg.model_type == "whisper":
        note += f" (Whisper's input is always its {cfg.audio_cfg.clip_samples / cfg.audio_cfg.sample_rate:g} s)"
    return {"audio_seconds": AUDIO_SECONDS, "context_length": context,
            "computed": {"params": count_parameters(model), "flops": flops}, "note": note}  # fmt: skip


def profile(name: str) -> dict:
    """The computed part of one architecture's entry."""
    import torch

    from clipzoo.models import build_model, count_parameters
    from clipzoo.models.coca import CoCa
    from clipzoo.models.towers import build_vision_tower
    from clipzoo.registry.architectures import get_typed_model_cfg
    from clipzoo.registry.naflex import is_naflex_vision

    cfg = get_typed_model_cfg(name)
    if cfg.is_audio:
        return audio_profile(cfg)
    height, width = _image_size(cfg)
    entry: dict = {"image_size": [height, width], "context_length": cfg.text_cfg.context_length}
    with torch.device("meta"), reference_forward():
        image = torch.ones(1, 3, height, width)
        text = torch.ones(1, cfg.text_cfg.context_length, dtype=torch.long)
        if cfg.uses_hf_text:
            visual = build_vision_tower(cfg.embed_dim, cfg.vision_cfg, cfg.quick_gelu).eval()
            visual.requires_grad_(False)  # not no_grad: its views of parameters trip the counter's hooks
            params = {"visual": sum(p.numel() for p in visual.parameters())}
            flops = {"image": _flops(visual, image)}
        else:
            model = build_model(cfg).eval()
            model.requires_grad_(False)
            params = count_parameters(model)
            flops = {"image": _flops(model.encode_image, image), "text": _flops(_text_forward, model, text)}
            # CoCa's forward also runs the caption decoder; a CLIP's is just its two towers
            flops["total"] = _flops(model, image, text) if isinstance(model, CoCa) else sum(flops.values())
            if is_naflex_vision(cfg.vision_cfg):
                entry["image_flops_by_token_budget"] = naflex_budget_flops(model, cfg)
    entry["computed"] = {"params": params, "flops": flops}
    if cfg.uses_hf_text:
        entry["note"] = (
            f"the text tower is the Hugging Face model {cfg.text_cfg.hf_model_name!r}, which cannot be built "
            "offline: only the image tower is computed; text and total numbers are open_clip's published ones"
        )
    return entry


TOLERANCE = 0.02
# published key -> (computed section, key, scale)
_COMPARED = {
    "mparams": ("params", "total", 1e6),
    "image_mparams": ("params", "visual", 1e6),
    "text_mparams": ("params", "text", 1e6),
    "gflops": ("flops", "total", 1e9),
    "image_gflops": ("flops", "image", 1e9),
    "text_gflops": ("flops", "text", 1e9),
}


def _worst_deviation(model: str, entry: dict) -> tuple[float, str]:
    """The largest relative difference between a computed number and open_clip's, and which one it is."""
    found = []
    for key, (section, name, scale) in _COMPARED.items():
        value = entry["computed"][section].get(name)
        if value is not None:
            published = entry["published"][key]
            found.append(
                (
                    abs(value / scale - published) / published,
                    f"{model} {key}: {value / scale:.2f} vs {published}",
                )
            )
    return max(found)


def _write(out: Path, entries: dict[str, dict]) -> None:
    import torch

    lines = [f"  {json.dumps(name)}: {json.dumps(entries[name], sort_keys=True)}" for name in entries]
    header = {"about": ABOUT, "torch": torch.__version__.split("+")[0]}
    text = "{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in header.items())
    text += '  "models": {\n' + ",\n".join("  " + line for line in lines) + "\n  }\n}\n"
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated architectures to recompute (default: all)")
    parser.add_argument(
        "--published", type=Path, default=DEFAULT_PUBLISHED, help="open_clip's model_profile.csv"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from clipzoo.registry.architectures import list_models

    published = _published(args.published)
    names = list_models()
    unknown = sorted(set(published) - set(names))
    if unknown:
        raise SystemExit(f"{args.published}: architectures clipzoo does not have: {unknown}")
    old = json.loads(args.out.read_text(encoding="utf-8"))["models"] if args.out.is_file() else {}
    todo = set(args.models.split(",")) if args.models else set(names)
    entries = {}
    for name in names:
        if name not in todo and name in old:
            entries[name] = old[name]
            continue
        start = time.perf_counter()
        entries[name] = profile(name)
        if name in published:
            entries[name]["published"] = published[name]
        elif "note" in entries[name] and "audio_seconds" not in entries[name]:
            raise SystemExit(
                f"{name}: the text tower cannot be built offline and open_clip published no profile"
            )
        print(f"{name}: {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
    worst = max((_worst_deviation(n, e) for n, e in entries.items() if "published" in e), default=None)
    if worst is not None and worst[0] > TOLERANCE:
        raise SystemExit(
            f"not written: a computed number is {worst[0]:.1%} off open_clip's profile ({worst[1]})"
        )
    _write(args.out, entries)
    print(f"wrote {len(entries)} architectures to {args.out}", file=sys.stderr)
    if worst is not None:
        print(f"largest deviation from open_clip's profile: {worst[0]:.2%} ({worst[1]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""transformers' newer CLIP-family checkpoints: ``Siglip2Model`` (NaFlex) both ways, ``MetaClip2Model`` in.

- ``Siglip2Model`` <-> a clipzoo model with timm's NaFlexVit SigLIP tower (``naflexvit_base_patch16_siglip`` sized by
  ``timm_model_kwargs``) and the SigLIP text tower. The weights move by :data:`SIGLIP2_KEYS`, one table read in both
  directions (:func:`siglip2_to_clipzoo` on import, :func:`clipzoo_to_siglip2` on export); the config by
  :func:`hf_siglip2_model_cfg` (import) and :func:`siglip2_config` (export); the token budget is the image
  processor's ``max_num_patches`` (``vision_cfg.image_seq_len``).
- ``MetaClip2Model`` has CLIPModel's layout and weights names; its text tower always pools at the first
  ``eos_token_id`` (CLIP's ``eos_token_id == 2`` switch to argmax pooling does not apply), see
  :func:`hf_metaclip2_model_cfg`.

Config translation is stdlib only (it runs while a name is resolved); the weight functions import torch lazily.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    StateDict = dict[str, torch.Tensor]

# The timm family every transformers Siglip2 vision tower is built from; its size comes from timm_model_kwargs.
SIGLIP2_TIMM_FAMILY = "naflexvit_base_patch16_siglip"
_TIMM_LN_EPS = 1e-6
# transformers 5.x Siglip2VisionConfig defaults (save_pretrained writes only what differs from them)
_SIGLIP2_VISION = {
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
    "num_channels": 3, "patch_size": 16, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6,
    "vision_use_head": True, "num_patches": 256,
}  # fmt: skip
_TIMM_ACTS = {"gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu": "gelu", "quick_gelu": "quick_gelu"}
_HF_ACTS = {"GELUTanh": "gelu_pytorch_tanh", "GELU": "gelu", "QuickGELU": "quick_gelu"}


# ---------------------------------------------------------------------------------------------------- weights

# (transformers keys, clipzoo keys, how): "same" copies; "grid" is the position table, (N, D) in transformers and
# (1, side, side, D) in timm; "cat" concatenates one side's tensors along dim 0 and splits them into the other's
# (q, k, v projections <-> a fused qkv; the pool's in_proj <-> its q and kv); "scalar" is (1,) <-> ().
# {i} is a layer index, {p} weight/bias.
_V, _T, _TR = "vision_model.", "text_model.", "visual.trunk."
_ATTN_QKV = tuple(f"self_attn.{n}_proj.{{p}}" for n in "qkv")
SIGLIP2_KEYS: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    ((f"{_V}embeddings.patch_embedding.{{p}}",), (f"{_TR}embeds.proj.{{p}}",), "same"),
    ((f"{_V}embeddings.position_embedding.weight",), (f"{_TR}embeds.pos_embed",), "grid"),
    *(((f"{_V}encoder.layers.{{i}}.{a}.{{p}}",), (f"{_TR}blocks.{{i}}.{b}.{{p}}",), "same") for a, b in (
        ("layer_norm1", "norm1"), ("layer_norm2", "norm2"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2"),
        ("self_attn.out_proj", "attn.proj"))),
    (tuple(f"{_V}encoder.layers.{{i}}.{k}" for k in _ATTN_QKV), (f"{_TR}blocks.{{i}}.attn.qkv.{{p}}",), "cat"),
    ((f"{_V}post_layernorm.{{p}}",), (f"{_TR}norm.{{p}}",), "same"),
    ((f"{_V}head.probe",), (f"{_TR}attn_pool.latent",), "same"),
    ((f"{_V}head.attention.in_proj_{{p}}",), (f"{_TR}attn_pool.q.{{p}}", f"{_TR}attn_pool.kv.{{p}}"), "cat"),
    *(((f"{_V}head.{a}.{{p}}",), (f"{_TR}attn_pool.{b}.{{p}}",), "same") for a, b in (
        ("attention.out_proj", "proj"), ("layernorm", "norm"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2"))),
    ((f"{_T}embeddings.token_embedding.weight",), ("text.token_embedding.weight",), "same"),
    ((f"{_T}embeddings.position_embedding.weight",), ("text.positional_embedding",), "same"),
    *(((f"{_T}encoder.layers.{{i}}.{a}.{{p}}",), (f"text.transformer.resblocks.{{i}}.{b}.{{p}}",), "same")
      for a, b in (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"),
                   ("mlp.fc2", "mlp.c_proj"), ("self_attn.out_proj", "attn.out_proj"))),
    (tuple(f"{_T}encoder.layers.{{i}}.{k}" for k in _ATTN_QKV), ("text.transformer.resblocks.{i}.attn.in_proj_{p}",),
     "cat"),
    ((f"{_T}final_layer_norm.{{p}}",), ("text.ln_final.{p}",), "same"),
    ((f"{_T}head.{{p}}",), ("text.text_projection.{p}",), "same"),
    (("logit_scale",), ("logit_scale",), "scalar"),
    (("logit_bias",), ("logit_bias",), "scalar"),
)  # fmt: skip
# How a "cat" row splits its concatenation on each side: relative sizes along dim 0.
_SPLITS = {3: (1, 1, 1), 2: (1, 2), 1: (1,)}


def _layer_count(state: StateDict, prefix: str) -> int:
    found = {int(k[len(prefix) :].split(".", 1)[0]) for k in state if k.startswith(prefix)}
    return max(found) + 1 if found else 0


def _expand(template: str, layers: dict[str, int]) -> list[str]:
    """All keys a template names: one per layer index (when it has {i}) and per weight/bias (when it has {p})."""
    keys = [template]
    if "{i}" in template:
        tower = "vision" if template.startswith((_V, "visual.")) else "text"
        keys = [k.replace("{i}", str(i)) for k in keys for i in range(layers[tower])]
    if "{p}" in template:
        keys = [k.replace("{p}", p) for k in keys for p in ("weight", "bias")]
    return keys


def _move(state: StateDict, sources: tuple[str, ...], targets: tuple[str, ...], how: str, forward: bool) -> dict:
    import torch

    tensors = [state[k] for k in sources]
    if how == "same":
        return {targets[0]: tensors[0]}
    if how == "scalar":
        return {targets[0]: tensors[0].reshape(()) if forward else tensors[0].reshape(1)}
    if how == "grid":
        table = tensors[0]
        if forward:
            side = math.isqrt(table.shape[0])
            return {targets[0]: table.reshape(1, side, side, table.shape[-1])}
        return {targets[0]: table.reshape(-1, table.shape[-1])}
    joined = torch.cat(tensors, dim=0)
    weights = _SPLITS[len(targets)]
    unit = joined.shape[0] // sum(weights)
    parts = torch.split(joined, [w * unit for w in weights], dim=0)
    return {t: part.contiguous() for t, part in zip(targets, parts, strict=True)}


def _convert(state: StateDict, forward: bool) -> StateDict:
    """Apply :data:`SIGLIP2_KEYS` transformers -> clipzoo (``forward``) or back; every key must be used."""
    from .errors import CheckpointError

    if forward:
        layers = {"vision": _layer_count(state, f"{_V}encoder.layers."), "text": _layer_count(state, f"{_T}encoder.layers.")}
    else:
        layers = {"vision": _layer_count(state, f"{_TR}blocks."), "text": _layer_count(state, "text.transformer.resblocks.")}
    out: StateDict = {}
    left = {k for k in state if not k.endswith("position_ids")}
    for hf_keys, our_keys, how in SIGLIP2_KEYS:
        src_t, dst_t = (hf_keys, our_keys) if forward else (our_keys, hf_keys)
        expanded_src = [_expand(t, layers) for t in src_t]
        expanded_dst = [_expand(t, layers) for t in dst_t]
        for sources, targets in zip(zip(*expanded_src, strict=True), zip(*expanded_dst, strict=True), strict=True):
            missing = [k for k in sources if k not in state]
            if missing:
                raise CheckpointError(f"SigLIP 2 checkpoint is missing {', '.join(missing)}")
            out.update(_move(state, sources, targets, how, forward))
            left.difference_update(sources)
    if left:
        raise CheckpointError(f"SigLIP 2 checkpoint: {len(left)} key(s) not understood: {', '.join(sorted(left)[:10])}")
    return out


def is_hf_siglip2_state(state: StateDict) -> bool:
    """transformers ``Siglip2Model``: a linear (already patchified) patch embedding and a text model."""
    patch = state.get(f"{_V}embeddings.patch_embedding.weight")
    return patch is not None and patch.ndim == 2 and f"{_T}embeddings.token_embedding.weight" in state


def siglip2_to_clipzoo(state: StateDict, model: Any = None) -> StateDict:
    """transformers Siglip2Model weights -> clipzoo's (NaFlexVit SigLIP tower, SigLIP text tower).

    Args:
        state: The transformers state dict.
        model: The model being loaded (unused: the layout alone decides).

    Returns:
        The state dict in clipzoo's layout.

    Raises:
        CheckpointError: a key is missing or not understood.
    """
    return _convert(state, forward=True)


def clipzoo_to_siglip2(state: StateDict) -> StateDict:
    """clipzoo NaFlex SigLIP weights -> transformers Siglip2Model's (the same table, read backwards).

    Args:
        state: The clipzoo state dict.

    Returns:
        The transformers state dict.

    Raises:
        CheckpointError: a key is missing or not understood.
    """
    return _convert(state, forward=False)


# ---------------------------------------------------------------------------------------------------- import cfg


def _mlp_ratio(width: int, hidden: int) -> float:
    ratio = hidden / width
    return ratio if int(width * ratio) == hidden else (hidden + 0.5) / width


def siglip2_vision_cfg(vision: dict, max_num_patches: int | None = None) -> dict[str, Any]:
    """A transformers Siglip2VisionConfig (dict, defaults filled in) -> clipzoo vision_cfg (a timm NaFlexVit).

    Args:
        vision: The ``vision_config`` section.
        max_num_patches: The image processor's token budget (default: the position table's size).

    Returns:
        The open_clip-format ``vision_cfg``.

    Raises:
        ValueError: an activation, head or channel count clipzoo cannot build.
    """
    v = {**_SIGLIP2_VISION, **{k: x for k, x in vision.items() if x is not None}}
    if v["num_channels"] != 3:
        raise ValueError(f"vision_config: num_channels={v['num_channels']}; clipzoo's image towers take RGB (3)")
    if v["hidden_act"] not in _TIMM_ACTS:
        raise ValueError(f"vision_config: hidden_act {v['hidden_act']!r}; supported: {', '.join(_TIMM_ACTS)}")
    if not v["vision_use_head"]:
        raise ValueError("vision_config: vision_use_head=false: a CLIP-style image tower needs the pooling head")
    side = math.isqrt(v["num_patches"])
    if side * side != v["num_patches"]:
        raise ValueError(f"vision_config: num_patches={v['num_patches']} is not a square grid")
    patch = v["patch_size"]
    cfg: dict[str, Any] = {
        "image_size": side * patch,
        "image_seq_len": int(max_num_patches or v["num_patches"]),
        "timm_model_name": SIGLIP2_TIMM_FAMILY,
        "timm_model_pretrained": False,
        "timm_pool": "map",
        "timm_proj": "none",
        "timm_model_kwargs": {
            "embed_dim": v["hidden_size"], "depth": v["num_hidden_layers"], "num_heads": v["num_attention_heads"],
            "mlp_ratio": _mlp_ratio(v["hidden_size"], v["intermediate_size"]), "patch_size": patch,
            "act_layer": _TIMM_ACTS[v["hidden_act"]], "pos_embed_grid_size": [side, side],
        },
    }  # fmt: skip
    if v["layer_norm_eps"] != _TIMM_LN_EPS:
        cfg["norm_kwargs"] = {"eps": v["layer_norm_eps"]}
    return cfg


def hf_siglip2_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers Siglip2Config (as a dict) -> open_clip model_cfg: NaFlexVit image tower, SigLIP text tower."""
    from .formats.transformers_config import hf_siglip_model_cfg

    vision = config.get("vision_config") or {}
    # the text tower is SigLIP's; build it through the SigLIP translation with a stand-in fixed-size vision section
    side = math.isqrt(vision.get("num_patches") or _SIGLIP2_VISION["num_patches"])
    as_siglip = {**config, "vision_config": {**{k: x for k, x in vision.items() if k != "num_patches"},
                                             "image_size": side * (vision.get("patch_size") or 16)}}  # fmt: skip
    out = hf_siglip_model_cfg(as_siglip, tokenizer_source)
    out["vision_cfg"] = siglip2_vision_cfg(vision)
    return out


def hf_metaclip2_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers MetaClip2Config (as a dict) -> open_clip model_cfg: CLIP's, pooling at the first eos token."""
    from .formats.transformers_config import hf_clip_model_cfg

    out = hf_clip_model_cfg(config, tokenizer_source)
    eos = (config.get("text_config") or {}).get("eos_token_id", 49407)
    out["text_cfg"].update(pool_type="eos", eos_id=eos)
    vocab = out["text_cfg"]["vocab_size"]
    if tokenizer_source and vocab == 49408:  # hf_clip_model_cfg keeps the CLIP BPE for CLIP's vocabulary size
        out["text_cfg"]["hf_tokenizer_name"] = tokenizer_source
    return out


def apply_siglip2_processor(model_cfg: dict, processor: dict) -> None:
    """Take the token budget of a ``Siglip2ImageProcessor`` config into ``model_cfg`` (in place)."""
    budget = processor.get("max_num_patches")
    if budget and model_cfg.get("vision_cfg", {}).get("timm_model_name") == SIGLIP2_TIMM_FAMILY:
        model_cfg["vision_cfg"]["image_seq_len"] = int(budget)


# ---------------------------------------------------------------------------------------------------- export


def siglip2_export_problems(vision: Any) -> list[str]:
    """Why a NaFlex image tower config has no Siglip2VisionModel equivalent (empty when it has one)."""
    problems = []
    kwargs = vision.timm_model_kwargs or {}
    if vision.timm_model_name not in ("naflexvit_base_patch16_siglip", "naflexvit_so400m_patch16_siglip"):
        problems.append(f"the NaFlex tower is timm's {vision.timm_model_name!r}; Siglip2Model is the SigLIP one")
    if vision.timm_pool != "map" or vision.timm_proj not in ("none", "", None):
        problems.append(f"timm_pool={vision.timm_pool!r}, timm_proj={vision.timm_proj!r} (Siglip2: 'map', none)")
    odd = sorted(set(kwargs) - {"embed_dim", "depth", "num_heads", "mlp_ratio", "patch_size", "act_layer",
                                "pos_embed_grid_size", "img_size"})  # fmt: skip
    if odd:
        problems.append(f"timm_model_kwargs {odd} change the tower beyond its size")
    return problems


def _trunk_problems(trunk: Any) -> list[str]:
    from torch import nn

    embeds, block = trunk.embeds, trunk.blocks[0]
    checks = (
        (embeds.cls_token is not None or getattr(embeds, "reg_token", None) is not None, "prefix tokens"),
        (not isinstance(trunk.norm_pre, nn.Identity), "a pre-norm"),
        (not isinstance(getattr(trunk, "fc_norm", nn.Identity()), nn.Identity), "an fc_norm"),
        (getattr(embeds, "pos_embed_type", "learned") != "learned", "non-learned positions"),
        (embeds.pos_embed.shape[1] != embeds.pos_embed.shape[2], "a non-square position grid"),
        ((embeds.pos_embed_interp_mode, embeds.pos_embed_antialias, embeds.pos_embed_align_corners,
          embeds.pos_embed_ar_preserving) != ("bilinear", True, False, False),
         "another position resizing than transformers' (bilinear, antialiased)"),
        (not isinstance(block.ls1, nn.Identity), "layer scale"),
        (not isinstance(block.attn.q_norm, nn.Identity), "q/k norms"),
        (embeds.proj.bias is None, "no patch-embedding bias"),
    )  # fmt: skip
    return [what for failed, what in checks if failed]


def siglip2_config(model: Any, cfg: Any) -> dict[str, Any]:
    """transformers Siglip2Config (as JSON) of a clipzoo NaFlex SigLIP model; numbers read off the built towers.

    Args:
        model: The clipzoo model.
        cfg: Its ModelCfg.

    Returns:
        The ``config.json`` dict.

    Raises:
        ExportError: the built trunk differs from Siglip2VisionModel (the message lists how).
    """
    from .export.folder import ExportError

    trunk = model.visual.trunk
    problems = _trunk_problems(trunk)
    if problems:
        raise ExportError(f"the NaFlexVit trunk has {', '.join(problems)}, which Siglip2VisionModel has not")
    block, side = trunk.blocks[0], trunk.embeds.pos_embed.shape[1]
    act = _HF_ACTS.get(type(block.mlp.act).__name__)
    if type(block.mlp.act).__name__ == "GELU" and getattr(block.mlp.act, "approximate", "none") == "tanh":
        act = "gelu_pytorch_tanh"
    if act is None:
        raise ExportError(f"timm activation {type(block.mlp.act).__name__} has no transformers equivalent")
    vision_config = {
        "model_type": "siglip2_vision_model", "hidden_size": trunk.embed_dim,
        "intermediate_size": block.mlp.fc1.out_features, "num_hidden_layers": len(trunk.blocks),
        "num_attention_heads": block.attn.num_heads, "num_channels": 3,
        "patch_size": int(trunk.embeds.patch_size[0]), "hidden_act": act, "layer_norm_eps": float(block.norm1.eps),
        "attention_dropout": 0.0, "vision_use_head": True, "num_patches": int(side * side),
    }  # fmt: skip
    tower, text = model.text, cfg.text_cfg
    if tower.text_projection.in_features != text.width or cfg.embed_dim != trunk.embed_dim:
        raise ExportError(f"embed_dim {cfg.embed_dim} differs from the image width {trunk.embed_dim}")
    text_act = "gelu_pytorch_tanh" if (text.act_kwargs or {}).get("approximate") == "tanh" else "gelu"
    text_config = {
        "model_type": "siglip2_text_model", "vocab_size": text.vocab_size, "hidden_size": text.width,
        "intermediate_size": tower.transformer.resblocks[0].mlp.c_fc.out_features, "num_hidden_layers": text.layers,
        "num_attention_heads": text.heads, "max_position_embeddings": text.context_length,
        "hidden_act": "quick_gelu" if cfg.quick_gelu else text_act,
        "layer_norm_eps": float((text.norm_kwargs or {}).get("eps", 1e-5)), "attention_dropout": 0.0,
        "projection_size": cfg.embed_dim, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
    }  # fmt: skip
    return {
        "architectures": ["Siglip2Model"],
        "model_type": "siglip2",
        "text_config": text_config,
        "vision_config": vision_config,
        "dtype": "float32",
    }


_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3, "random": 3}


def siglip2_preprocessor_config(preprocess: dict[str, Any], patch_size: int, max_num_patches: int) -> dict:
    """The ``Siglip2ImageProcessor`` config that reproduces clipzoo's NaFlex eval transform."""
    return {
        "image_processor_type": "Siglip2ImageProcessor",
        "processor_class": "Siglip2Processor",
        "do_resize": True,
        "resample": _RESAMPLE[preprocess.get("interpolation", "bicubic")],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [float(x) for x in preprocess["mean"]],
        "image_std": [float(x) for x in preprocess["std"]],
        "do_convert_rgb": True,
        "patch_size": int(patch_size),
        "max_num_patches": int(max_num_patches),
    }


def write_siglip2_folder(folder: Path, model: Any, spec: Any) -> None:
    """Write ``config.json``, ``model.safetensors`` and ``preprocessor_config.json`` of a Siglip2Model.

    Args:
        folder: The (temporary) export folder.
        model: The clipzoo NaFlex SigLIP model, with its weights.
        spec: The ModelSpec it was built from.

    Raises:
        ExportError: the model has no Siglip2Model equivalent.
    """
    from safetensors.torch import save_file

    from .naflex import naflex_token_budget

    config = siglip2_config(model, spec.model_cfg)
    state = {k: v.detach().to("cpu").float() for k, v in model.state_dict().items()}
    weights = clipzoo_to_siglip2(state)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    processor = siglip2_preprocessor_config(
        dict(spec.preprocess_cfg), config["vision_config"]["patch_size"], naflex_token_budget(spec.model_cfg.vision_cfg)
    )
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2) + "\n", encoding="utf-8")


def retarget_processor_class(folder: Path) -> None:
    """Name Siglip2Processor in the written tokenizer config, so AutoProcessor pairs it with the image processor."""
    path = folder / "tokenizer_config.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["processor_class"] = "Siglip2Processor"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

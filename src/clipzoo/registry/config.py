"""Typed architecture configs: open_clip's JSON schema, validated into dataclasses (no heavy imports).

A config file keeps open_clip's keys unchanged, so an ``open_clip_config.json`` from the Hub loads as is.
Unknown keys are errors that name the key, the section, the file, and the closest known key.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, did_you_mean


def _option(default: Any, meaning: str) -> Any:
    """A block option's field: its default and its one-line meaning (the compat classes document it)."""
    return field(default=default, metadata={"meaning": meaning})


@dataclass
class BlockOptions:
    """The transformer-block options both towers take (open_clip's custom attention block keys).

    VisionCfg and TextCfg inherit them between their own fields, right after ``output_tokens``, where open_clip
    declares them in both classes.
    """

    act_kwargs: dict | None = _option(None, "Keyword arguments of the activation.")
    norm_kwargs: dict | None = _option(None, "Keyword arguments of the layer norms (e.g. ``eps``).")
    block_type: str | None = _option(None, "None (custom if a switch is on), ``'default'`` or ``'custom'``.")
    qk_norm: bool = _option(False, "Normalize queries and keys (custom block).")
    scaled_cosine_attn: bool = _option(False, "Cosine attention with a learned scale (custom block).")
    scale_heads: bool = _option(False, "Per-head output scale (custom block).")
    scale_attn_inner: bool = _option(False, "Layer norm inside attention (custom block).")
    scale_attn: bool = _option(False, "Layer norm after attention (custom block).")
    scale_fc: bool = _option(False, "Layer norm inside the MLP (custom block).")


# (name, type, default, meaning) of each block option, read from BlockOptions' fields.
BLOCK_OPTIONS: tuple[tuple[str, str, Any, str], ...] = tuple(
    (f.name, str(f.type), f.default, f.metadata["meaning"]) for f in dataclasses.fields(BlockOptions)
)
# The custom-block switches: the boolean block options (read by the models and, torch-free, by the exporter).
BLOCK_SWITCHES: tuple[str, ...] = tuple(name for name, kind, _, _ in BLOCK_OPTIONS if kind == "bool")


# A section's fields come from its bases in reverse order (dataclasses walk the MRO backwards), then its own: the
# fields up to ``output_tokens`` (the last base), then BlockOptions, then the fields the section declares.
@dataclass
class _VisionFirst:
    """VisionCfg's fields up to ``output_tokens``, in open_clip's order."""

    layers: int | tuple[int, int, int, int] | list[int] = 12
    width: int = 768
    head_width: int = 64
    mlp_ratio: float = 4.0
    patch_size: int | None = 16  # None for ResNet and timm towers (open_clip's RN configs say null)
    image_size: int | tuple[int, int] | list[int] = 224
    ls_init_value: float | None = None
    patch_dropout: float = 0.0
    attentional_pool: bool = False
    attn_pooler_queries: int = 256
    attn_pooler_heads: int = 8
    no_ln_pre: bool = False
    pos_embed_type: str = "learnable"
    final_ln_after_pool: bool = False
    pool_type: str = "tok"
    output_tokens: bool = False


@dataclass
class VisionCfg(BlockOptions, _VisionFirst):
    """Image tower hyperparameters (open_clip's ``vision_cfg`` keys, in its field order).

    The block options (:class:`BlockOptions`) follow ``output_tokens``, as in open_clip; the fields declared here
    come after them: open_clip's timm fields, then clipzoo's.
    """

    timm_model_name: str | None = None
    timm_model_pretrained: bool = False
    timm_pool: str = "avg"
    timm_proj: str | None = "linear"
    timm_proj_bias: bool = False
    timm_drop: float = 0.0
    timm_drop_path: float | None = None
    # clipzoo (not open_clip): keyword arguments for timm.create_model that set the trunk's numbers (embed_dim,
    # depth, num_heads, mlp_ratio, patch_size, img_size, act_layer as a timm activation name, ...); the trunk's
    # norm layer takes ``norm_kwargs`` (e.g. eps). Used for transformers SigLIP towers of any size.
    timm_model_kwargs: dict | None = None
    # open_clip main (NaFlex towers): the default token budget, i.e. how many patches an image is resized to
    # fit at most; None for fixed-size towers.
    image_seq_len: int | None = None
    # clipzoo (not open_clip): this tower's own QuickGELU choice where it differs from the model-level quick_gelu
    # (which the text tower follows); None follows the model. transformers CLIP folders can mix them.
    quick_gelu: bool | None = None


@dataclass
class _TextFirst:
    """TextCfg's fields up to ``output_tokens``, in open_clip's order."""

    context_length: int = 77
    vocab_size: int = 49408
    hf_tokenizer_name: str | None = None
    tokenizer_mode: str | None = None
    tokenizer_kwargs: dict | None = None
    width: int = 512
    heads: int = 8
    layers: int = 12
    mlp_ratio: float = 4.0
    ls_init_value: float | None = None
    embed_cls: bool = False
    pad_id: int = 0
    eos_id: int = 2
    no_causal_mask: bool = False
    final_ln_after_pool: bool = False
    pool_type: str = "argmax"
    proj_bias: bool = False
    proj_type: str = "linear"
    output_tokens: bool = False


@dataclass
class _TextBase(BlockOptions, _TextFirst):
    """open_clip 3.3.0's text fields, in its order (TextCfg and CoCa's decoder config both start with them): the
    block options follow ``output_tokens``, then the fields declared here."""

    hf_model_name: str | None = None
    hf_model_pretrained: bool = True
    hf_proj_type: str | None = "mlp"  # None: no projection (the width must be embed_dim)
    hf_pooler_type: str | None = "mean_pooler"  # None: the architecture's default pooler


@dataclass
class _TextAdded:
    """Text fields open_clip 3.3.0 lacks: after its own fields in TextCfg, and after the decoder's in MultimodalCfg."""

    # Keys of open_clip main, after open_clip 3.3.0's (whose field order programs may rely on):
    # TIPSv2 masks padding keys in bidirectional attention,
    use_pad_mask: bool = False
    # takes "learnable" or "sinusoidal" positions (a fixed table, nothing in the state dict), and scales token
    # embeddings by sqrt(width) before the positions are added;
    pos_embed_type: str = "learnable"
    scale_sqrt_depth: bool = False
    # the MLP activation by name ("relu", "gelu", "quick_gelu"); None follows quick_gelu
    act_layer: str | None = None
    # clipzoo (not open_clip): the transformers text config itself (a dict with ``model_type``), used instead of
    # reading ``hf_model_name``'s config; a ClapModel folder's text tower is described this way.
    hf_model_config: dict | None = None


@dataclass
class TextCfg(_TextAdded, _TextBase):
    """Text tower hyperparameters (open_clip's ``text_cfg`` keys, in its field order).

    The block options (:class:`BlockOptions`) follow ``output_tokens``, as in open_clip.
    """


@dataclass
class _MultimodalOwn(_TextBase):
    """The decoder's own fields, which open_clip lists right after its text fields."""

    mlp_ratio: int = 4
    dim_head: int = 64
    heads: int = 8
    n_queries: int = 256
    attn_pooler_heads: int = 8


@dataclass
class MultimodalCfg(TextCfg, _MultimodalOwn):
    """CoCa's multimodal text decoder (open_clip's ``multimodal_cfg`` keys, in its order; clipzoo's additions last)."""

    # TextCfg's defaults would win over _MultimodalOwn's (it comes first in the MRO): restate the decoder's
    mlp_ratio: int = 4
    heads: int = 8


@dataclass
class AudioCfg:
    """Audio tower hyperparameters of a CLAP model (open_clip main's ``audio_cfg`` keys, in its field order).

    The mel front end (``sample_rate``, ``window_size``, ``hop_size``, ``mel_bins``, ``fmin``, ``fmax``) and the
    clip length (``clip_samples``) are shared by the model and its audio transform. open_clip main's NaFlex audio
    keys (``patch_freq`` ... ``naflexvit_cfg``) are accepted so its files load, but only ``HTSAT`` and
    ``whisper`` towers are built.
    """

    model_type: str = "HTSAT"
    model_name: str = "tiny"
    audio_length: int = 1024
    clip_samples: int = 480000
    sample_rate: int = 48000
    mel_bins: int = 64
    window_size: int = 1024
    hop_size: int = 480
    fmin: int = 50
    fmax: int = 14000
    class_num: int = 527
    enable_fusion: bool = False
    fusion_type: str = "aff_2d"
    pre_norm: bool = False
    proj_act: str = "gelu"
    training_head: bool = False
    pretrained: bool = False
    patch_freq: int = 64
    patch_time: int = 4
    in_chans: int = 1
    patch_pad_mode: str = "floor"
    rope_type: str = "axial"
    audio_seq_len: int | None = None
    naflexvit_cfg: dict | None = None
    # clipzoo (not open_clip): HTSAT numbers that replace the named size's (embed_dim, depths, num_heads,
    # spec_size, patch_size, window, mlp_ratio), for transformers ClapModel folders of any size.
    htsat_cfg: dict | None = None


@dataclass
class ModelCfg:
    """A whole architecture: embedding size, towers, and model-level options.

    An audio-text (CLAP) architecture has ``audio_cfg`` and no ``vision_cfg`` in its file; its ``vision_cfg``
    field then holds the defaults, which nothing reads (``is_audio`` tells the two kinds apart).
    """

    embed_dim: int
    vision_cfg: VisionCfg
    text_cfg: TextCfg
    multimodal_cfg: MultimodalCfg | None = None
    audio_cfg: AudioCfg | None = None
    quick_gelu: bool = False
    custom_text: bool = False
    init_logit_scale: float | None = None
    init_logit_bias: float | None = None
    nonscalar_logit_scale: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def is_coca(self) -> bool:
        """True when the config has a multimodal decoder (CoCa)."""
        return self.multimodal_cfg is not None

    @property
    def is_audio(self) -> bool:
        """True for an audio-text (CLAP) architecture: ``audio_cfg`` instead of ``vision_cfg``."""
        return self.audio_cfg is not None

    @property
    def modality(self) -> str:
        """``'audio-text'`` or ``'image-text'``: what the model pairs with text."""
        return "audio-text" if self.is_audio else "image-text"

    @property
    def uses_timm(self) -> bool:
        """True when the image tower is a timm model."""
        return bool(self.vision_cfg.timm_model_name)

    @property
    def uses_hf_text(self) -> bool:
        """True when the text tower is a Hugging Face transformers model."""
        return bool(self.text_cfg.hf_model_name)

    def to_dict(self) -> dict[str, Any]:
        """The open_clip-format dict (only keys that differ from defaults inside the towers)."""
        out: dict[str, Any] = {"embed_dim": self.embed_dim}
        for name in (
            "quick_gelu",
            "custom_text",
            "init_logit_scale",
            "init_logit_bias",
            "nonscalar_logit_scale",
        ):
            value = getattr(self, name)
            if value != ModelCfg.__dataclass_fields__[name].default:
                out[name] = value
        if self.audio_cfg is not None:
            out["audio_cfg"] = _non_default(self.audio_cfg)
        else:
            out["vision_cfg"] = _non_default(self.vision_cfg)
        out["text_cfg"] = _non_default(self.text_cfg)
        if self.multimodal_cfg is not None:
            out["multimodal_cfg"] = _non_default(self.multimodal_cfg)
        out.update(copy.deepcopy(self.extra))
        return out


_SECTIONS = {"vision_cfg": VisionCfg, "text_cfg": TextCfg, "multimodal_cfg": MultimodalCfg, "audio_cfg": AudioCfg}
_TOP_LEVEL = {f.name for f in dataclasses.fields(ModelCfg)} - {"extra"}
# Keys open_clip's factory accepts at the top level that clipzoo keeps but does not interpret itself.
_PASSTHROUGH = {"cast_dtype", "output_dict"}


def _non_default(section: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if value != default:
            out[f.name] = copy.deepcopy(value)
    return out


def _unknown_key_error(key: str, known: set[str], section: str, source: str) -> ConfigError:
    hint = "; " + (did_you_mean(key, sorted(known)) or f"known keys: {', '.join(sorted(known))}")
    return ConfigError(f"{source}: unknown key {key!r} in {section}{hint}")


def _build_section(cls: type, raw: Any, section: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {section} must be a JSON object, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise _unknown_key_error(key, known, section, source)
    built = cls(**copy.deepcopy(raw))
    _check_section(built, section, source)
    return built


# --- value checks: type from the dataclass annotations, range from the tables below ------------------------

_POSITIVE = {
    "width", "head_width", "heads", "mlp_ratio", "patch_size", "image_size", "vocab_size", "dim_head",
    "n_queries", "attn_pooler_queries", "attn_pooler_heads", "embed_dim", "image_seq_len",
    "clip_samples", "sample_rate", "mel_bins", "window_size", "hop_size", "audio_length", "class_num",
}  # fmt: skip
_AT_LEAST = {"layers": 1, "context_length": 2, "pad_id": 0, "eos_id": 0}
_FRACTION = {"patch_dropout", "timm_drop", "timm_drop_path"}  # probabilities in [0, 1)
_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "dict": "a JSON object", "tuple": "a list", "list": "a list", "None": "null"}  # fmt: skip


def _accepts(kind: str, value: Any) -> bool:
    """Does ``value`` (from JSON or Python) fit one annotation alternative (``int``, ``list[int]``, ...)?"""
    base, _, inner = kind.partition("[")
    if base == "None":
        return value is None
    if base == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False  # JSON true/false are not numbers
    if base == "int":
        return isinstance(value, int)
    if base == "float":
        return isinstance(value, (int, float))
    if base in ("tuple", "list"):
        if not isinstance(value, (list, tuple)):
            return False
        items = [part.strip() for part in inner.rstrip("]").split(",")]
        if base == "tuple" and len(items) != len(value):
            return False
        return all(_accepts(items[0], v) for v in value)
    return isinstance(value, {"str": str, "dict": dict}.get(base, object))


def _check_type(section: str, key: str, annotation: str, value: Any, source: str) -> None:
    kinds = [part.strip() for part in annotation.split("|")]
    if any(_accepts(kind, value) for kind in kinds):
        return
    if "str" in kinds and value is None:
        return  # open_clip configs use null for "no such option" in string fields (timm_proj: null)
    words = []
    for kind in kinds:
        base, _, inner = kind.partition("[")
        if base == "tuple" and inner.count(",") >= 1:
            words.append(f"a list of {inner.count(',') + 1} integers")
        elif base in ("tuple", "list"):
            if not any(w.startswith("a list") for w in words):
                words.append("a list of integers")
        else:
            words.append(_TYPE_WORDS.get(base, base))
    raise ConfigError(f"{source}: {section}.{key} must be {' or '.join(dict.fromkeys(words))}, got {value!r}")


def _check_range(section: str, key: str, value: Any, source: str) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(v is None for v in values):
        return
    if key in _POSITIVE and any(v <= 0 for v in values):
        raise ConfigError(f"{source}: {section}.{key} must be > 0, got {value!r}")
    if key in _AT_LEAST and any(v < _AT_LEAST[key] for v in values):
        raise ConfigError(f"{source}: {section}.{key} must be >= {_AT_LEAST[key]}, got {value!r}")
    if key in _FRACTION and any(not 0.0 <= v < 1.0 for v in values):
        raise ConfigError(f"{source}: {section}.{key} must be in [0, 1), got {value!r}")
    if isinstance(value, float) and value != value:
        raise ConfigError(f"{source}: {section}.{key} must be a number, got NaN")


def _check_section(cfg: Any, section: str, source: str) -> None:
    """Every field's type and range, then the relations between fields; errors name ``source`` and the key."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        _check_type(section, f.name, str(f.type), value, source)
        _check_range(section, f.name, value, source)
    if isinstance(cfg, VisionCfg):
        _check_vision(cfg, section, source)
    elif isinstance(cfg, AudioCfg):
        _check_audio(cfg, section, source)
    elif cfg.hf_model_name is None and cfg.width % cfg.heads:
        raise ConfigError(
            f"{source}: {section}.width ({cfg.width}) must be divisible by {section}.heads ({cfg.heads})"
        )
    if isinstance(cfg, MultimodalCfg) and cfg.width % cfg.attn_pooler_heads:
        raise ConfigError(
            f"{source}: {section}.width ({cfg.width}) must be divisible by "
            f"{section}.attn_pooler_heads ({cfg.attn_pooler_heads})"
        )


def _check_vision(cfg: VisionCfg, section: str, source: str) -> None:
    if cfg.timm_model_name:
        return  # timm builds the tower from its own name; width/layers/patch_size are not used
    if isinstance(cfg.layers, (list, tuple)):  # ModifiedResNet: four stages
        if len(cfg.layers) != 4:
            raise ConfigError(
                f"{source}: {section}.layers must be an integer (ViT) or a list of 4 stage depths "
                f"(ResNet), got {list(cfg.layers)!r}"
            )
        return
    if cfg.patch_size is None:
        raise ConfigError(f"{source}: {section}.patch_size must be a positive integer for a ViT, got null")
    if cfg.width % cfg.head_width:
        raise ConfigError(
            f"{source}: {section}.width ({cfg.width}) must be divisible by {section}.head_width "
            f"({cfg.head_width})"
        )


# The audio towers clipzoo builds, and the sizes each knows (open_clip main's tables).
AUDIO_TOWERS: dict[str, tuple[str, ...]] = {
    "HTSAT": ("tiny", "base", "large"),
    "whisper": ("tiny", "base", "small", "medium", "large"),
}
AUDIO_FUSION_TYPES = ("aff_2d",)  # the fusion the laion checkpoints (and transformers' ClapModel) use


def _check_audio(cfg: AudioCfg, section: str, source: str) -> None:
    sizes = AUDIO_TOWERS.get(cfg.model_type)
    if sizes is None:
        raise ConfigError(
            f"{source}: {section}.model_type {cfg.model_type!r} is not an audio tower clipzoo builds; "
            f"known: {', '.join(AUDIO_TOWERS)}"
        )
    if cfg.model_name not in sizes:
        raise ConfigError(
            f"{source}: {section}.model_name {cfg.model_name!r} is not a {cfg.model_type} size; "
            f"known: {', '.join(sizes)}"
        )
    if cfg.enable_fusion and cfg.fusion_type not in AUDIO_FUSION_TYPES:
        raise ConfigError(
            f"{source}: {section}.fusion_type {cfg.fusion_type!r} is not supported; known: "
            f"{', '.join(AUDIO_FUSION_TYPES)}"
        )
    if cfg.fmin >= cfg.fmax or cfg.fmax > cfg.sample_rate / 2:
        raise ConfigError(
            f"{source}: {section} needs 0 <= fmin < fmax <= sample_rate / 2, got fmin={cfg.fmin}, "
            f"fmax={cfg.fmax}, sample_rate={cfg.sample_rate}"
        )


def _required_keys(raw: dict) -> list[str]:
    # An audio-text model has audio_cfg where an image-text model has vision_cfg; it may not have both.
    towers = ("audio_cfg",) if "audio_cfg" in raw else ("vision_cfg",)
    return [k for k in ("embed_dim", *towers, "text_cfg") if k not in raw]


def parse_model_config(raw: Any, source: str = "<config>") -> ModelCfg:
    """Validate an open_clip-format dict into a ModelCfg; errors name ``source`` and the offending key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a model config must be a JSON object, got {type(raw).__name__}")
    missing = _required_keys(raw)
    if missing:
        raise ConfigError(f"{source}: missing required key(s) {', '.join(missing)}")
    if "audio_cfg" in raw and "vision_cfg" in raw:
        raise ConfigError(f"{source}: a model has either audio_cfg (audio-text) or vision_cfg (image-text), not both")
    if not isinstance(raw["embed_dim"], int) or isinstance(raw["embed_dim"], bool) or raw["embed_dim"] <= 0:
        raise ConfigError(f"{source}: embed_dim must be a positive integer, got {raw['embed_dim']!r}")
    for key in _TOP_LEVEL - set(_SECTIONS) - {"embed_dim"}:
        if key in raw:
            _check_type("model", key, str(ModelCfg.__dataclass_fields__[key].type), raw[key], source)
            _check_range("model", key, raw[key], source)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            if key == "multimodal_cfg" and value is None:
                continue
            kwargs[key] = _build_section(_SECTIONS[key], value, key, source)
        elif key in _TOP_LEVEL:
            kwargs[key] = value
        elif key in _PASSTHROUGH:
            extra[key] = value
        else:
            raise _unknown_key_error(key, _TOP_LEVEL | set(_SECTIONS), "the top level", source)
    kwargs.setdefault("vision_cfg", VisionCfg())  # an audio model: unused defaults (see ModelCfg)
    return ModelCfg(**kwargs, extra=extra)

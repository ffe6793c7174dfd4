"""From a name and a tag to a ready model: resolve -> build -> load -> finish.

``resolve`` turns the caller's words into a :class:`ModelSpec` (what will be built, from which weights, with
which preprocessing) without touching torch; ``build`` makes the module (on the meta device when weights will be
loaded, so nothing is initialized twice); ``load`` reads, converts and assigns the weights; ``finish`` applies
precision and device. ``create_model`` is those four in a row.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ModelCfg, parse_model_config
from .constants import PRECISION_DTYPES, PRECISIONS
from .errors import UnknownNameError
from .preprocess_cfg import default_preprocess_dict, normalize_preprocess_dict
from .pretrained import PretrainedCfg, UnknownTagError, get_pretrained_record, is_pretrained_cfg
from .registry import UnknownModelError, get_model_config
from .sources import folder_model, parse_model_name
from .validate import check_factory_args, check_image_size_fits

logger = logging.getLogger("clipzoo")

_PREPROCESS_FROM_TAG = ("mean", "std", "interpolation", "resize_mode")


@dataclass
class WeightsSource:
    """Where a model's weights come from: a local file, a registered tag, or a Hub repo file."""

    kind: str  # "file" | "tag" | "hf-hub"
    path: str = ""
    record: PretrainedCfg | None = None
    repo: str = ""
    files: tuple[str, ...] = ()  # hf-hub: the repo files to try in order (empty: open_clip's weights names)

    def describe(self) -> str:
        """One line for messages and ``clipzoo info``."""
        if self.kind == "tag" and self.record is not None:
            return f"tag {self.record.model}:{self.record.tag}"
        return f"{self.kind} {self.path or self.repo}"


@dataclass
class ModelSpec:
    """Everything that decides what ``create_model`` builds; inspect it before building anything."""

    name: str
    model_cfg: ModelCfg
    weights: WeightsSource | None = None
    preprocess_cfg: dict[str, Any] = field(default_factory=default_preprocess_dict)


class PretrainedNotFoundError(UnknownNameError, ValueError):
    """``pretrained`` is neither a tag of the model nor an existing file."""


# ---------------------------------------------------------------------------------------------------- resolve


def _unknown_pretrained(model_name: str, pretrained: str) -> PretrainedNotFoundError:
    tag_msg = str(UnknownTagError(model_name, pretrained))
    return PretrainedNotFoundError(f"{tag_msg}; {pretrained!r} is not an existing file either")


def _spec_from_registry(model_name: str, pretrained: str | None) -> tuple[dict, WeightsSource | None]:
    raw = get_model_config(model_name)
    if raw is None:
        raise UnknownModelError(model_name)
    if not pretrained:
        return raw, None
    if is_pretrained_cfg(model_name, pretrained):
        return raw, WeightsSource("tag", record=get_pretrained_record(model_name, pretrained))
    if Path(pretrained).is_file():
        return raw, WeightsSource("file", path=str(pretrained))
    raise _unknown_pretrained(model_name, pretrained)


def _spec_from_folder(
    schema: str, identifier: str, cache_dir: str | None
) -> tuple[dict, WeightsSource | None, dict]:
    # Only the configs are read (fetched, for the Hub) here; the weights file is fetched by `load`.
    found = folder_model(schema, identifier, cache_dir)
    if found.weights_path is not None:
        weights = WeightsSource("file", path=found.weights_path)
    elif schema == "hf-hub":
        weights = WeightsSource("hf-hub", repo=identifier, files=found.weights_files)
    else:
        weights = None
    return found.model_cfg, weights, found.preprocess_cfg


def _apply_quick_gelu(raw: dict, weights: WeightsSource | None, force_quick_gelu: bool) -> None:
    # The tag knows which activation its weights were trained with; open_clip only warns about a mismatch.
    tag_value = weights.record.quick_gelu if weights is not None and weights.record is not None else None
    if force_quick_gelu:
        raw["quick_gelu"] = True
    elif tag_value is not None and bool(raw.get("quick_gelu", False)) != tag_value:
        raw["quick_gelu"] = tag_value
        logger.info("quick_gelu=%s taken from the pretrained tag %s", tag_value, weights.describe())


def _apply_overrides(raw: dict, overrides: dict[str, Any]) -> None:
    for section, key, value in (
        ("vision_cfg", "patch_dropout", overrides.get("force_patch_dropout")),
        ("vision_cfg", "image_size", overrides.get("force_image_size")),
        ("text_cfg", "context_length", overrides.get("force_context_length")),
    ):
        if value is not None:
            raw[section][key] = value
    if overrides.get("force_custom_text"):
        raw["custom_text"] = True


def _preprocess_for(
    model_cfg: ModelCfg, weights: WeightsSource | None, base: dict, force: dict | None, source: str
) -> dict:
    pp = default_preprocess_dict()
    pp.update({k: v for k, v in base.items() if v is not None})
    if weights is not None and weights.record is not None:
        tag = weights.record
        # a tag registered without mean/std (add_pretrained_cfg) keeps the config's or default values
        pp.update({k: getattr(tag, k) for k in _PREPROCESS_FROM_TAG if getattr(tag, k) not in (None, (), "")})
    size = model_cfg.vision_cfg.image_size
    pp["size"] = tuple(size) if isinstance(size, (list, tuple)) else size
    pp.update({k: v for k, v in (force or {}).items() if v is not None})
    return normalize_preprocess_dict(pp, source=f"{source}: preprocess cfg")


def _check_image_size(cfg: ModelCfg, source: str) -> None:
    vision = cfg.vision_cfg
    if vision.timm_model_name or isinstance(vision.layers, (list, tuple)):
        check_image_size_fits(vision, source)
        return  # timm towers validate themselves; ResNets take any multiple of 32 handled below
    size = vision.image_size if isinstance(vision.image_size, (list, tuple)) else (vision.image_size,) * 2
    bad = [s for s in size if s % vision.patch_size]
    if bad:
        valid = vision.patch_size * max(1, round(size[0] / vision.patch_size))
        raise ValueError(
            f"{source}: image size {tuple(size)} is not divisible by the patch size {vision.patch_size} "
            f"(try {valid})"
        )
    check_image_size_fits(vision, source)


def resolve(
    model_name: str,
    pretrained: str | None = None,
    *,
    load_weights: bool = True,
    force_quick_gelu: bool = False,
    force_custom_text: bool = False,
    force_patch_dropout: float | None = None,
    force_image_size: int | tuple[int, int] | None = None,
    force_context_length: int | None = None,
    force_preprocess_cfg: dict[str, Any] | None = None,
    cache_dir: str | None = None,
    **model_kwargs: Any,
) -> ModelSpec:
    """Decide architecture, weights source and preprocessing without importing torch or downloading."""
    schema, identifier = parse_model_name(model_name)
    base_preprocess: dict = {}
    if schema is None:
        raw, weights = _spec_from_registry(model_name, pretrained)
    else:
        raw, weights, base_preprocess = _spec_from_folder(schema, identifier, cache_dir)
        if pretrained:
            warnings.warn(
                f"pretrained={pretrained!r} is ignored: {model_name} names its own weights", stacklevel=3
            )
    raw = copy.deepcopy(raw)
    _apply_quick_gelu(raw, weights, force_quick_gelu)
    _apply_overrides(
        raw,
        {
            "force_patch_dropout": force_patch_dropout,
            "force_image_size": force_image_size,
            "force_context_length": force_context_length,
            "force_custom_text": force_custom_text,
        },
    )
    raw.update(model_kwargs)  # open_clip: model kwargs have the last word
    cfg = parse_model_config(raw, source=model_name)
    _check_image_size(cfg, model_name)
    if not load_weights:
        weights = None
    preprocess = _preprocess_for(cfg, weights, base_preprocess, force_preprocess_cfg, model_name)
    return ModelSpec(model_name, cfg, weights, preprocess)


# ---------------------------------------------------------------------------------------------------- build


@contextlib.contextmanager
def empty_parameters() -> Iterator[None]:
    """Create parameters on the meta device (no memory, no init) while buffers stay real."""
    import torch
    from torch import nn

    original = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        original(module, name, param)

    nn.Module.register_parameter = register_on_meta
    try:
        # Init code must neither consume the caller's RNG stream nor run meta kernels: torch implements the
        # meta versions of in-place initializers in Python, and importing them costs seconds.
        with torch.random.fork_rng(devices=[]), _SkipMetaInPlace():
            yield
    finally:
        nn.Module.register_parameter = original


@functools.cache
def _skip_meta_in_place_class():
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_flatten, tree_map

    def to_meta(value):
        return value.to("meta") if isinstance(value, torch.Tensor) and not value.is_meta else value

    class SkipMetaInPlace(TorchFunctionMode):
        """In-place tensor ops on meta tensors return the tensor untouched (there is nothing to fill).

        Towers that compute while they are built (timm's hybrid ViTs run a probe forward to learn their feature
        size) mix empty parameters with real inputs: such ops run on the meta device, where only shapes exist.
        """

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            kwargs = kwargs or {}
            target = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes `tensor=` by keyword
            if name.endswith("_") and not name.startswith("_") and getattr(target, "is_meta", False):
                return target
            tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            if any(t.is_meta for t in tensors) and not all(t.is_meta for t in tensors):
                if name.endswith("_") or "out" in kwargs:  # a real tensor would silently keep its old values
                    raise RuntimeError(
                        f"{name}: a tower writes empty (meta) parameter values into a real tensor while it is "
                        "built; this architecture must be built without the meta-device fast path"
                    )
                args, kwargs = tree_map(to_meta, (args, kwargs))
            return func(*args, **kwargs)

    return SkipMetaInPlace


def _SkipMetaInPlace():  # noqa: N802 - a context-manager factory, named like the class it builds
    return _skip_meta_in_place_class()()


def _cast_dtype(precision: str):
    from .models import get_cast_dtype

    return get_cast_dtype(precision)


def build(spec: ModelSpec, precision: str = "fp32", output_dict: bool | None = None, empty: bool = False):
    """Instantiate the module for ``spec``; ``empty=True`` leaves parameters on the meta device for loading."""
    from .models import build_model

    context = empty_parameters() if empty else contextlib.nullcontext()
    with context:
        model = build_model(spec.model_cfg, cast_dtype=_cast_dtype(precision), output_dict=bool(output_dict))
    return model


# ---------------------------------------------------------------------------------------------------- load


def fetch_weights(source: WeightsSource, cache_dir: str | None = None) -> Path:
    """A local path for the weights: the file itself, the packaged file, or a download."""
    if source.kind == "file":
        return Path(source.path)
    if source.kind == "tag" and source.record is not None and source.record.file:
        return Path(source.record.to_dict()["file"])
    from . import hub

    if source.kind == "hf-hub":
        return _fetch_hub_weights(source, cache_dir)
    record = source.record
    return Path(
        hub.download_pretrained(
            record.to_dict(), cache_dir=cache_dir, model_name=record.model, tag=record.tag
        )
    )


def _fetch_hub_weights(source: WeightsSource, cache_dir: str | None) -> Path:
    from . import hub

    label = f"hf-hub:{source.repo}"
    missing = []
    for filename in source.files or (None,):
        try:
            return Path(
                hub.download_pretrained_from_hf(source.repo, filename, cache_dir=cache_dir, model_name=label)
            )
        except hub.NotFoundError as err:
            missing.append(str(err))
    raise hub.NotFoundError(f"{label}: no weights file ({'; '.join(missing)})")


def load(model, spec: ModelSpec, cache_dir: str | None = None, weights_only: bool = True) -> None:
    """Fetch, read, convert, adapt and assign the spec's weights into ``model`` (strict)."""
    from . import checkpoint

    path = fetch_weights(spec.weights, cache_dir)
    checkpoint.load_checkpoint(model, path, strict=True, weights_only=weights_only, assign=True)


# ---------------------------------------------------------------------------------------------------- finish


def _set_precision(model, precision: str, device, uses_timm: bool):
    import torch

    from .models import convert_weights_to_lp
    from .models.layers import LayerNormFp32

    base, low = (getattr(torch, name) if name else None for name in PRECISION_DTYPES[precision])
    model.to(device=device, dtype=base)  # also lifts an fp16 checkpoint to the fp32 master copy
    if low is not None and uses_timm:  # timm towers: cast everything, then put the fp32 norms back
        model.to(dtype=low)
        for module in model.modules():
            if isinstance(module, LayerNormFp32):
                module.float()
    elif low is not None:
        convert_weights_to_lp(model, low)
    return model


def set_model_preprocess_cfg(model, preprocess_cfg: dict[str, Any]) -> None:
    """Attach the preprocess cfg where open_clip keeps it (``model.visual.preprocess_cfg``).

    Also sets ``image_mean`` and ``image_std`` there, as open_clip does.

    Args:
        model: The model; the settings go on its image tower ``model.visual`` (on the model itself when it
            has none).
        preprocess_cfg: PreprocessCfg fields (``size``, ``mean``, ``std``, ``interpolation``, ...); a copy is
            stored.

    Raises:
        KeyError: ``preprocess_cfg`` has no ``mean`` or no ``std``.
    """
    module = getattr(model, "visual", model)
    module.image_mean = preprocess_cfg["mean"]
    module.image_std = preprocess_cfg["std"]
    module.preprocess_cfg = copy.deepcopy(preprocess_cfg)


def get_model_preprocess_cfg(model) -> dict[str, Any]:
    """The preprocess cfg a model carries (falls back to legacy image_size/mean/std attributes).

    Args:
        model: A model from ``create_model`` (or open_clip): read from ``model.visual``, or from the model
            itself when it has no ``visual``.

    Returns:
        A new dict of the PreprocessCfg fields it carries (``size``, ``mean``, ``std``, ``interpolation``,
        ``resize_mode``, ...); from ``image_size``/``image_mean``/``image_std`` when it carries no cfg; ``{}``
        when it has neither.
    """
    module = getattr(model, "visual", model)
    cfg = dict(getattr(module, "preprocess_cfg", {}) or {})
    if not cfg:
        for attr, key in (("image_size", "size"), ("image_mean", "mean"), ("image_std", "std")):
            if getattr(module, attr, None) is not None:
                cfg[key] = getattr(module, attr)
    return cfg


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        from .registry import close_matches

        hint = close_matches(precision, list(PRECISIONS)) or list(PRECISIONS)
        raise ValueError(f"unknown precision {precision!r}; use one of: {', '.join(hint)}")


# ---------------------------------------------------------------------------------------------------- public

# One description per argument, shared by the three create functions (their docstrings are built from it).
_ARG_DOCS: dict[str, str] = {
    "model_name": "Architecture name from ``list_models()`` (e.g. ``'ViT-B-32'``), ``'hf-hub:org/repo'`` (an "
    "open_clip or transformers CLIP/SigLIP repo) or ``'local-dir:PATH'`` (a folder written by ``clipzoo export`` "
    "or ``save_pretrained``).",
    "pretrained": "A pretrained tag of the architecture (case- and separator-insensitive, see "
    "``list_pretrained_tags_by_model``) or a path to a checkpoint file. None or '' builds random weights (and "
    "logs a warning). Ignored, with a warning, for ``hf-hub:``/``local-dir:`` models, which name their own weights.",
    "load_weights": "False builds the architecture without loading the pretrained weights (random init).",
    "precision": "``'fp32'``, ``'fp16'``/``'bf16'`` (low-precision weights, fp32 norms), ``'pure_fp16'``/"
    "``'pure_bf16'`` (everything cast), or ``'amp'``/``'amp_bf16'``/``'amp_bfloat16'`` (fp32 weights for autocast).",
    "device": "Device the model is moved to (``'cpu'``, ``'cuda'``, a ``torch.device``).",
    "jit": "Return a TorchScript model (``torch.jit.script``) where the architecture scripts; otherwise the "
    "eager model with a warning saying why.",
    "force_quick_gelu": "Build with QuickGELU activations whatever the config says (the tag's own "
    "``quick_gelu`` is applied without it; ``quick_gelu=False`` as a model keyword overrides both).",
    "force_custom_text": "Build the text tower as a separate ``text`` module (``CustomTextCLIP``) even when the "
    "config would use the built-in CLIP text transformer.",
    "force_patch_dropout": "Override the image tower's patch dropout rate (0 disables it; training only).",
    "force_image_size": "Build for this input size (int or (height, width)); position embeddings of the "
    "checkpoint are resized to it and the preprocessing follows.",
    "force_preprocess_cfg": "Preprocessing fields (``mean``, ``std``, ``interpolation``, ``resize_mode``, "
    "``size``, ``fill_color``) that replace the tag's or config's values.",
    "force_context_length": "Override the text context length (positional embeddings are cut or resized).",
    "image_mean": "Normalization mean for the transforms (default: the tag's, else OpenAI's).",
    "image_std": "Normalization std for the transforms (default: the tag's, else OpenAI's).",
    "image_interpolation": "``'bicubic'``, ``'bilinear'`` or ``'nearest'`` resize interpolation.",
    "image_resize_mode": "``'shortest'`` (resize + center crop), ``'longest'`` (resize + pad) or ``'squash'``.",
    "aug_cfg": "Training augmentation (``AugmentationCfg`` or its dict) for the train transform.",
    "pretrained_image": "Load the timm image tower's own ImageNet weights when no full checkpoint is given.",
    "pretrained_text": "Load the Hugging Face text tower's own weights when no full checkpoint is given.",
    "pretrained_image_path": "A checkpoint with weights for the image tower only (must fit it exactly).",
    "pretrained_text_path": "A checkpoint with weights for the text tower only (must fit it exactly).",
    "cache_dir": "Where downloaded weights are cached (default: the Hugging Face cache for Hub files, "
    "``$CLIPZOO_CACHE`` or ``~/.cache/clipzoo`` for URL files).",
    "output_dict": "Make ``forward`` return a dict (``image_features``, ``text_features``, ``logit_scale``, ...) "
    "instead of a tuple.",
    "require_pretrained": "Raise instead of building random weights when no weights are given.",
    "weights_only": "Read pickled checkpoints with ``torch.load(weights_only=True)`` (refuses pickles that "
    "would run code); False only for files you trust.",
    "return_transform": "Return ``(model, preprocess)``; False returns the model alone.",
    "model_kwargs": "Top-level model config keys that replace the config's (``embed_dim``, ``vision_cfg``, "
    "``text_cfg``, ``quick_gelu``, ``init_logit_scale``, ...), as in open_clip.",
}
_RAISES = """Raises:
    UnknownModelError: ``model_name`` is not a known architecture (the message lists close matches).
    PretrainedNotFoundError: ``pretrained`` is neither a tag of the model nor an existing file.
    ConfigError: the architecture config (or a ``model_kwargs`` override) is invalid.
    clipzoo.validate.ArgumentError: an argument has the wrong type or is out of range (with the fix).
    CheckpointError: the checkpoint cannot be read or does not fit the model (missing/unexpected/mis-shaped keys).
    DownloadError: the weights could not be fetched (OfflineError offline without a cached copy,
        ChecksumError when the downloaded bytes do not match their published SHA-256).
    ValueError: ``require_pretrained=True`` (always, for ``create_model_from_pretrained``) and no weights."""


def _document(summary: str, returns: str, raises: str = _RAISES):
    """Build a Google-style docstring for a factory function from ``_ARG_DOCS`` and its signature."""
    import inspect
    import textwrap

    def wrap(text: str) -> str:
        return textwrap.fill(text, 100, initial_indent="", subsequent_indent="        ")

    def decorate(func):
        names = [n for n in inspect.signature(func).parameters]
        args = "\n".join(f"    {wrap(f'{name}: {_ARG_DOCS[name]}')}" for name in names)
        func.__doc__ = f"{summary}\n\nArgs:\n{args}\n\nReturns:\n    {returns}\n\n{raises}\n"
        return func

    return decorate


@_document(
    "Create a model by architecture name (or ``hf-hub:``/``local-dir:``), optionally with pretrained weights.\n\n"
    "The name is resolved to a :class:`ModelSpec` (architecture, weights source, preprocessing; see "
    ":func:`resolve`), the model is built (on the meta device when weights will be loaded: no random init, no "
    "second copy), the weights are fetched, converted and assigned strictly, then precision and device are set.",
    "The model (``CLIP``, ``CustomTextCLIP`` or ``CoCa``, in eval-ready fp32 unless ``precision`` says otherwise) "
    "with its preprocessing config attached (``get_model_preprocess_cfg(model)``).",
)
def create_model(
    model_name: str,
    pretrained: str | None = None,
    load_weights: bool = True,
    precision: str = "fp32",
    device: str | Any = "cpu",
    jit: bool = False,
    force_quick_gelu: bool = False,
    force_custom_text: bool = False,
    force_patch_dropout: float | None = None,
    force_image_size: int | tuple[int, int] | None = None,
    force_preprocess_cfg: dict[str, Any] | None = None,
    force_context_length: int | None = None,
    pretrained_image: bool = False,
    pretrained_text: bool = True,
    pretrained_image_path: str | None = None,
    pretrained_text_path: str | None = None,
    cache_dir: str | None = None,
    output_dict: bool | None = None,
    require_pretrained: bool = False,
    weights_only: bool = True,
    **model_kwargs: Any,
):
    check_factory_args("create_model", locals())
    _check_precision(precision)
    spec = resolve(
        model_name,
        pretrained,
        load_weights=load_weights,
        force_quick_gelu=force_quick_gelu,
        force_custom_text=force_custom_text,
        force_patch_dropout=force_patch_dropout,
        force_image_size=force_image_size,
        force_context_length=force_context_length,
        force_preprocess_cfg=force_preprocess_cfg,
        cache_dir=cache_dir,
        **model_kwargs,
    )
    if require_pretrained and spec.weights is None:
        raise ValueError(
            f"require_pretrained=True but no weights were given for {model_name!r} "
            f"(pass pretrained=<tag or file>)"
        )
    if spec.weights is None:
        _warn_random_weights(model_name, load_weights, pretrained_image_path, pretrained_text_path)
    _tower_pretrained_flags(spec, pretrained_image, pretrained_text)
    model = build(spec, precision, output_dict, empty=spec.weights is not None)
    if spec.weights is not None:
        load(model, spec, cache_dir=cache_dir, weights_only=weights_only)
    _load_tower_weights(model, pretrained_image_path, pretrained_text_path, weights_only)
    _set_precision(model, precision, device, spec.model_cfg.uses_timm)
    if jit:  # TorchScript where the architecture compiles, else the eager model and one warning saying why
        from .models.jit import script_model

        model = script_model(model)
    set_model_preprocess_cfg(model, spec.preprocess_cfg)
    return model


def _warn_random_weights(model_name: str, load_weights: bool, image_path: Any, text_path: Any) -> None:
    """Log (logger ``clipzoo``, as open_clip logs it) that the model gets random weights, wholly or in part."""
    why = "load_weights=False" if not load_weights else "pretrained=None"
    if image_path or text_path:
        loaded, random = ("image", "text") if image_path else ("text", "image")
        if image_path and text_path:
            return
        logger.warning(
            "Model %r initialized partially: %s tower weights loaded, the %s tower is random (%s).",
            model_name, loaded, random, why,
        )  # fmt: skip
        return
    logger.warning(
        "No pretrained weights loaded for model %r (%s): the model is initialized randomly. Pass pretrained="
        "<tag or file> for trained weights (clipzoo.list_pretrained_tags_by_model(%r) lists the tags).",
        model_name, why, model_name,
    )  # fmt: skip


def _tower_pretrained_flags(spec: ModelSpec, pretrained_image: bool, pretrained_text: bool) -> None:
    # Tower-level base weights (timm ImageNet / HF text) only when no full checkpoint will overwrite them.
    if spec.model_cfg.uses_timm:
        spec.model_cfg.vision_cfg.timm_model_pretrained = bool(pretrained_image and spec.weights is None)
    if spec.model_cfg.uses_hf_text:
        spec.model_cfg.text_cfg.hf_model_pretrained = bool(pretrained_text and spec.weights is None)


def _load_tower_weights(model, image_path: str | None, text_path: str | None, weights_only: bool) -> None:
    from . import checkpoint

    for path, attr in ((image_path, "visual"), (text_path, "text")):
        if not path:
            continue
        # CLIP keeps its text modules at the top level (as open_clip): load those keys into the model itself.
        tower = getattr(model, attr, None)
        subset = tower is None
        target = model if subset else tower
        state = checkpoint.read_state_dict(path, weights_only=weights_only)
        checkpoint.check_compatible(state, target, source=str(path), allow_missing=subset)
        target.load_state_dict(state, strict=not subset)


def _preprocess_overrides(mean, std, interpolation, resize_mode) -> dict[str, Any]:
    """The image_* arguments of the transform-returning factories as a force_preprocess_cfg mapping."""
    given = {"mean": mean, "std": std, "interpolation": interpolation, "resize_mode": resize_mode}
    return {k: v for k, v in given.items() if v is not None}


@_document(
    "Create a model plus its train and eval image transforms, as :func:`create_model` does.",
    "``(model, preprocess_train, preprocess_val)``: the transforms follow the tag's (or folder's) preprocessing, "
    "with the ``image_*`` arguments applied.",
)
def create_model_and_transforms(
    model_name: str,
    pretrained: str | None = None,
    load_weights: bool = True,
    precision: str = "fp32",
    device: str | Any = "cpu",
    jit: bool = False,
    force_quick_gelu: bool = False,
    force_custom_text: bool = False,
    force_patch_dropout: float | None = None,
    force_image_size: int | tuple[int, int] | None = None,
    force_context_length: int | None = None,
    image_mean: tuple[float, ...] | None = None,
    image_std: tuple[float, ...] | None = None,
    image_interpolation: str | None = None,
    image_resize_mode: str | None = None,
    aug_cfg: dict[str, Any] | Any = None,
    pretrained_image: bool = False,
    pretrained_text: bool = True,
    pretrained_image_path: str | None = None,
    pretrained_text_path: str | None = None,
    cache_dir: str | None = None,
    output_dict: bool | None = None,
    weights_only: bool = True,
    **model_kwargs: Any,
):
    check_factory_args("create_model_and_transforms", locals())
    from .transforms import PreprocessCfg, image_transform_v2

    force_preprocess_cfg = _preprocess_overrides(
        image_mean, image_std, image_interpolation, image_resize_mode
    )
    model = create_model(
        model_name,
        pretrained,
        load_weights=load_weights,
        precision=precision,
        device=device,
        jit=jit,
        force_quick_gelu=force_quick_gelu,
        force_custom_text=force_custom_text,
        force_patch_dropout=force_patch_dropout,
        force_image_size=force_image_size,
        force_preprocess_cfg=force_preprocess_cfg,
        force_context_length=force_context_length,
        pretrained_image=pretrained_image,
        pretrained_text=pretrained_text,
        pretrained_image_path=pretrained_image_path,
        pretrained_text_path=pretrained_text_path,
        cache_dir=cache_dir,
        output_dict=output_dict,
        weights_only=weights_only,
        **model_kwargs,
    )
    pp_cfg = PreprocessCfg(**get_model_preprocess_cfg(model))
    return (
        model,
        image_transform_v2(pp_cfg, is_train=True, aug_cfg=aug_cfg),
        image_transform_v2(pp_cfg, is_train=False),
    )


@_document(
    "Create a model that must have pretrained weights (no random-init fallback), as :func:`create_model` does.",
    "``(model, preprocess)`` with the eval transform, or the model alone when ``return_transform=False``.",
)
def create_model_from_pretrained(
    model_name: str,
    pretrained: str | None = None,
    precision: str = "fp32",
    device: str | Any = "cpu",
    jit: bool = False,
    force_quick_gelu: bool = False,
    force_custom_text: bool = False,
    force_image_size: int | tuple[int, int] | None = None,
    force_context_length: int | None = None,
    image_mean: tuple[float, ...] | None = None,
    image_std: tuple[float, ...] | None = None,
    image_interpolation: str | None = None,
    image_resize_mode: str | None = None,
    return_transform: bool = True,
    cache_dir: str | None = None,
    weights_only: bool = True,
    **model_kwargs: Any,
):
    check_factory_args("create_model_from_pretrained", locals())
    from .transforms import PreprocessCfg, image_transform_v2

    force_preprocess_cfg = _preprocess_overrides(
        image_mean, image_std, image_interpolation, image_resize_mode
    )
    model = create_model(
        model_name,
        pretrained,
        precision=precision,
        device=device,
        jit=jit,
        force_quick_gelu=force_quick_gelu,
        force_custom_text=force_custom_text,
        force_image_size=force_image_size,
        force_preprocess_cfg=force_preprocess_cfg,
        force_context_length=force_context_length,
        cache_dir=cache_dir,
        require_pretrained=True,
        weights_only=weights_only,
        **model_kwargs,
    )
    if not return_transform:
        return model
    return model, image_transform_v2(PreprocessCfg(**get_model_preprocess_cfg(model)), is_train=False)


def get_tokenizer(
    model_name: str = "", context_length: int | None = None, cache_dir: str | None = None, **kwargs
):
    """The tokenizer a model's config names: CLIP BPE, SigLIP sentencepiece or a Hugging Face tokenizer.

    The choice comes from the config (``text_cfg.hf_tokenizer_name``, ``tokenizer_kwargs``), never from the name.

    Args:
        model_name: Architecture name, ``'hf-hub:org/repo'`` or ``'local-dir:PATH'`` (its own tokenizer files);
            ``''`` gives the default CLIP BPE tokenizer.
        context_length: Tokens per text (default: the config's ``text_cfg.context_length``, 77 for CLIP).
        cache_dir: Where Hub tokenizer and config files are cached.
        **kwargs: Tokenizer options that override the config's ``tokenizer_kwargs`` (e.g. ``clean``).

    Returns:
        A callable ``tokenizer(texts) -> LongTensor[len(texts), context_length]`` (``SimpleTokenizer``,
        ``SigLipTokenizer`` or ``HFTokenizer``).

    Raises:
        UnknownModelError: ``model_name`` is not a known architecture (close matches in the message).
        clipzoo.validate.ArgumentError: an argument has the wrong type or is out of range.
    """
    check_factory_args("get_tokenizer", locals(), extra="kwargs")
    from .tokenizers import get_tokenizer as _get_tokenizer

    return _get_tokenizer(model_name, context_length=context_length, cache_dir=cache_dir, **kwargs)

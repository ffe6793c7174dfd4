"""From a name and a tag to a ready model: resolve -> build -> load -> finish.

``resolve`` turns the caller's words into a :class:`ModelSpec` (what will be built, from which weights, with
which preprocessing) without touching torch; ``build`` makes the module (on the meta device when weights will be
loaded, so nothing is initialized twice); ``load`` reads, converts and assigns the weights; ``finish`` applies
precision and device. ``create_model`` is those four in a row.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from ..constants import PRECISION_DTYPES, PRECISIONS
from ..errors import choice_error
from ..registry.footprint import check_model_fits
from .arguments import check_factory_args
from .build import build
from .load import load
from .resolve import ModelSpec, resolve
from .sources import folder_model, parse_model_name

if TYPE_CHECKING:
    from ..preprocess.naflex import NaFlexEvalTransform

logger = logging.getLogger("clipzoo")


# ---------------------------------------------------------------------------------------------------- finish


def _set_precision(model, precision: str, device, uses_timm: bool):
    import torch

    from ..models import convert_weights_to_lp
    from ..models.layers import LayerNormFp32

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
        raise choice_error("precision", precision, PRECISIONS)


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
    "force_naflex_vision": "Turn a ViT image tower (native or timm) into timm's NaFlexVit (variable resolution and "
    "aspect, a token budget; open_clip main's option); its checkpoint is converted when loaded and the eval "
    "transform gives patch dicts.",
    "model_kwargs": "Top-level model config keys that replace the config's (``embed_dim``, ``vision_cfg``, "
    "``text_cfg``, ``quick_gelu``, ``init_logit_scale``, ...), as in open_clip.",
}
_RAISES = """Raises:
    UnknownModelError: ``model_name`` is not a known architecture (the message lists close matches).
    PretrainedNotFoundError: ``pretrained`` is neither a tag of the model nor an existing file.
    ConfigError: the architecture config (or a ``model_kwargs`` override) is invalid.
    clipzoo.factory.arguments.ArgumentError: an argument has the wrong type or is out of range (with the fix).
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
    force_naflex_vision: bool = False,
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
        force_naflex_vision=force_naflex_vision,
        **model_kwargs,
    )
    check_model_fits(spec.model_cfg, model_name)  # before the allocator is asked for what no machine here has
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
        from ..models.jit import script_model

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
        "No pretrained weights loaded for model %r (%s): the model is initialized randomly. %s",
        model_name, why, _weights_hint(model_name, load_weights),
    )  # fmt: skip


# Where trained weights come from, by the kind of name (parse_model_name's schema): the hint of the warning above.
_WEIGHTS_HINTS = {
    None: "Pass pretrained=<tag or file> for trained weights (clipzoo.list_pretrained_tags_by_model({name!r}) "
    "lists the tags).",
    "local-dir": "The folder {identifier} holds no weights file: put the model's weights in it "
    "(open_clip_model.safetensors, or a transformers folder's model.safetensors), e.g. with `clipzoo export`.",
    "hf-hub": "The Hub repo {identifier} holds no weights file clipzoo reads (open_clip_model.safetensors, "
    "open_clip_pytorch_model.bin, or a transformers model.safetensors); choose a repo that has one.",
}


def _weights_hint(model_name: str, load_weights: bool) -> str:
    if not load_weights:
        return "Drop load_weights=False to load its weights."
    schema, identifier = parse_model_name(model_name)
    return _WEIGHTS_HINTS[schema].format(name=model_name, identifier=identifier)


def _tower_pretrained_flags(spec: ModelSpec, pretrained_image: bool, pretrained_text: bool) -> None:
    # Tower-level base weights (timm ImageNet / HF text) only when no full checkpoint will overwrite them.
    if spec.model_cfg.uses_timm:
        spec.model_cfg.vision_cfg.timm_model_pretrained = bool(pretrained_image and spec.weights is None)
    if spec.model_cfg.uses_hf_text:
        spec.model_cfg.text_cfg.hf_model_pretrained = bool(pretrained_text and spec.weights is None)


def _load_tower_weights(model, image_path: str | None, text_path: str | None, weights_only: bool) -> None:
    from ..checkpoint import load as checkpoint

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
    force_naflex_vision: bool = False,
    **model_kwargs: Any,
):
    check_factory_args("create_model_and_transforms", locals())
    from ..preprocess.transforms import PreprocessCfg, image_transform_v2

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
        force_naflex_vision=force_naflex_vision,
        **model_kwargs,
    )
    pp_cfg = PreprocessCfg(**get_model_preprocess_cfg(model))
    return (
        model,
        image_transform_v2(pp_cfg, is_train=True, aug_cfg=aug_cfg),
        _eval_transform(model, pp_cfg),
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
    force_naflex_vision: bool = False,
    **model_kwargs: Any,
):
    check_factory_args("create_model_from_pretrained", locals())
    from ..preprocess.transforms import PreprocessCfg

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
        force_naflex_vision=force_naflex_vision,
        **model_kwargs,
    )
    if not return_transform:
        return model
    return model, _eval_transform(model, PreprocessCfg(**get_model_preprocess_cfg(model)))


def _eval_transform(model, pp_cfg):
    """The eval transform: NaFlex towers take patch dicts at their token budget, others the dense transform."""
    from ..models.naflex import naflex_trunk

    if naflex_trunk(model) is not None:
        return naflex_transform_for_model(model)
    from ..preprocess.transforms import image_transform_v2

    return image_transform_v2(pp_cfg, is_train=False)


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
        clipzoo.factory.arguments.ArgumentError: an argument has the wrong type or is out of range.
    """
    check_factory_args("get_tokenizer", locals(), extra="kwargs")
    from ..tokenizers import tokenizer_from_config

    if not model_name:
        return tokenizer_from_config(None, context_length, **kwargs)
    config, local_source = _tokenizer_source(model_name, cache_dir)
    return tokenizer_from_config(config, context_length, cache_dir, local_source, model_name, **kwargs)


def _tokenizer_source(model_name: str, cache_dir: str | None) -> tuple[dict, str | None]:
    """(model config, folder that replaces the config's HF tokenizer name) for a model name of any schema."""
    from ..registry import architectures as registry

    schema, identifier = parse_model_name(model_name)
    if schema is not None:
        found = folder_model(schema, identifier, cache_dir)
        # Like open_clip, an exported folder carries its own tokenizer files; a Hub repo names its own.
        return found.model_cfg, (found.tokenizer_source if schema == "local-dir" else None)
    config = registry.get_model_config(identifier)
    if config is None:
        raise registry.UnknownModelError(identifier)
    return config, None


def naflex_transform_for_model(model: Any, max_num_patches: int | None = None) -> NaFlexEvalTransform:
    """The NaFlex eval transform of a model: its tower's patch size, its preprocessing, its token budget.

    Args:
        model: A model with a NaFlex image tower (e.g. ``create_model("ViT-B-16-SigLIP2-naflex")``).
        max_num_patches: Token budget; default the tower's ``image_seq_len`` (the config's), else the patch count
            of its ``image_size``.

    Returns:
        A :class:`NaFlexEvalTransform` with the model's mean, std and interpolation.

    Raises:
        ValueError: the model has no NaFlex image tower.
    """
    from ..models.naflex import naflex_trunk
    from ..preprocess.naflex import NaFlexEvalTransform

    trunk = naflex_trunk(model)
    if trunk is None:
        raise ValueError(
            f"{type(model).__name__} has no NaFlex image tower; use its dense eval transform "
            "(create_model_and_transforms) or a NaFlex model (create_model(..., force_naflex_vision=True))"
        )
    visual = getattr(model, "visual", model)
    patch = trunk.embeds.patch_size
    patch = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
    if max_num_patches is None:
        max_num_patches = getattr(visual, "image_seq_len", None)
    if max_num_patches is None:
        height, width = visual.image_size
        max_num_patches = (height // patch) * (width // patch)
    from ..preprocess.config import default_preprocess_dict

    pp = {**default_preprocess_dict(), **(getattr(visual, "preprocess_cfg", None) or {})}
    interpolation = "bicubic" if pp["interpolation"] == "random" else pp["interpolation"]
    return NaFlexEvalTransform(patch, int(max_num_patches), pp["mean"], pp["std"], interpolation)

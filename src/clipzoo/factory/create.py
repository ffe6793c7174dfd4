"""The create functions: from a name and a tag to a ready model, resolve -> build -> load -> finish.

``resolve`` (:mod:`.resolve`) turns the caller's words into a :class:`ModelSpec` (what will be built, from which
weights, with which preprocessing) without touching torch; ``build`` (:mod:`.meta_build`) makes the module (on the
meta device when weights will be loaded, so nothing is initialized twice); ``load`` (:mod:`.fetch`) fetches,
converts and assigns the weights; ``finish`` (:mod:`.precision`) applies precision and device. ``create_model`` is
those four in a row; ``create_model_and_transforms`` and ``create_model_from_pretrained`` add the transforms.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..registry.footprint import check_model_fits
from .arguments import check_factory_args, take_renamed_keywords
from .docstrings import document
from .fetch import load
from .meta_build import build
from .precision import set_precision
from .preprocess_cfg import get_model_preprocess_cfg, set_model_preprocess_cfg
from .resolve import FORCE_OPTIONS, ModelSpec, resolve
from .sources import parse_model_name
from .transforms import audio_transforms, eval_transform

if TYPE_CHECKING:  # annotations only: building a model imports torch when it runs, not when this module loads
    from ..models import CLIP, CoCa, CustomTextCLIP

logger = logging.getLogger("clipzoo")


@document(
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
) -> CLIP | CustomTextCLIP | CoCa:
    pretrained_text = take_renamed_keywords("create_model", model_kwargs).get("pretrained_text", pretrained_text)
    check_factory_args("create_model", locals())  # precision included: checked once, here
    forced = {name: value for name, value in locals().items() if name in FORCE_OPTIONS}
    spec = resolve(model_name, pretrained, load_weights=load_weights, cache_dir=cache_dir, **forced, **model_kwargs)
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
    set_precision(model, precision, device, spec.model_cfg.uses_timm)
    if jit:  # TorchScript where the architecture compiles, else the eager model and one warning saying why
        from ..models.jit import script_model

        model = script_model(model)
    set_model_preprocess_cfg(model, spec.preprocess_cfg)
    return model



# create_model's own parameters: the wrappers pass unknown keywords on to it, so they may name these too.
_CREATE_MODEL_PARAMS = tuple(
    name for name, param in inspect.signature(create_model).parameters.items() if param.kind != param.VAR_KEYWORD
)


def _create_model_arguments(given: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """What a wrapper passes on to create_model: those of its locals (``given``) that create_model takes as
    parameters, then ``overrides``; the caller adds its ``model_kwargs`` (a name in both is a TypeError, as in a
    call that spells them out)."""
    return {name: given[name] for name in _CREATE_MODEL_PARAMS if name in given} | overrides


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
        target = model if tower is None else tower
        state = checkpoint.read_state_dict(path, weights_only=weights_only)
        checkpoint.check_compatible(state, target, source=str(path), allow_missing=subset)
        target.load_state_dict(state, strict=not subset)


def _preprocess_overrides(mean, std, interpolation, resize_mode) -> dict[str, Any]:
    """The image_* arguments of the transform-returning factories as a force_preprocess_cfg mapping."""
    given = {"mean": mean, "std": std, "interpolation": interpolation, "resize_mode": resize_mode}
    return {k: v for k, v in given.items() if v is not None}


@document(
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
) -> tuple[CLIP | CustomTextCLIP | CoCa, Callable[..., Any], Callable[..., Any]]:
    check_factory_args("create_model_and_transforms", locals(), forwarded=_CREATE_MODEL_PARAMS)
    from ..preprocess.transforms import PreprocessCfg, image_transform_v2

    force_preprocess_cfg = _preprocess_overrides(
        image_mean, image_std, image_interpolation, image_resize_mode
    )
    model = create_model(**_create_model_arguments(locals()), **model_kwargs)
    audio = audio_transforms(model)
    if audio is not None:  # CLAP: audio transforms
        return (model, *audio)
    pp_cfg = PreprocessCfg(**get_model_preprocess_cfg(model))
    return (
        model,
        image_transform_v2(pp_cfg, is_train=True, aug_cfg=aug_cfg),
        eval_transform(model, pp_cfg),
    )


@document(
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
) -> CLIP | CustomTextCLIP | CoCa | tuple[CLIP | CustomTextCLIP | CoCa, Callable[..., Any]]:
    check_factory_args("create_model_from_pretrained", locals(), forwarded=_CREATE_MODEL_PARAMS)
    from ..preprocess.transforms import PreprocessCfg

    force_preprocess_cfg = _preprocess_overrides(
        image_mean, image_std, image_interpolation, image_resize_mode
    )
    model = create_model(**_create_model_arguments(locals(), require_pretrained=True), **model_kwargs)
    if not return_transform:
        return model
    return model, eval_transform(model, PreprocessCfg(**get_model_preprocess_cfg(model)))

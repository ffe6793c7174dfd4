"""A created model's eval transform: audio for CLAP, patch dicts at the token budget for NaFlex towers, else the
dense one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..preprocess.naflex import NaFlexEvalTransform


def audio_cfg_of(model: Any) -> Any:
    """The audio tower's config of a CLAP model (its transform's settings), None for image-text models."""
    return getattr(getattr(model, "audio", None), "cfg", None)


def audio_transforms(model: Any) -> tuple[Any, Any] | None:
    """(train, eval) audio transforms of a CLAP model (training draws its crops at random); None otherwise."""
    cfg = audio_cfg_of(model)
    if cfg is None:
        return None
    from ..preprocess.audio import audio_transform

    return audio_transform(cfg, is_train=True), audio_transform(cfg)


def eval_transform(model: Any, pp_cfg: Any) -> Any:
    """The eval transform of ``model``: audio for CLAP, patch dicts at the token budget for NaFlex towers, else
    the dense one."""
    from ..models.naflex import naflex_trunk

    audio = audio_transforms(model)
    if audio is not None:
        return audio[1]
    if naflex_trunk(model) is not None:
        return naflex_transform_for_model(model)
    from ..preprocess.transforms import image_transform_v2

    return image_transform_v2(pp_cfg, is_train=False)



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

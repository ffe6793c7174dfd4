"""Zero-shot classification: class-embedding matrices from prompts, top-k predictions, ``clipzoo classify``.

``build_zero_shot_classifier`` mirrors open_clip's function of the same name (same arguments, same matrix).
``zero_shot_classify`` is clipzoo's one-call helper: images (paths, PIL images or a preprocessed batch) and
free-text labels in, top-k ``(label, probability)`` pairs out.

Probabilities follow the model family, detected from the model itself (never from its name):

* CLIP-style (no ``logit_bias``): softmax over labels of ``exp(logit_scale) * cos(image, class)``; the
  probabilities of one image sum to 1 over all labels.
* SigLIP-style (``model.logit_bias`` is not None): independent ``sigmoid(exp(logit_scale) * cos + logit_bias)``
  per label; they need not sum to 1.

``model.logit_scale`` is the log of the temperature, as in open_clip models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from clipzoo.zero_shot.imagenet import (
    IMAGENET_CLASSNAMES,
    OPENAI_IMAGENET_TEMPLATES,
    SIGLIP_TEMPLATES,
    SIMPLE_IMAGENET_TEMPLATES,
)
from clipzoo.zero_shot.prompts import (
    AUDIO_TEMPLATES,
    TEMPLATE_SETS,
    check_labels,
    check_templates,
    read_template_lines,
)

from ..errors import ZeroShotInputError, unknown_choice_message

__all__ = [
    "IMAGENET_CLASSNAMES",
    "OPENAI_IMAGENET_TEMPLATES",
    "SIMPLE_IMAGENET_TEMPLATES",
    "TEMPLATE_SETS",
    "ZeroShotInputError",
    "build_zero_shot_classifier",
    "zero_shot_classify",
]

Template = str | Callable[[str], str]


def _chunks(items: Sequence, size: int | None) -> Iterator[Sequence]:
    """Consecutive slices of ``size`` items (all at once when size is None)."""
    step = size or max(len(items), 1)
    for start in range(0, len(items), step):
        yield items[start : start + step]


def _render(template: Template, classname: str) -> str:
    """One prompt: ``str.format`` for strings, a call for callables (open_clip accepts both)."""
    return template.format(classname) if isinstance(template, str) else template(classname)


def _encode_classes(
    model: Any, tokenizer: Callable, classnames: Sequence[str], templates, device
) -> torch.Tensor:
    """[embed_dim, len(classnames)]: per class, the normalized mean of its normalized prompt embeddings."""
    prompts = [_render(t, name) for name in classnames for t in templates]
    embeddings = F.normalize(model.encode_text(tokenizer(prompts).to(device)), dim=-1)
    per_class = embeddings.reshape(len(classnames), len(templates), -1).mean(dim=1)
    return F.normalize(per_class, dim=-1).T


def _check_nonempty_sequence(value: Any, what: str) -> None:
    """Reject empty sequences and bare strings (a string would be read as one item per character)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ZeroShotInputError(f"{what} must be a list or tuple, got {type(value).__name__}: {value!r}")
    if len(value) == 0:
        raise ZeroShotInputError(f"{what} is empty; give at least one")


def build_zero_shot_classifier(
    model: Any,
    tokenizer: Callable,
    classnames: Sequence[str],
    templates: Sequence[Template],
    num_classes_per_batch: int | None = 10,
    device: str | torch.device = "cpu",
    use_tqdm: bool = False,
) -> torch.Tensor:
    """Normalized class-embedding matrix [embed_dim, num_classes], encoding ``num_classes_per_batch`` at a time.

    Each class's column is the normalized mean of its normalized prompt embeddings (open_clip's matrix).

    Args:
        model: A model with ``encode_text`` (any clipzoo or open_clip model).
        tokenizer: Turns a list of prompts into token ids, e.g. ``get_tokenizer(model_name)``.
        classnames: The class names, one column each.
        templates: Prompt templates: ``'{}'`` strings (``str.format``) or callables ``name -> prompt``.
        num_classes_per_batch: Classes encoded per forward pass; None encodes all at once.
        device: Where the token ids are sent (the model's device).
        use_tqdm: Show a progress bar over the batches.

    Returns:
        A float tensor [embed_dim, len(classnames)] with unit-norm columns (no gradients).

    Raises:
        ZeroShotInputError: ``classnames`` or ``templates`` is empty or not a list/tuple.
        ValueError: ``num_classes_per_batch`` is below 1.
    """
    _check_nonempty_sequence(classnames, "classnames")
    templates = check_templates(templates, ZeroShotInputError)
    if num_classes_per_batch is not None and num_classes_per_batch < 1:
        raise ValueError(
            f"num_classes_per_batch must be a positive int or None (all at once), got {num_classes_per_batch}"
        )
    batches: Iterator[Sequence] = _chunks(classnames, num_classes_per_batch)
    if use_tqdm:
        import tqdm

        batches = tqdm.tqdm(batches, total=-(-len(classnames) // (num_classes_per_batch or len(classnames))))
    with torch.no_grad():
        return torch.cat(
            [_encode_classes(model, tokenizer, batch, templates, device) for batch in batches], dim=1
        )


def check_label_list(labels: Sequence[str]) -> list[str]:
    """Labels must be distinct non-blank strings (the shared check of :mod:`clipzoo.zero_shot.prompts`)."""
    return check_labels(labels, ZeroShotInputError)


def resolve_templates(templates: str | Sequence[Template] | None, model: Any = None) -> Sequence[Template]:
    """Prompt templates from a set name (see TEMPLATE_SETS), a sequence, or None (the model family's default)."""
    if templates is None:
        if is_audio_model(model):
            return AUDIO_TEMPLATES
        return SIGLIP_TEMPLATES if is_sigmoid_model(model) else OPENAI_IMAGENET_TEMPLATES
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            raise ZeroShotInputError(unknown_choice_message("template set", templates, list(TEMPLATE_SETS)))
        return TEMPLATE_SETS[templates]
    return check_templates(templates, ZeroShotInputError)


def read_templates_file(path: str | Path) -> list[str]:
    """Templates from a text file: one per line, each with a ``{}`` slot; blank and ``#`` lines skipped."""
    templates = read_template_lines(path, ZeroShotInputError)
    check_templates(templates, ZeroShotInputError)  # what resolve_templates checks of a list
    return templates


def is_audio_model(model: Any) -> bool:
    """Audio-text (CLAP) models encode audio instead of images."""
    return hasattr(model, "encode_audio") and not hasattr(model, "encode_image")


def _audio_batches(items: Any, preprocess: Callable | None, batch_size: int) -> Iterator[Any]:
    """Batched audio-model inputs from a preprocessed batch (dict or tensor) or from files/waveforms."""
    from torch.utils.data import default_collate

    if isinstance(items, (dict, torch.Tensor)):
        yield items  # already the model's batched input
        return
    yield from _preprocessed_chunks(items, preprocess, batch_size, "audio", lambda item: item, default_collate)


# Per modality: its raw inputs, the transform they need, and the preprocessed form that needs none (error text).
_RAW_INPUTS = {
    "audio": ("audio files or waveforms", "the audio transform", "batch"),
    "image": ("paths or PIL images", "the eval transform", "[B, C, H, W] tensor"),
}


def _preprocessed_chunks(
    items: Any, preprocess: Callable | None, batch_size: int, modality: str, load: Callable, collate: Callable
) -> Iterator[Any]:
    """Batches of raw ``items`` (``load``-ed, preprocessed, ``collate``-d), ``batch_size`` at a time."""
    if preprocess is None:
        raw, transform, ready = _RAW_INPUTS[modality]
        raise ZeroShotInputError(
            f"preprocess is required for {raw}: pass {transform} returned by create_model_and_transforms, "
            f"or give an already preprocessed {ready}"
        )
    for chunk in _chunks(_as_image_list(items), batch_size):
        yield collate([preprocess(load(item)) for item in chunk])


def _move(batch: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """A batch (tensor, or dict of tensors) on ``device``; floating tensors in ``dtype``."""
    if isinstance(batch, dict):
        return {key: _move(value, device, dtype) for key, value in batch.items()}
    return batch.to(device, dtype) if batch.is_floating_point() else batch.to(device)


def is_sigmoid_model(model: Any) -> bool:
    """SigLIP-style models carry a learned logit bias; CLIP-style ones have none (or None)."""
    return getattr(model, "logit_bias", None) is not None


def _load_image(item: Any):
    """A PIL image from a path (converted to RGB) or the image itself; errors name the file (the one loader)."""
    from PIL import Image

    from ..preprocess.images import load_image

    if isinstance(item, Image.Image):
        return item
    if not isinstance(item, (str, Path)):
        raise ZeroShotInputError(
            f"images must be file paths, PIL images or a tensor; got {type(item).__name__}"
        )
    return load_image(item).convert("RGB")


def _image_batches(images: Any, preprocess: Callable | None, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield [b, C, H, W] tensors from a preprocessed tensor or from paths / PIL images (read lazily)."""
    if isinstance(images, torch.Tensor):
        batch = images.unsqueeze(0) if images.ndim == 3 else images
        if batch.ndim != 4:
            raise ZeroShotInputError(
                f"an image tensor must be [B, C, H, W] or [C, H, W], got {list(images.shape)}"
            )
        yield from batch.split(batch_size)
        return
    yield from _preprocessed_chunks(images, preprocess, batch_size, "image", _load_image, torch.stack)


def _as_image_list(images: Any) -> list:
    """A single path / PIL image becomes a list of one."""
    if isinstance(images, (str, Path)) or not isinstance(images, Sequence):
        images = [images]
    if len(images) == 0:
        raise ZeroShotInputError("images is empty; give at least one image")
    return list(images)


def _model_device_dtype(model: Any) -> tuple[torch.device, torch.dtype]:
    """Where the model's weights live and their floating dtype (images are cast to match)."""
    for param in model.parameters():
        if param.is_floating_point():
            return param.device, param.dtype
    return torch.device("cpu"), torch.float32


def label_probabilities(model: Any, image_features: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """[B, num_labels] probabilities: softmax for CLIP-style models, sigmoid for SigLIP-style ones."""
    scale = torch.as_tensor(model.logit_scale).exp()
    logits = scale * F.normalize(image_features, dim=-1) @ classifier
    if is_sigmoid_model(model):
        return torch.sigmoid(logits + model.logit_bias)
    return logits.softmax(dim=-1)


def zero_shot_classify(
    model: Any,
    images: Any,
    labels: Sequence[str],
    tokenizer: Callable | None = None,
    preprocess: Callable | None = None,
    templates: str | Sequence[Template] | None = None,
    top_k: int = 5,
    *,
    classifier: torch.Tensor | None = None,
    batch_size: int = 32,
) -> list[list[tuple[str, float]]]:
    """Top-k ``(label, probability)`` pairs per image, best first.

    Args:
        model: a CLIP/SigLIP-style model with ``encode_image``, ``encode_text``, ``logit_scale`` (log
            temperature) and, for sigmoid scoring, a ``logit_bias`` that is not None. Used as is: call
            ``model.eval()`` first.
        images: file paths and/or PIL images (need ``preprocess``), or a preprocessed [B, C, H, W] tensor; for
            an audio-text (CLAP) model, audio files or waveforms (need its audio transform as ``preprocess``) or
            a preprocessed batch.
        labels: distinct class names, inserted into every template.
        tokenizer: turns a list of prompts into token ids; required unless ``classifier`` is given.
        preprocess: PIL image -> [C, H, W] tensor, e.g. the eval transform of create_model_and_transforms.
        templates: a template set name (``openai``, ``simple``, ``siglip``), a sequence of ``{}`` strings or
            callables, or None for the family default (OpenAI's 80 prompts for CLIP, "This is a photo of {}."
            for SigLIP).
        top_k: predictions per image; capped at the number of labels.
        classifier: a precomputed [embed_dim, len(labels)] matrix from build_zero_shot_classifier.
        batch_size: images encoded per forward pass.

    Images and prompts go to the device and dtype of the model's weights; nothing is cached between calls.

    Returns:
        One list per image, in input order, of up to ``top_k`` ``(label, probability)`` pairs, most probable
        first: softmax probabilities over the labels for CLIP-style models, independent sigmoid ones for
        SigLIP-style models (see the module notes).

    Raises:
        ZeroShotInputError: empty, blank or duplicate labels; ``top_k`` or ``batch_size`` below 1; neither
            ``tokenizer`` nor ``classifier``; a classifier of the wrong shape; an unknown template set or a
            template without ``{}``; paths or PIL images without ``preprocess``; an image tensor that is not
            [B, C, H, W] or [C, H, W]; an image file that is missing or cannot be read (the message names it).
    """
    labels = check_label_list(labels)
    if top_k < 1:
        raise ZeroShotInputError(f"top_k must be at least 1, got {top_k}")
    if batch_size < 1:
        raise ZeroShotInputError(f"batch_size must be at least 1, got {batch_size}")
    device, dtype = _model_device_dtype(model)
    if classifier is None:
        if tokenizer is None:
            raise ZeroShotInputError(
                "tokenizer is required to embed the labels (or pass a precomputed classifier)"
            )
        classifier = build_zero_shot_classifier(
            model, tokenizer, labels, resolve_templates(templates, model), device=device
        )
    if classifier.ndim != 2 or classifier.shape[1] != len(labels):
        raise ZeroShotInputError(
            f"classifier must be [embed_dim, {len(labels)}] for {len(labels)} labels, got {list(classifier.shape)}"
        )
    k = min(top_k, len(labels))
    results: list[list[tuple[str, float]]] = []
    audio = is_audio_model(model)
    batches = (_audio_batches if audio else _image_batches)(images, preprocess, batch_size)
    encode = model.encode_audio if audio else model.encode_image
    with torch.no_grad():
        for batch in batches:
            probs = label_probabilities(model, encode(_move(batch, device, dtype)), classifier)
            values, indices = probs.float().topk(k, dim=-1)
            results += [
                [(labels[i], p) for i, p in zip(row_idx, row_val)]
                for row_idx, row_val in zip(indices.tolist(), values.tolist())
            ]
    return results

"""The factory functions' docstrings, built from one description per argument and each signature."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

# One description per argument, shared by the three create functions (their docstrings are built from it).
ARG_DOCS: dict[str, str] = {
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
RAISES = """Raises:
    UnknownModelError: ``model_name`` is not a known architecture (the message lists close matches).
    PretrainedNotFoundError: ``pretrained`` is neither a tag of the model nor an existing file.
    ConfigError: the architecture config (or a ``model_kwargs`` override) is invalid.
    clipzoo.factory.arguments.ArgumentError: an argument has the wrong type or is out of range (with the fix).
    CheckpointError: the checkpoint cannot be read or does not fit the model (missing/unexpected/mis-shaped keys).
    DownloadError: the weights could not be fetched (OfflineError offline without a cached copy,
        ChecksumError when the downloaded bytes do not match their published SHA-256).
    ValueError: ``require_pretrained=True`` (always, for ``create_model_from_pretrained``) and no weights."""



# The decorated function keeps its own type (signature and return type), for type checkers and editors.
F = TypeVar("F", bound=Callable[..., Any])


def document(summary: str, returns: str, raises: str = RAISES) -> Callable[[F], F]:
    """Build a Google-style docstring for a factory function from ``ARG_DOCS`` and its signature."""

    def wrap(text: str) -> str:
        return textwrap.fill(text, 100, initial_indent="", subsequent_indent="        ")

    def decorate(func: F) -> F:
        names = [n for n in inspect.signature(func).parameters]
        args = "\n".join(f"    {wrap(f'{name}: {ARG_DOCS[name]}')}" for name in names)
        func.__doc__ = f"{summary}\n\nArgs:\n{args}\n\nReturns:\n    {returns}\n\n{raises}\n"
        return func

    return decorate

"""Model code: towers (ViT, ModifiedResNet, text transformer, timm, Hugging Face) and CLIP/CustomTextCLIP/CoCa.

CoCa captioning: ``generation`` (``generate``, sampling, caption decoding), ``beam_search``, and ``decoding`` (the
logits processors, stopping criteria and token ids both strategies share).
"""

from .build import (
    build_model,
    convert_weights_to_fp16,
    convert_weights_to_lp,
    count_parameters,
    get_cast_dtype,
    get_input_dtype,
    get_model_tokenize_cfg,
    model_kind,
)
from .clip import CLIP, CustomTextCLIP
from .coca import CoCa

__all__ = [
    "CLIP",
    "CoCa",
    "CustomTextCLIP",
    "build_model",
    "convert_weights_to_fp16",
    "convert_weights_to_lp",
    "count_parameters",
    "get_cast_dtype",
    "get_input_dtype",
    "get_model_tokenize_cfg",
    "model_kind",
]

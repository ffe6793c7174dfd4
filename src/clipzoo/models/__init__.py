"""Model code: towers (ViT, ModifiedResNet, text transformer, timm, Hugging Face) and CLIP/CustomTextCLIP/CoCa."""

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

"""clipzoo: CLIP-family vision-language models (CLIP, SigLIP, CoCa), open_clip-compatible, lazy to import.

``import clipzoo`` and the registry functions never import torch, torchvision, timm or transformers; every
public name is resolved from its module on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # architecture registry
    "list_models": "registry",
    "get_model_config": "registry",
    "add_model_config": "registry",
    "UnknownModelError": "registry",
    "ConfigError": "config",
    # pretrained tags
    "normalize_tag": "pretrained",
    "list_pretrained": "pretrained",
    "list_pretrained_tags_by_model": "pretrained",
    "list_pretrained_models_by_tag": "pretrained",
    "is_pretrained_cfg": "pretrained",
    "get_pretrained_cfg": "pretrained",
    "get_pretrained_url": "pretrained",
    "add_pretrained_cfg": "pretrained",
    "UnknownTagError": "pretrained",
    # published results, cost, ranking
    "get_pretrained_results": "results",
    "get_model_profile": "results",
    "rank_pretrained": "results",
    "list_metrics": "results",
    "model_family": "results",
    "UnknownMetricError": "results",
    "ProfileNotFoundError": "results",
    "plot_pretrained": "plot",
    "PlotDependencyError": "plot",
    # weights
    "download_pretrained": "hub",
    "download_pretrained_from_url": "hub",
    "download_pretrained_from_hf": "hub",
    "DownloadError": "hub",
    "OfflineError": "hub",
    "NotFoundError": "hub",
    "ChecksumError": "hub",
    "DownloadTimeoutError": "hub",
    "load_checkpoint": "checkpoint",
    "load_state_dict": "checkpoint",
    "CheckpointError": "checkpoint",
    "export_model": "export",
    "save_model_folder": "export",
    "ExportError": "export",
    "ExportBusyError": "export",
    "ExportTargetError": "export",
    "OnnxModel": "onnx",  # the torch-free ONNX runtime (clipzoo.onnx)
    "ArgumentError": "validate",
    "ArgumentTypeError": "validate",
    "UnknownArgumentError": "validate",
    "ImageReadError": "images",
    "ImageNotFoundError": "images",
    "ImageTooLargeError": "images",
    # tokenizers
    "SimpleTokenizer": "tokenizers",
    "tokenize": "tokenizers",
    "decode": "tokenizers",
    "HFTokenizer": "tokenizers",
    "SigLipTokenizer": "tokenizers",
    # models
    "CLIP": "models",
    "CustomTextCLIP": "models",
    "CoCa": "models",
    "convert_weights_to_lp": "models",
    "get_cast_dtype": "models",
    "get_input_dtype": "models",
    # preprocessing
    "PreprocessCfg": "transforms",
    "AugmentationCfg": "transforms",
    "image_transform": "transforms",
    "image_transform_v2": "transforms",
    "merge_preprocess_dict": "transforms",
    "merge_preprocess_kwargs": "transforms",
    "preprocess_batch": "batch",
    "BatchItemError": "batch",
    # factory
    "create_model": "factory",
    "create_model_and_transforms": "factory",
    "create_model_from_pretrained": "factory",
    "get_tokenizer": "factory",
    "get_model_preprocess_cfg": "factory",
    "set_model_preprocess_cfg": "factory",
    "get_model_tokenize_cfg": "models",
    # CPU inference paths chosen from the hardware (bf16 on AMX/AVX512-BF16, int8, fp32)
    "optimize_for_inference": "inference.optimize",
    "detect_cpu_features": "inference.cpu_features",
    "InferencePathError": "inference.paths",
    # losses and zero-shot
    "ClipLoss": "loss",
    "SigLipLoss": "loss",
    "CoCaLoss": "loss",
    "DistillClipLoss": "loss",
    "create_loss": "loss",
    "build_zero_shot_classifier": "zero_shot",
    "zero_shot_classify": "zero_shot",
    "IMAGENET_CLASSNAMES": "zero_shot_metadata",
    "OPENAI_IMAGENET_TEMPLATES": "zero_shot_metadata",
    "SIMPLE_IMAGENET_TEMPLATES": "zero_shot_metadata",
    # open_clip alias (import open_clip -> clipzoo)
    "install_as_open_clip": "open_clip_compat",
    "OpenClipConflictError": "open_clip_compat",
    # constants
    "OPENAI_DATASET_MEAN": "constants",
    "OPENAI_DATASET_STD": "constants",
    "IMAGENET_MEAN": "constants",
    "IMAGENET_STD": "constants",
    "INCEPTION_MEAN": "constants",
    "INCEPTION_STD": "constants",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'clipzoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

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
    "list_models": "registry.architectures",
    "get_model_config": "registry.architectures",
    "add_model_config": "registry.architectures",
    "UnknownModelError": "registry.architectures",
    "ConfigError": "registry.config",
    # pretrained tags
    "normalize_tag": "registry.tags",
    "list_pretrained": "registry.tags",
    "list_pretrained_tags_by_model": "registry.tags",
    "list_pretrained_models_by_tag": "registry.tags",
    "is_pretrained_cfg": "registry.tags",
    "get_pretrained_cfg": "registry.tags",
    "get_pretrained_url": "registry.tags",
    "add_pretrained_cfg": "registry.tags",
    "UnknownTagError": "registry.tags",
    # published results, cost, ranking
    "get_pretrained_results": "registry.results",
    "get_model_profile": "registry.results",
    "rank_pretrained": "registry.results",
    "list_metrics": "registry.results",
    "model_family": "registry.results",
    "UnknownMetricError": "registry.results",
    "ProfileNotFoundError": "registry.results",
    "plot_pretrained": "registry.plot",
    "PlotDependencyError": "registry.plot",
    # weights
    "download_pretrained": "hub.pretrained",
    "download_pretrained_from_url": "hub.url",
    "download_pretrained_from_hf": "hub.hf",
    "DownloadError": "hub.errors",
    "OfflineError": "hub.errors",
    "NotFoundError": "hub.errors",
    "ChecksumError": "hub.errors",
    "DownloadTimeoutError": "hub.errors",
    "load_checkpoint": "checkpoint.load",
    "load_state_dict": "checkpoint.load",
    "CheckpointError": "errors",
    "export_model": "export.writers",
    "save_model_folder": "export.folder",
    "ExportError": "export.folder",
    "ExportBusyError": "export.folder",
    "ExportTargetError": "export.folder",
    "push_pretrained_to_hf_hub": "compat.open_clip.push_to_hf_hub",
    "push_to_hf_hub": "compat.open_clip.push_to_hf_hub",
    "OnnxModel": "onnx",  # the torch-free ONNX runtime (clipzoo.onnx)
    "ArgumentError": "factory.arguments",
    "ArgumentTypeError": "factory.arguments",
    "UnknownArgumentError": "factory.arguments",
    "ImageReadError": "preprocess.images",
    "ImageNotFoundError": "preprocess.images",
    "ImageTooLargeError": "preprocess.images",
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
    "convert_weights_to_fp16": "models",
    "trace_model": "models.jit",
    "CLIPVisionCfg": "compat.open_clip.cfg",
    "CLIPTextCfg": "compat.open_clip.cfg",
    "load_openai_model": "compat.open_clip.openai",
    "list_openai_models": "compat.open_clip.openai",
    # preprocessing
    "PreprocessCfg": "preprocess.transforms",
    "AugmentationCfg": "preprocess.transforms",
    "image_transform": "preprocess.transforms",
    "image_transform_v2": "preprocess.transforms",
    "merge_preprocess_dict": "preprocess.transforms",
    "merge_preprocess_kwargs": "preprocess.transforms",
    "preprocess_batch": "preprocess.batch",
    "BatchItemError": "preprocess.batch",
    # factory
    "create_model": "factory.create",
    "create_model_and_transforms": "factory.create",
    "create_model_from_pretrained": "factory.create",
    "get_tokenizer": "factory.tokenizer",
    "get_model_preprocess_cfg": "factory.preprocess_cfg",
    "set_model_preprocess_cfg": "factory.preprocess_cfg",
    "get_model_tokenize_cfg": "models",
    # CPU inference paths chosen from the hardware (bf16 on AMX/AVX512-BF16, int8, fp32)
    "optimize_for_inference": "inference.optimize",
    "detect_cpu_features": "inference.cpu_features",
    "InferencePathError": "inference.paths",
    # losses and zero-shot
    "ClipLoss": "training.loss",
    "SigLipLoss": "training.loss",
    "CoCaLoss": "training.loss",
    "DistillClipLoss": "training.loss",
    "create_loss": "training.loss",
    "build_zero_shot_classifier": "zero_shot.classifier",
    "zero_shot_classify": "zero_shot.classifier",
    "build_zero_shot_classifier_legacy": "compat.open_clip.zero_shot_legacy",
    "IMAGENET_CLASSNAMES": "zero_shot.imagenet",
    "OPENAI_IMAGENET_TEMPLATES": "zero_shot.imagenet",
    "SIMPLE_IMAGENET_TEMPLATES": "zero_shot.imagenet",
    # open_clip alias (import open_clip -> clipzoo)
    "install_as_open_clip": "compat.open_clip.alias",
    "OpenClipConflictError": "compat.open_clip.alias",
    # corpus embedding and search (clip-retrieval's layout)
    "embed": "corpus.run",
    "EmbedSummary": "corpus.run",
    "search": "corpus.search",
    "SearchHit": "corpus.search",
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

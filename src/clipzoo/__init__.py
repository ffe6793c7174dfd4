"""clipzoo: CLIP-family vision-language models (CLIP, SigLIP, CoCa), open_clip-compatible, lazy to import.

``import clipzoo`` and the registry functions never import torch, torchvision, timm or transformers; every
public name is resolved from its module on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # architecture registry
    "list_models": "registry.architectures",
    "get_model_config": "registry.architectures",
    "add_model_config": "registry.architectures",
    # pretrained tags
    "normalize_tag": "registry.tags",
    "list_pretrained": "registry.tags",
    "list_pretrained_tags_by_model": "registry.tags",
    "list_pretrained_models_by_tag": "registry.tags",
    "is_pretrained_cfg": "registry.tags",
    "get_pretrained_cfg": "registry.tags",
    "get_pretrained_url": "registry.tags",
    "add_pretrained_cfg": "registry.tags",
    # published results, cost, ranking
    "get_pretrained_results": "registry.results",
    "get_model_profile": "registry.results",
    "rank_pretrained": "registry.results",
    "list_metrics": "registry.results",
    "model_family": "registry.results",
    "plot_pretrained": "registry.plot",
    # weights
    "download_pretrained": "hub.pretrained",
    "download_pretrained_from_url": "hub.url",
    "download_pretrained_from_hf": "hub.hf",
    "load_checkpoint": "checkpoint.load",
    "load_state_dict": "checkpoint.load",
    "export_model": "export.writers",
    "save_model_folder": "export.folder",
    "push_pretrained_to_hf_hub": "compat.open_clip.push_to_hf_hub",
    "push_to_hf_hub": "compat.open_clip.push_to_hf_hub",
    "OnnxModel": "onnx",  # the torch-free ONNX runtime (clipzoo.onnx)
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
    # corpus embedding and search (clip-retrieval's layout)
    "embed": "corpus.run",
    "EmbedSummary": "corpus.run",
    "search": "corpus.search",
    "SearchHit": "corpus.search",
    # errors: every one a caller catches, from clipzoo.errors (one category each; former names kept)
    "ArgumentError": "errors",
    "ArgumentTypeError": "errors",
    "AudioError": "errors",
    "AudioInputError": "errors",
    "AudioNotFoundError": "errors",
    "BatchItemError": "errors",
    "CaptioningUnsupportedError": "errors",
    "CheckpointError": "errors",
    "ChecksumError": "errors",
    "ClipzooError": "errors",
    "ConfigError": "errors",
    "DemoError": "errors",
    "DownloadError": "errors",
    "DownloadTimeoutError": "errors",
    "EmbedOptionError": "errors",
    "ExportBusyError": "errors",
    "ExportError": "errors",
    "ExportTargetError": "errors",
    "FolderConfigError": "errors",
    "ForeignOutputError": "errors",
    "GenerationArgumentError": "errors",
    "ImageNotFoundError": "errors",
    "ImageReadError": "errors",
    "ImageSizeError": "errors",
    "ModelTooLargeError": "errors",
    "ImageTooLargeError": "errors",
    "InferencePathError": "errors",
    "InputError": "errors",
    "IntegrityError": "errors",
    "IntermediatesError": "errors",
    "JitFallbackWarning": "errors",
    "LockBusyError": "errors",
    "MissingFolderConfigError": "errors",
    "MissingWeightsError": "errors",
    "NaFlexConfigError": "errors",
    "NaFlexInputError": "errors",
    "NetworkError": "errors",
    "NotAPythonProgramError": "errors",
    "NotFoundError": "errors",
    "OfflineError": "errors",
    "OnnxExportError": "errors",
    "OnnxFolderError": "errors",
    "OnnxInputError": "errors",
    "OnnxRuntimeMissingError": "errors",
    "OpenAIModelNotFoundError": "errors",
    "OpenClipChecksumError": "errors",
    "OpenClipConflictError": "errors",
    "OutputPathError": "errors",
    "PixelLimitError": "errors",
    "PlotDependencyError": "errors",
    "PretrainedNotFoundError": "errors",
    "ProfileNotFoundError": "errors",
    "ProgramNotFoundError": "errors",
    "SourceError": "errors",
    "UnknownArgumentError": "errors",
    "UnknownMetricError": "errors",
    "UnknownModelError": "errors",
    "UnknownNameError": "errors",
    "UnknownRepoError": "errors",
    "UnknownTagError": "errors",
    "UnsafeTargetError": "errors",
    "UnsupportedArchitectureError": "errors",
    "UnsupportedOptionError": "errors",
    "ZeroShotInputError": "errors",
    # constants
    "OPENAI_DATASET_MEAN": "constants",
    "OPENAI_DATASET_STD": "constants",
    "IMAGENET_MEAN": "constants",
    "IMAGENET_STD": "constants",
    "INCEPTION_MEAN": "constants",
    "INCEPTION_STD": "constants",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

# The same names, imported for type checkers and editors only (never at run time, which stays lazy and
# torch-free): signatures, completion and docstrings of every public name; ``name as name`` marks each one as
# re-exported. tests/test_package_typing.py keeps this block equal to _EXPORTS (and prints the block to paste).
if TYPE_CHECKING:
    from .checkpoint.load import load_checkpoint as load_checkpoint
    from .checkpoint.load import load_state_dict as load_state_dict
    from .compat.open_clip.alias import install_as_open_clip as install_as_open_clip
    from .compat.open_clip.cfg import CLIPTextCfg as CLIPTextCfg
    from .compat.open_clip.cfg import CLIPVisionCfg as CLIPVisionCfg
    from .compat.open_clip.openai import list_openai_models as list_openai_models
    from .compat.open_clip.openai import load_openai_model as load_openai_model
    from .compat.open_clip.push_to_hf_hub import push_pretrained_to_hf_hub as push_pretrained_to_hf_hub
    from .compat.open_clip.push_to_hf_hub import push_to_hf_hub as push_to_hf_hub
    from .compat.open_clip.zero_shot_legacy import (
        build_zero_shot_classifier_legacy as build_zero_shot_classifier_legacy,
    )
    from .constants import IMAGENET_MEAN as IMAGENET_MEAN
    from .constants import IMAGENET_STD as IMAGENET_STD
    from .constants import INCEPTION_MEAN as INCEPTION_MEAN
    from .constants import INCEPTION_STD as INCEPTION_STD
    from .constants import OPENAI_DATASET_MEAN as OPENAI_DATASET_MEAN
    from .constants import OPENAI_DATASET_STD as OPENAI_DATASET_STD
    from .corpus.run import EmbedSummary as EmbedSummary
    from .corpus.run import embed as embed
    from .corpus.search import SearchHit as SearchHit
    from .corpus.search import search as search
    from .errors import ArgumentError as ArgumentError
    from .errors import ArgumentTypeError as ArgumentTypeError
    from .errors import AudioError as AudioError
    from .errors import AudioInputError as AudioInputError
    from .errors import AudioNotFoundError as AudioNotFoundError
    from .errors import BatchItemError as BatchItemError
    from .errors import CaptioningUnsupportedError as CaptioningUnsupportedError
    from .errors import CheckpointError as CheckpointError
    from .errors import ChecksumError as ChecksumError
    from .errors import ClipzooError as ClipzooError
    from .errors import ConfigError as ConfigError
    from .errors import DemoError as DemoError
    from .errors import DownloadError as DownloadError
    from .errors import DownloadTimeoutError as DownloadTimeoutError
    from .errors import EmbedOptionError as EmbedOptionError
    from .errors import ExportBusyError as ExportBusyError
    from .errors import ExportError as ExportError
    from .errors import ExportTargetError as ExportTargetError
    from .errors import FolderConfigError as FolderConfigError
    from .errors import ForeignOutputError as ForeignOutputError
    from .errors import GenerationArgumentError as GenerationArgumentError
    from .errors import ImageNotFoundError as ImageNotFoundError
    from .errors import ImageReadError as ImageReadError
    from .errors import ImageSizeError as ImageSizeError
    from .errors import ImageTooLargeError as ImageTooLargeError
    from .errors import InferencePathError as InferencePathError
    from .errors import InputError as InputError
    from .errors import IntegrityError as IntegrityError
    from .errors import IntermediatesError as IntermediatesError
    from .errors import JitFallbackWarning as JitFallbackWarning
    from .errors import LockBusyError as LockBusyError
    from .errors import MissingFolderConfigError as MissingFolderConfigError
    from .errors import MissingWeightsError as MissingWeightsError
    from .errors import ModelTooLargeError as ModelTooLargeError
    from .errors import NaFlexConfigError as NaFlexConfigError
    from .errors import NaFlexInputError as NaFlexInputError
    from .errors import NetworkError as NetworkError
    from .errors import NotAPythonProgramError as NotAPythonProgramError
    from .errors import NotFoundError as NotFoundError
    from .errors import OfflineError as OfflineError
    from .errors import OnnxExportError as OnnxExportError
    from .errors import OnnxFolderError as OnnxFolderError
    from .errors import OnnxInputError as OnnxInputError
    from .errors import OnnxRuntimeMissingError as OnnxRuntimeMissingError
    from .errors import OpenAIModelNotFoundError as OpenAIModelNotFoundError
    from .errors import OpenClipChecksumError as OpenClipChecksumError
    from .errors import OpenClipConflictError as OpenClipConflictError
    from .errors import OutputPathError as OutputPathError
    from .errors import PixelLimitError as PixelLimitError
    from .errors import PlotDependencyError as PlotDependencyError
    from .errors import PretrainedNotFoundError as PretrainedNotFoundError
    from .errors import ProfileNotFoundError as ProfileNotFoundError
    from .errors import ProgramNotFoundError as ProgramNotFoundError
    from .errors import SourceError as SourceError
    from .errors import UnknownArgumentError as UnknownArgumentError
    from .errors import UnknownMetricError as UnknownMetricError
    from .errors import UnknownModelError as UnknownModelError
    from .errors import UnknownNameError as UnknownNameError
    from .errors import UnknownRepoError as UnknownRepoError
    from .errors import UnknownTagError as UnknownTagError
    from .errors import UnsafeTargetError as UnsafeTargetError
    from .errors import UnsupportedArchitectureError as UnsupportedArchitectureError
    from .errors import UnsupportedOptionError as UnsupportedOptionError
    from .errors import ZeroShotInputError as ZeroShotInputError
    from .export.folder import save_model_folder as save_model_folder
    from .export.writers import export_model as export_model
    from .factory.create import create_model as create_model
    from .factory.create import create_model_and_transforms as create_model_and_transforms
    from .factory.create import create_model_from_pretrained as create_model_from_pretrained
    from .factory.preprocess_cfg import get_model_preprocess_cfg as get_model_preprocess_cfg
    from .factory.preprocess_cfg import set_model_preprocess_cfg as set_model_preprocess_cfg
    from .factory.tokenizer import get_tokenizer as get_tokenizer
    from .hub.hf import download_pretrained_from_hf as download_pretrained_from_hf
    from .hub.pretrained import download_pretrained as download_pretrained
    from .hub.url import download_pretrained_from_url as download_pretrained_from_url
    from .inference.cpu_features import detect_cpu_features as detect_cpu_features
    from .inference.optimize import optimize_for_inference as optimize_for_inference
    from .models import CLIP as CLIP
    from .models import CoCa as CoCa
    from .models import CustomTextCLIP as CustomTextCLIP
    from .models import convert_weights_to_fp16 as convert_weights_to_fp16
    from .models import convert_weights_to_lp as convert_weights_to_lp
    from .models import get_cast_dtype as get_cast_dtype
    from .models import get_input_dtype as get_input_dtype
    from .models import get_model_tokenize_cfg as get_model_tokenize_cfg
    from .models.jit import trace_model as trace_model
    from .onnx import OnnxModel as OnnxModel
    from .preprocess.batch import preprocess_batch as preprocess_batch
    from .preprocess.transforms import AugmentationCfg as AugmentationCfg
    from .preprocess.transforms import PreprocessCfg as PreprocessCfg
    from .preprocess.transforms import image_transform as image_transform
    from .preprocess.transforms import image_transform_v2 as image_transform_v2
    from .preprocess.transforms import merge_preprocess_dict as merge_preprocess_dict
    from .preprocess.transforms import merge_preprocess_kwargs as merge_preprocess_kwargs
    from .registry.architectures import add_model_config as add_model_config
    from .registry.architectures import get_model_config as get_model_config
    from .registry.architectures import list_models as list_models
    from .registry.plot import plot_pretrained as plot_pretrained
    from .registry.results import get_model_profile as get_model_profile
    from .registry.results import get_pretrained_results as get_pretrained_results
    from .registry.results import list_metrics as list_metrics
    from .registry.results import model_family as model_family
    from .registry.results import rank_pretrained as rank_pretrained
    from .registry.tags import add_pretrained_cfg as add_pretrained_cfg
    from .registry.tags import get_pretrained_cfg as get_pretrained_cfg
    from .registry.tags import get_pretrained_url as get_pretrained_url
    from .registry.tags import is_pretrained_cfg as is_pretrained_cfg
    from .registry.tags import list_pretrained as list_pretrained
    from .registry.tags import list_pretrained_models_by_tag as list_pretrained_models_by_tag
    from .registry.tags import list_pretrained_tags_by_model as list_pretrained_tags_by_model
    from .registry.tags import normalize_tag as normalize_tag
    from .tokenizers import HFTokenizer as HFTokenizer
    from .tokenizers import SigLipTokenizer as SigLipTokenizer
    from .tokenizers import SimpleTokenizer as SimpleTokenizer
    from .tokenizers import decode as decode
    from .tokenizers import tokenize as tokenize
    from .training.loss import ClipLoss as ClipLoss
    from .training.loss import CoCaLoss as CoCaLoss
    from .training.loss import DistillClipLoss as DistillClipLoss
    from .training.loss import SigLipLoss as SigLipLoss
    from .training.loss import create_loss as create_loss
    from .zero_shot.classifier import build_zero_shot_classifier as build_zero_shot_classifier
    from .zero_shot.classifier import zero_shot_classify as zero_shot_classify
    from .zero_shot.imagenet import IMAGENET_CLASSNAMES as IMAGENET_CLASSNAMES
    from .zero_shot.imagenet import OPENAI_IMAGENET_TEMPLATES as OPENAI_IMAGENET_TEMPLATES
    from .zero_shot.imagenet import SIMPLE_IMAGENET_TEMPLATES as SIMPLE_IMAGENET_TEMPLATES


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'clipzoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

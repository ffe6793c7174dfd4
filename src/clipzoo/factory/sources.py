"""Where a model comes from, torch-free: a registry name, ``hf-hub:org/repo`` or ``local-dir:PATH``.

:func:`parse_model_name` is the one parser of those prefixes (the factory, the tokenizers and the CLI all use
it); :func:`read_folder_config` reads the config of an exported clipzoo/open_clip folder or a transformers
CLIP/SigLIP folder; :func:`folder_model` finds the config, preprocessing, tokenizer and weights file names of a
local folder or Hub repo. Only configs are fetched here: weights are fetched by whoever loads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import HF_CONFIG_NAME
from ..errors import (
    FolderConfigError,
    MissingFolderConfigError,
    UnknownRepoError,
)

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
SCHEMAS = {"hf-hub": HF_HUB_PREFIX, "local-dir": LOCAL_DIR_PREFIX}

# Checkpoint names looked for in a folder, best first (as open_clip and transformers save them).
FOLDER_CHECKPOINTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)


def parse_model_name(model_name: str) -> tuple[str | None, str]:
    """Split a model name into its schema and identifier, as open_clip's ``parse_model_name`` does.

    Args:
        model_name: ``'ViT-B-32'``, ``'hf-hub:org/repo'`` or ``'local-dir:/path/to/folder'``.

    Returns:
        ``(schema, identifier)``: schema is ``'hf-hub'``, ``'local-dir'`` or None for a registry name.

    Raises:
        TypeError: ``model_name`` is not a string.
        ValueError: a schema prefix with nothing after it.
    """
    if not isinstance(model_name, str):
        raise TypeError(
            f"model_name must be a string such as 'ViT-B-32', 'hf-hub:org/repo' or 'local-dir:PATH', "
            f"got {type(model_name).__name__} {model_name!r}"
        )
    for schema, prefix in SCHEMAS.items():
        if model_name.startswith(prefix):
            identifier = model_name[len(prefix) :]
            if not identifier:
                what = "a repo id, e.g. hf-hub:org/repo" if schema == "hf-hub" else "a folder path"
                raise ValueError(f"{model_name!r}: nothing after {prefix!r}; expected {what}")
            return schema, identifier
    return None, model_name


def find_checkpoint_in_dir(folder: Path) -> Path | None:
    """The best checkpoint file in ``folder`` (open_clip's names first, then transformers'), or None."""
    for name in FOLDER_CHECKPOINTS:
        if (folder / name).is_file():
            return folder / name
    # sharded transformers weights (their index), or a CLIP vision + text pair (the folder itself)
    from ..formats import transformers_config

    for name in transformers_config.HF_SHARD_INDEXES:
        if (folder / name).is_file():
            return folder / name
    return folder if transformers_config.is_hf_folder(folder) and transformers_config.hf_pair_folders(folder) else None


def read_folder_config(folder: Path, tokenizer_source: str | None = None) -> tuple[dict, dict]:
    """(model_cfg, preprocess_cfg) of a model folder: an exported clipzoo/open_clip folder
    (``open_clip_config.json``) or a transformers CLIP/SigLIP folder (``config.json``, converted).

    ``tokenizer_source`` (the folder or Hub repo) becomes the HF tokenizer of converted transformers configs.

    Raises:
        FolderConfigError: no readable config in the folder.
    """
    from ..formats import transformers_config

    folder = Path(folder)
    config_path = folder / HF_CONFIG_NAME
    if not config_path.is_file():
        if transformers_config.is_hf_folder(folder):
            return transformers_config.read_hf_folder_config(folder, tokenizer_source or str(folder))
        from ..onnx.manifest import is_onnx_folder

        if is_onnx_folder(folder):
            raise FolderConfigError(
                f"{folder} is an ONNX export (clipzoo_onnx.json), not a torch model folder: load it with "
                f"clipzoo.OnnxModel({str(folder)!r}) or `clipzoo classify --onnx {folder} ...`"
            )
        raise MissingFolderConfigError(
            f"{folder}: no {HF_CONFIG_NAME} (an exported clipzoo/open_clip folder) and no transformers "
            f"{transformers_config.HF_CONFIG_FILE} with a model_type"
        )
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FolderConfigError(f"{config_path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or "model_cfg" not in data:
        keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise FolderConfigError(f"{config_path}: missing 'model_cfg' (found: {keys})")
    preprocess = dict(data.get("preprocess_cfg") or {})
    for key in ("mean", "std", "size"):  # JSON has no tuples; the rest of clipzoo (and the tags) use them
        if isinstance(preprocess.get(key), list):
            preprocess[key] = tuple(preprocess[key])
    return data["model_cfg"], preprocess


@dataclass
class FolderModel:
    """What a local folder or Hub repo holds: configs, where its tokenizer is, which weights file(s) to load.

    ``weights_path`` is set for local folders (None: the folder has no checkpoint); ``weights_files`` names
    the Hub files to try in order (empty: the Hub's default open_clip weights names).
    """

    schema: str
    identifier: str
    model_cfg: dict[str, Any]
    preprocess_cfg: dict[str, Any]
    tokenizer_source: str
    weights_path: str | None = None
    weights_files: tuple[str, ...] = ()


def folder_model(schema: str, identifier: str, cache_dir: str | None = None) -> FolderModel:
    """Read the configs of ``local-dir:`` folder or ``hf-hub:`` repo ``identifier`` (Hub configs are fetched).

    Raises:
        FileNotFoundError: a local folder that does not exist.
        FolderConfigError: a folder without a readable config.
        UnknownRepoError: a Hub repo with neither an open_clip nor a transformers config.
        clipzoo.hub.errors.DownloadError: the Hub could not be reached (OfflineError when offline without a cache).
    """
    if schema == "local-dir":
        folder = Path(identifier).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"local-dir:{identifier}: no such directory")
        model_cfg, preprocess = read_folder_config(folder)
        checkpoint = find_checkpoint_in_dir(folder)
        return FolderModel(
            schema, identifier, model_cfg, preprocess, str(folder), str(checkpoint) if checkpoint else None
        )
    if schema == "hf-hub":
        return _hub_model(identifier, cache_dir)
    raise ValueError(f"unknown model source schema {schema!r}; expected one of {', '.join(SCHEMAS)}")


def _hub_model(repo_id: str, cache_dir: str | None) -> FolderModel:
    from ..formats import transformers_config
    from ..hub.errors import NotFoundError, OfflineError
    from ..hub.hf import download_pretrained_from_hf

    try:
        config = download_pretrained_from_hf(repo_id, filename=HF_CONFIG_NAME, cache_dir=cache_dir)
        model_cfg, preprocess = read_folder_config(Path(config).parent, tokenizer_source=repo_id)
        return FolderModel("hf-hub", repo_id, model_cfg, preprocess, repo_id)
    except (NotFoundError, OfflineError) as open_clip_err:
        # Offline, a cached transformers repo has config.json but no open_clip_config.json: try it too.
        try:
            config = download_pretrained_from_hf(
                repo_id, filename=transformers_config.HF_CONFIG_FILE, cache_dir=cache_dir
            )
        except (NotFoundError, OfflineError) as hf_err:
            if isinstance(open_clip_err, OfflineError):
                raise open_clip_err from None
            raise UnknownRepoError(
                f"hf-hub:{repo_id} is neither an open_clip repo ({open_clip_err}) nor a transformers "
                f"CLIP/SigLIP repo ({hf_err})"
            ) from hf_err
    # optional: without either the converted config keeps the model type's default preprocessing
    for name in (transformers_config.HF_PREPROCESSOR_FILE, transformers_config.HF_PROCESSOR_FILE):
        try:
            download_pretrained_from_hf(repo_id, filename=name, cache_dir=cache_dir)
            break
        except NotFoundError:
            continue  # transformers 5 keeps the image processor's settings in processor_config.json
    model_cfg, preprocess = read_folder_config(Path(config).parent, tokenizer_source=repo_id)
    return FolderModel(
        "hf-hub", repo_id, model_cfg, preprocess, repo_id, weights_files=tuple(transformers_config.HF_WEIGHT_FILES)
    )

"""``clipzoo download MODEL [TAG]``: fetch and verify pretrained weights, and the tokenizer files the model
fetches from the Hub, into the cache (torch-free)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile

from .common import CliError, add_cache_dir, add_model_command, check_model, check_tag


def _registry_files(model: str, tag: str | None, cache_dir: str | None, progress: bool) -> list[str]:
    from ..hub.pretrained import download_pretrained
    from ..registry import tags as pretrained

    check_model(model)
    if not tag:
        known = ", ".join(pretrained.list_pretrained_tags_by_model(model)) or "none"
        raise CliError(f"{model} needs a pretrained tag; known tags: {known}")
    check_tag(model, tag)
    cfg = pretrained.get_pretrained_cfg(model, tag)
    weights = download_pretrained(cfg, cache_dir=cache_dir, progress=progress, model_name=model, tag=tag)
    return [*_tokenizer_files(model, cache_dir), weights]


def _tokenizer_files(model: str, cache_dir: str | None) -> list[str]:
    """The tokenizer files a registry model fetches from the Hub (its ``text_cfg.hf_tokenizer_name``), so that
    ``get_tokenizer`` works offline afterwards; none for CLIP's packaged BPE."""
    from ..registry import architectures as registry
    from ..tokenizers.hf import TOKENIZER_FILES, resolve_tokenizer_dir

    name = ((registry.get_model_config(model) or {}).get("text_cfg") or {}).get("hf_tokenizer_name")
    if not name or os.path.isdir(os.path.expanduser(name)):
        return []
    folder = resolve_tokenizer_dir(name, cache_dir)
    return [str(folder / f) for f in TOKENIZER_FILES if (folder / f).is_file()]


def _hub_files(model: str, repo: str, tag: str | None, cache_dir: str | None) -> list[str]:
    """Config and weights of an ``hf-hub:org/repo`` model (open_clip layout, else transformers layout)."""
    from ..constants import HF_CONFIG_NAME
    from ..factory.sources import UnknownRepoError
    from ..formats import transformers_config
    from ..hub.errors import NotFoundError
    from ..hub.hf import download_pretrained_from_hf

    if tag:
        raise CliError(f"{model} takes no pretrained tag (got {tag!r}); run `clipzoo download {model}`")
    layouts = ((HF_CONFIG_NAME, (None,)), (transformers_config.HF_CONFIG_FILE, transformers_config.HF_WEIGHT_FILES))
    errors = []
    for config_name, weight_names in layouts:
        try:
            config = download_pretrained_from_hf(repo, config_name, cache_dir=cache_dir, model_name=model)
        except NotFoundError as err:
            errors.append(str(err))
            continue
        for weights_name in weight_names:
            try:
                weights = download_pretrained_from_hf(
                    repo, weights_name, cache_dir=cache_dir, model_name=model
                )
                return [config, weights]
            except NotFoundError as err:
                errors.append(str(err))
    raise UnknownRepoError(f"unknown model {model}: {'; '.join(errors)}")


def copy_into(path: str, folder: str) -> str:
    """Copy ``path`` (following the HF cache's symlinks) into ``folder`` atomically; return the new path."""
    os.makedirs(folder, exist_ok=True)
    destination = os.path.join(folder, os.path.basename(path))
    source = os.path.realpath(path)
    if os.path.exists(destination) and os.path.samefile(source, destination):
        return destination
    fd, part = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, part)
        os.replace(part, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        raise
    return destination


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch the files of MODEL/TAG; print the local path of the weights (or of their copy in ``--to``)."""
    from ..factory.sources import parse_model_name

    schema, identifier = parse_model_name(args.model)
    if schema == "hf-hub":
        paths = _hub_files(args.model, identifier, args.tag, args.cache_dir)
    elif schema == "local-dir":
        raise CliError(f"{args.model} is a local folder: there is nothing to download")
    else:
        paths = _registry_files(args.model, args.tag, args.cache_dir, not args.no_progress)
    if args.to:
        paths = [copy_into(path, args.to) for path in paths]
    print(paths[-1])
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``download``."""
    parser = add_model_command(
        sub,
        "download",
        tag_help="pretrained tag (not used with hf-hub: models)",
        model_help="architecture name (see `clipzoo models`) or hf-hub:org/repo",
        help="fetch pretrained weights into the cache",
        description="Fetch a model's pretrained weights (verified) into the cache and print the local path. "
        "Exit status: 0 ok, 2 unknown model or tag, 3 network or offline error, 4 checksum mismatch.",
    )
    add_cache_dir(parser)
    parser.add_argument("--to", metavar="DIR", help="also copy the file(s) into DIR and print that path")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_download)

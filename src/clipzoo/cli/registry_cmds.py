"""``clipzoo models``, ``clipzoo pretrained`` and ``clipzoo info``: the registry, answered without torch."""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
from typing import Any

from .common import CliError, add_json, add_model_command, check_model, check_tag, emit, is_glob, match_models


def _modality_column(names: list[str]) -> dict[str, str]:
    """Each name's modality (``image-text`` / ``audio-text``), for the column the listings print."""
    from ..registry import architectures as registry

    return {name: registry.model_modality(name) for name in names}


def cmd_models(args: argparse.Namespace) -> int:
    """List architectures with their modality, optionally filtered by a glob pattern and a modality."""
    from ..registry import architectures as registry

    names = registry.list_models()
    if args.pattern:
        match_models(args.pattern)  # nothing matches: say so, with the whole-name hint
        names = [n for n in names if fnmatch.fnmatch(n.lower(), args.pattern.lower())]
    modality = _modality_column(names)
    if args.modality:
        names = [n for n in names if modality[n] == args.modality]
    width = max((len(n) for n in names), default=0)
    return emit(args, names, lambda: "\n".join(f"{n:<{width}}  {modality[n]}" for n in names))


def cmd_pretrained(args: argparse.Namespace) -> int:
    """List (model, tag) pairs, optionally for one model and/or one tag; rank or plot them with --sort/--plot."""
    from ..registry import tags
    from .choose import cmd_rank_or_plot, wants_ranking

    if wants_ranking(args):
        return cmd_rank_or_plot(args)

    models = None
    if args.model and is_glob(args.model):
        models = set(match_models(args.model))
    elif args.model:
        check_model(args.model)
        models = {args.model}
    if args.model and args.tag and not is_glob(args.model):
        check_tag(args.model, args.tag)
    key = tags.normalize_tag(args.tag) if args.tag else None
    pairs = [
        (m, t)
        for m, t in tags.list_pretrained()
        if (models is None or m in models) and (key is None or tags.normalize_tag(t) == key)
    ]
    if args.tag and not pairs:
        raise CliError(f"no model has pretrained tag {args.tag!r}; see `clipzoo pretrained` for all tags")
    modality = _modality_column(sorted({m for m, _ in pairs}))
    data = [{"model": m, "tag": t, "modality": modality[m]} for m, t in pairs]
    width = max((len(m) for m, _ in pairs), default=0)
    tag_width = max((len(t) for _, t in pairs), default=0)
    return emit(
        args, data, lambda: "\n".join(f"{m:<{width}}  {t:<{tag_width}}  {modality[m]}" for m, t in pairs)
    )


def _registry_info(model: str, tag: str | None, params: bool) -> dict:
    from ..registry import architectures as registry
    from ..registry import tags

    data: dict = {"model": model, "modality": registry.model_modality(model), "config": registry.get_model_config(model)}
    source = registry.get_config_source(model)
    data["config_file"] = str(source) if source else None
    data["pretrained_tags"] = tags.list_pretrained_tags_by_model(model)
    if tag is not None:
        data["tag"] = tags.get_typed_pretrained_cfg(model, tag).tag
        data["pretrained_cfg"] = tags.get_pretrained_cfg(model, tag)
    if params:
        from ..factory.summary import buildable_offline, ordered_counts, parameter_summary

        # A remote Hugging Face text tower cannot be counted without the Hub; its profile (below) has
        # open_clip's published numbers instead.
        if buildable_offline(model):
            data["parameters"] = ordered_counts(parameter_summary(model))
    from .choose import info_data

    data.update(info_data(model, tag))
    return data


def _source_info(model: str, tag: str | None, params: bool) -> dict:
    """``hf-hub:``/``local-dir:`` models: what the folder or repo holds (configs are read, weights are not), and
    with ``params`` the parameters and cost: a built-in architecture's stored profile when the config is one,
    else counted on the meta device."""
    from ..factory.sources import parse_model_name
    from ..onnx.manifest import is_onnx_folder

    schema, path = parse_model_name(model)
    if schema == "local-dir" and is_onnx_folder(path):
        return _onnx_info(model, path, params)
    from ..factory.resolve import resolve

    spec = resolve(model, tag)
    data: dict[str, Any] = {
        "model": model,
        "modality": spec.model_cfg.modality,
        "config": spec.model_cfg.to_dict(),
        "config_file": None,
        "weights": spec.weights.describe() if spec.weights else None,
        "preprocess_cfg": spec.preprocess_cfg,
        "pretrained_tags": [],
    }
    if params and not spec.model_cfg.uses_hf_text:
        data.update(_cost(spec.model_cfg, lambda: _counted(spec.model_cfg)))
    return data


def _counted(model_cfg) -> dict:
    from ..factory.summary import cfg_profile

    return cfg_profile(model_cfg)


def _cost(model_cfg, count) -> dict:
    """``parameters`` and ``profile``: a registered twin's stored profile, else ``count()``."""
    from ..factory.summary import ordered_counts, registry_twin
    from .choose import info_data

    twin = registry_twin(model_cfg)
    profile = info_data(twin, None)["profile"] if twin else None
    if profile is not None:
        profile["note"] = "; ".join(filter(None, [f"the architecture of {twin}", profile.get("note")]))
    else:
        profile = count()
    return {"parameters": ordered_counts(profile["params"]), "profile": profile}


def _onnx_info(model: str, folder: str, params: bool) -> dict:
    """An ONNX export: its manifest, and the parameters its two graphs hold (read with onnx, no torch)."""
    from ..onnx.manifest import read_manifest

    manifest = read_manifest(folder)
    data: dict = {"model": model, "config": manifest, "config_file": None, "weights": f"onnx {folder}",
                  "pretrained_tags": []}  # fmt: skip
    if params:
        data["parameters"] = _onnx_parameters(folder, manifest)
    return data


def _onnx_parameters(folder: str, manifest: dict) -> dict[str, int]:
    """Numbers stored in each graph's initializers (int8 exports: quantized weights plus scales)."""
    from pathlib import Path

    import onnx

    counts = {}
    for tower, name in (("visual", "image_encoder.onnx"), ("text", "text_encoder.onnx")):
        graph = onnx.load(str(Path(folder) / name), load_external_data=False).graph
        counts[tower] = sum(int(math.prod(init.dims)) for init in graph.initializer)
    return {"total": counts["visual"] + counts["text"], **counts}


def _info_text(data: dict) -> str:
    lines = [f"model: {data['model']}"]
    if data.get("modality"):
        lines.append(f"modality: {data['modality']}")
    if data.get("config_file"):
        lines.append(f"config file: {data['config_file']}")
    if "weights" in data:
        lines.append(f"weights: {data['weights'] or '(none)'}")
    lines += ["config:", *("  " + line for line in json.dumps(data["config"], indent=2).splitlines())]
    if data.get("parameters"):
        lines.append("parameters:")
        lines += [f"  {k}: {v:,}" for k, v in data["parameters"].items()]
    if "preprocess_cfg" in data:
        lines.append("preprocess cfg:")
        lines += [f"  {k}: {v}" for k, v in data["preprocess_cfg"].items()]
    if not data.get("weights"):
        lines.append(f"pretrained tags: {', '.join(data['pretrained_tags']) or '(none)'}")
    if "pretrained_cfg" in data:
        lines.append(f"pretrained cfg for {data['tag']}:")
        lines += [f"  {k}: {v}" for k, v in data["pretrained_cfg"].items()]
    from .choose import info_lines

    lines += info_lines(data)
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    """Show an architecture's config, its parameter counts and, with a tag, the tag's record."""
    from ..factory.sources import parse_model_name
    from ..registry import architectures as registry

    schema, _ = parse_model_name(args.model)
    if schema is not None:
        data = _source_info(args.model, args.tag, params=not args.no_params)
    else:
        if registry.get_model_config(args.model) is None:
            raise registry.unknown_model(args.model)
        if args.tag:
            check_tag(args.model, args.tag)
        data = _registry_info(args.model, args.tag, params=not args.no_params)
    data = json.loads(json.dumps(data, default=list))  # tuples and the like as JSON would show them
    return emit(args, data, lambda: _info_text(data))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``models``, ``pretrained`` and ``info``."""
    p = sub.add_parser("models", help="list architectures (optionally matching a glob PATTERN)")
    p.add_argument("pattern", nargs="?", help="glob, case-insensitive, e.g. 'ViT-B-*'")
    from ..registry.architectures import MODALITIES

    p.add_argument("--modality", choices=MODALITIES, help="only image-text or only audio-text (CLAP) models")
    add_json(p)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("pretrained", help="list pretrained (model, tag) pairs")
    p.add_argument("model", nargs="?", help="only this architecture, or a glob such as 'ViT-B-*'")
    p.add_argument("--tag", help="only this tag (case- and separator-insensitive)")
    add_json(p)
    from .choose import add_ranking_args

    add_ranking_args(p)
    p.set_defaults(func=cmd_pretrained)

    p = add_model_command(
        sub, "info", None, help="show a model's config and a tag's record (any name, hf-hub: or local-dir:)"
    )
    p.add_argument("--no-params", action="store_true", help="skip the parameter counts")
    add_json(p)
    p.set_defaults(func=cmd_info)

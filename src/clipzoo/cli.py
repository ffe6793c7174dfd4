"""The ``clipzoo`` command line. Registry commands answer without importing torch.

Exit status: 0 success, 1 other failure, 2 unknown model/tag or bad usage, 3 network/offline, 4 checksum.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Callable, Sequence

from . import pretrained as tags
from . import registry

EXIT_UNKNOWN = 2


class CliError(Exception):
    """A user-facing failure: one line on stderr and an exit status."""

    def __init__(self, message: str, status: int = EXIT_UNKNOWN) -> None:
        super().__init__(message)
        self.status = status


def _emit(args: argparse.Namespace, data: object, text: Callable[[], str]) -> int:
    print(json.dumps(data, indent=2) if args.json else text())
    return 0


def _check_model(name: str) -> None:
    if registry.get_model_config(name) is None and not tags.list_pretrained_tags_by_model(name):
        raise CliError(str(registry.UnknownModelError(name)))


def _check_tag(model: str, tag: str) -> None:
    if not tags.is_pretrained_cfg(model, tag):
        raise CliError(str(tags.UnknownTagError(model, tag)))


def cmd_models(args: argparse.Namespace) -> int:
    """List architectures, optionally filtered by a glob pattern."""
    names = registry.list_models()
    if args.pattern:
        names = [n for n in names if fnmatch.fnmatch(n.lower(), args.pattern.lower())]
    return _emit(args, names, lambda: "\n".join(names))


def cmd_pretrained(args: argparse.Namespace) -> int:
    """List (model, tag) pairs, optionally for one model and/or one tag."""
    if args.model:
        _check_model(args.model)
    if args.model and args.tag:
        _check_tag(args.model, args.tag)
    key = tags.normalize_tag(args.tag) if args.tag else None
    pairs = [
        (m, t)
        for m, t in tags.list_pretrained()
        if (not args.model or m == args.model) and (key is None or tags.normalize_tag(t) == key)
    ]
    if args.tag and not pairs:
        raise CliError(f"no model has pretrained tag {args.tag!r}; see `clipzoo pretrained` for all tags")
    data = [{"model": m, "tag": t} for m, t in pairs]
    width = max((len(m) for m, _ in pairs), default=0)
    return _emit(args, data, lambda: "\n".join(f"{m:<{width}}  {t}" for m, t in pairs))


def _info_data(model: str, tag: str | None, params: bool) -> dict:
    data: dict = {"model": model, "config": registry.get_model_config(model)}
    source = registry.get_config_source(model)
    data["config_file"] = str(source) if source else None
    data["pretrained_tags"] = tags.list_pretrained_tags_by_model(model)
    if tag is not None:
        data["tag"] = tags.get_pretrained_record(model, tag).tag
        data["pretrained_cfg"] = tags.get_pretrained_cfg(model, tag)
    if params:
        from .summary import parameter_summary

        data["parameters"] = parameter_summary(model)
    return data


def _info_text(data: dict) -> str:
    lines = [f"model: {data['model']}", f"config file: {data['config_file']}"]
    lines += ["config:", *("  " + line for line in json.dumps(data["config"], indent=2).splitlines())]
    if data.get("parameters"):
        lines.append("parameters:")
        lines += [f"  {k}: {v:,}" for k, v in data["parameters"].items()]
    lines.append(f"pretrained tags: {', '.join(data['pretrained_tags']) or '(none)'}")
    if "pretrained_cfg" in data:
        lines.append(f"pretrained cfg for {data['tag']}:")
        lines += [f"  {k}: {v}" for k, v in data["pretrained_cfg"].items()]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    """Show an architecture's config, its parameter counts and, with a tag, the tag's record."""
    if registry.get_model_config(args.model) is None:
        raise CliError(str(registry.UnknownModelError(args.model)))
    if args.tag:
        _check_tag(args.model, args.tag)
    data = _info_data(args.model, args.tag, params=not args.no_params)
    return _emit(args, data, lambda: _info_text(data))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="clipzoo", description="CLIP-family models, open_clip-compatible.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list architectures (optionally matching a glob PATTERN)")
    p.add_argument("pattern", nargs="?", help="glob, case-insensitive, e.g. 'ViT-B-*'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("pretrained", help="list pretrained (model, tag) pairs")
    p.add_argument("model", nargs="?", help="only this architecture")
    p.add_argument("--tag", help="only this tag (case- and separator-insensitive)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_pretrained)

    p = sub.add_parser("info", help="show an architecture's config and a tag's record")
    p.add_argument("model")
    p.add_argument("tag", nargs="?")
    p.add_argument("--no-params", action="store_true", help="skip the parameter counts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    from . import hub  # light: stdlib, filelock and tqdm only

    hub.add_download_parser(sub)
    from .commands import PARSERS  # commands that need torch import it only when they run

    for add in PARSERS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clipzoo`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as err:
        print(f"clipzoo: error: {err}", file=sys.stderr)
        return err.status
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

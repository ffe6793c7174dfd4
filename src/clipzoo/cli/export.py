"""``clipzoo export MODEL [TAG] --to DIR [--format F]``: write a self-contained, loadable folder."""

from __future__ import annotations

import argparse

from .common import CliError, add_cache_dir, add_model_command, add_random_weights, require_weights


def export_options(args: argparse.Namespace) -> dict:
    """The format-specific options the command line gives the format's writer (none for most formats)."""
    quantize = getattr(args, "quantize", None)
    if quantize is None:
        return {}
    if args.format != "onnx":
        raise CliError(
            f"--quantize {quantize} needs --format onnx (the {args.format} format has no quantization)"
        )
    return {"quantize": quantize}


def cmd_export(args: argparse.Namespace) -> int:
    """Create the model, write the folder atomically and print its path."""
    from ..export.folder import check_export_target
    from ..export.writers import export_model

    check_export_target(args.to, args.overwrite)  # an unsafe target is refused before any work
    tag_usage = f"a pretrained TAG after the model name (`clipzoo export {args.model} TAG --to DIR`)"
    require_weights(args.model, args.tag, args.random_weights, cache_dir=args.cache_dir, tag_usage=tag_usage)
    path = export_model(
        args.model,
        args.tag,
        to=args.to,
        format=args.format,
        include_tokenizer=not args.no_tokenizer,
        overwrite=args.overwrite,
        cache_dir=args.cache_dir,
        format_options=export_options(args),
        force_image_size=args.force_image_size,
        force_quick_gelu=args.force_quick_gelu,
    )
    print(path)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    from ..export.writers import EXPORT_FORMATS  # torch-free modules

    parser = add_model_command(
        sub,
        "export",
        "pretrained tag or checkpoint file",
        help="write a model to a self-contained folder (load it with local-dir:DIR)",
        description="Create MODEL (with pretrained TAG or file) and write it to DIR in the chosen format "
        "(open_clip: open_clip_config.json, open_clip_model.safetensors and tokenizer files).",
    )
    parser.add_argument(
        "--to", required=True, help="target folder (new, empty, or with --overwrite one clipzoo exported)"
    )
    parser.add_argument(
        "--format",
        default="open_clip",
        choices=sorted(EXPORT_FORMATS),
        help="folder format (default open_clip)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a target folder an earlier export wrote (never any other folder or file)",
    )
    parser.add_argument(
        "--quantize",
        default=None,
        choices=("int8",),
        help="onnx only: int8 weights (onnxruntime dynamic quantization of MatMul/Gemm)",
    )
    parser.add_argument("--force-image-size", type=int, default=None, help="export at this input size")
    parser.add_argument("--force-quick-gelu", action="store_true", help="use QuickGELU activations")
    parser.add_argument(
        "--no-tokenizer", action="store_true", help="do not copy Hugging Face tokenizer files"
    )
    add_cache_dir(parser)
    add_random_weights(parser)
    parser.set_defaults(func=cmd_export)

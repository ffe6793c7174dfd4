"""``clipzoo classify IMAGE... --model M --pretrained T --labels a b c``: zero-shot classification.

With an audio-text (CLAP) model the files are audio (WAV, FLAC, OGG, MP3: whatever libsndfile decodes) and
are checked as audio before the model loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from ..errors import InputError
from ..zero_shot.prompts import TEMPLATE_SETS
from .common import EXIT_USAGE, CliError, add_json, add_random_weights, add_weights_args, require_weights


def format_predictions(images: Sequence[str], results: list[list[tuple[str, float]]], activation: str) -> str:
    """A plain-text table: one row per (image, rank)."""
    width = max([len("label"), *(len(label) for preds in results for label, _ in preds)])
    lines = [f"{'image':<24} {'rank':>4}  {'label':<{width}}  {activation}"]
    for image, preds in zip(images, results):
        for rank, (label, prob) in enumerate(preds, start=1):
            name = str(image) if rank == 1 else ""
            lines.append(f"{name:<24} {rank:>4}  {label:<{width}}  {prob:.4f}")
    return "\n".join(lines)


def _onnx_folder(args: argparse.Namespace) -> str | None:
    """The ONNX folder to classify with: ``--onnx DIR``, or ``--model local-dir:DIR`` holding clipzoo_onnx.json."""
    from ..onnx.manifest import is_onnx_folder  # stdlib only

    if args.onnx:
        if args.model:
            raise CliError("give either --model or --onnx, not both")
        return args.onnx
    if args.model is None:
        raise CliError("give --model MODEL (with --pretrained TAG) or --onnx DIR")
    if args.model.startswith("local-dir:") and is_onnx_folder(args.model.removeprefix("local-dir:")):
        return args.model.removeprefix("local-dir:")
    return None


def _images_to_classify(
    args: argparse.Namespace, check_header: Callable[[str], None], load: Callable[[str], object] | None = None
) -> list[str]:
    """The images to classify, checked before the model loads: every one must open (headers only), or with
    ``--skip-bad`` every one is decoded (``load``, default the image loader) and those that fail are reported on
    stderr and left out."""
    if not args.skip_bad:
        for path in args.images:
            check_header(path)
        return list(args.images)
    if load is None:
        from ..preprocess.images import load_image

        load = load_image

    readable = []
    for path in args.images:
        try:
            load(path)
        except (InputError, OSError) as err:
            print(f"clipzoo: skipped {path}: {' '.join(str(err).split())}", file=sys.stderr)
        else:
            readable.append(path)
    if not readable:
        raise CliError(f"none of the {len(args.images)} images could be read")
    return readable


def _status(args: argparse.Namespace, images: list[str]) -> int:
    """0 when every image was classified, else 2 (some were skipped as unreadable)."""
    return 0 if len(images) == len(args.images) else EXIT_USAGE


def cmd_classify_onnx(args: argparse.Namespace, folder: str) -> int:
    """``classify`` on the torch-free ONNX runtime (clipzoo.onnx.OnnxModel)."""
    from ..onnx.runtime import OnnxModel, read_templates_file
    from ..preprocess.images import check_image_file

    templates = args.templates
    if templates is not None and templates not in TEMPLATE_SETS:
        templates = read_templates_file(templates)
    images = _images_to_classify(args, check_image_file)
    model = OnnxModel(folder)
    results = model.classify(
        images, args.labels, templates=templates, top_k=args.top_k, batch_size=args.batch_size
    )
    _print_results(args, images, results, "sigmoid" if model.is_sigmoid else "softmax")
    return _status(args, images)


def _print_results(
    args: argparse.Namespace, images: list[str], results: list[list[tuple[str, float]]], activation: str
) -> None:
    if args.json:
        payload = [
            {
                "image": str(path),
                "activation": activation,
                "predictions": [{"label": lb, "prob": p} for lb, p in preds],
            }
            for path, preds in zip(images, results)
        ]
        print(json.dumps(payload, indent=2))
    else:
        print(format_predictions(images, results, activation))


def cmd_classify(args: argparse.Namespace) -> int:
    """Load the model, classify every image, print a table or JSON."""
    folder = _onnx_folder(args)
    if folder is not None:
        return cmd_classify_onnx(args, folder)
    from ..factory.create import create_model_and_transforms
    from ..factory.tokenizer import get_tokenizer
    from ..preprocess.images import check_image_file
    from ..zero_shot import classifier as zs

    templates = args.templates
    if templates is not None and templates not in zs.TEMPLATE_SETS:
        templates = zs.read_templates_file(templates)
    labels = zs.check_label_list(args.labels)
    if _is_audio_model(args.model):
        from ..preprocess.audio import check_audio_file, load_audio

        images = _images_to_classify(args, check_audio_file, load_audio)
    else:
        images = _images_to_classify(args, check_image_file)  # before the (slow) model load
    require_weights(args.model, args.pretrained, args.random_weights)
    model, _, preprocess = create_model_and_transforms(
        args.model, pretrained=args.pretrained, device=args.device
    )
    model.eval()
    results = zs.zero_shot_classify(
        model,
        images,
        labels,
        tokenizer=get_tokenizer(args.model),
        preprocess=preprocess,
        templates=templates,
        top_k=args.top_k,
        batch_size=args.batch_size,
    )
    _print_results(args, images, results, "sigmoid" if zs.is_sigmoid_model(model) else "softmax")
    return _status(args, images)


def _is_audio_model(model: str) -> bool:
    """Whether ``model`` (a name, hf-hub: or local-dir:) is audio-text, read from its config (torch-free)."""
    from ..errors import ClipzooError
    from ..factory.resolve import resolve

    try:
        return resolve(model, None, load_weights=False).model_cfg.is_audio
    except ClipzooError:
        return False  # not resolvable: the model load below raises the proper error, files checked as images


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``classify``."""
    p = sub.add_parser("classify", help="zero-shot classify images (or sounds) against free-text labels")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (audio files for an audio-text model)")
    p.add_argument("--model", default=None, help="architecture name, hf-hub:org/repo or local-dir:PATH")
    p.add_argument(
        "--onnx",
        default=None,
        metavar="DIR",
        help="classify with an ONNX export (clipzoo export --format onnx) on onnxruntime, without torch; "
        "--model local-dir:DIR does the same when DIR is an ONNX export",
    )
    add_weights_args(p, "model")
    p.add_argument(
        "--labels", nargs="+", required=True, help="candidate labels, e.g. --labels cat dog 'a car'"
    )
    p.add_argument(
        "--templates",
        default=None,
        help=f"prompt set ({'|'.join(TEMPLATE_SETS)}) or a file with one '{{}}' template per line; "
        "default: openai for CLIP-style models, siglip for SigLIP-style models, audio for CLAP",
    )
    p.add_argument("--top-k", type=int, default=5, help="predictions per image (default 5)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="report each unreadable image on stderr and classify the rest (exit status 2 if any was skipped); "
        "by default one unreadable image stops the command before the model loads",
    )
    add_random_weights(p)
    add_json(p)
    p.set_defaults(func=cmd_classify)

"""``clipzoo caption IMAGE... --model M --pretrained T``: captions from a CoCa model."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from .common import add_json, add_random_weights, add_weights_args, require_weights

GENERATION_TYPE_NAMES = ("beam_search", "top_k", "top_p")  # clipzoo.models.generation.GENERATION_TYPES (needs torch)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (the start token and one word), got {value}")
    return value


def format_table(images: Sequence[str], captions: Sequence[str]) -> str:
    """IMAGE / CAPTION, one row per image."""
    width = max(len("IMAGE"), *(len(str(p)) for p in images))
    lines = [f"{'IMAGE':<{width}}  CAPTION"]
    lines += [f"{str(p):<{width}}  {c}" for p, c in zip(images, captions)]
    return "\n".join(lines)


def cmd_caption(args: argparse.Namespace) -> int:
    """Load the model, caption every image, print a table or JSON."""
    import torch

    from ..factory.create import create_model_and_transforms
    from ..factory.tokenizer import get_tokenizer
    from ..models import generation as gen
    from ..preprocess.images import load_image

    images = [load_image(str(p)) for p in args.images]  # read all first: a bad file fails before the model
    require_weights(args.model, args.pretrained, args.random_weights)
    model, _, preprocess = create_model_and_transforms(
        args.model, pretrained=args.pretrained, device=args.device
    )
    gen.check_can_caption(model)
    tokenizer = get_tokenizer(args.model)
    sot = getattr(tokenizer, "sot_token_id", gen.SOT_TOKEN_ID)
    eos = getattr(tokenizer, "eot_token_id", gen.EOS_TOKEN_ID)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    captions: list[str] = []
    for start in range(0, len(images), args.batch_size):
        batch = torch.stack([preprocess(img) for img in images[start : start + args.batch_size]])
        out = gen.generate(
            model, batch.to(args.device), generation_type=args.generation_type, seq_len=args.seq_len,
            sot_token_id=sot, eos_token_id=eos,
        )  # fmt: skip
        captions += gen.decode_captions(out, tokenizer, sot, eos, getattr(model, "pad_id", 0))
    if args.json:
        print(json.dumps([{"image": str(p), "caption": c} for p, c in zip(args.images, captions)], indent=2))
    else:
        print(format_table(args.images, captions))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``caption``."""
    p = sub.add_parser("caption", help="write a caption for each image with a captioning (CoCa) model")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument(
        "--model", required=True, help="captioning architecture, e.g. coca_ViT-B-32, or local-dir:PATH"
    )
    add_weights_args(p, "model")
    p.add_argument(
        "--generation-type",
        choices=GENERATION_TYPE_NAMES,
        default="beam_search",
        help="decoding strategy (default beam_search; top_k with its default k=1 is greedy)",
    )
    p.add_argument(
        "--seq-len", type=_positive_int, default=30, help="maximum caption length in tokens (default 30)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for top_k/top_p sampling")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=8, help="images per generate call")
    add_random_weights(p)
    add_json(p)
    p.set_defaults(func=cmd_caption)

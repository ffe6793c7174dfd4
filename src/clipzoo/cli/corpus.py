"""``clipzoo embed SOURCE... --model M --out DIR`` and ``clipzoo search DIR QUERY...``: a corpus on disk, searched."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .common import add_cache_dir, add_json, add_random_weights, add_weights_args


def _log_to_stderr() -> None:
    """Show clipzoo's INFO lines (one per part written when stderr is not a terminal) on stderr."""
    logger = logging.getLogger("clipzoo")
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def cmd_embed(args: argparse.Namespace) -> int:
    """Embed the sources into DIR; print the summary; status 0 (even when some items were skipped)."""
    from ..corpus.run import embed

    _log_to_stderr()
    summary = embed(
        args.sources, args.model, args.pretrained, out=args.out, onnx=args.onnx, engine=args.engine,
        ray_address=args.ray_address, image_column=args.image_column, caption_column=args.caption_column,
        text_only=args.text_only, dtype=args.dtype, part_size=args.part_size, batch_size=args.batch_size,
        workers=args.workers, precision=args.precision, fast_decode=args.fast_decode, device=args.device,
        random_weights=args.random_weights, overwrite=args.overwrite, cache_dir=args.cache_dir, progress=None,
    )  # fmt: skip
    if args.json:
        print(json.dumps(vars(summary), indent=2, default=str))
        return 0
    print(
        f"{summary.out}: {summary.embedded} of {summary.items} items embedded in {summary.parts} "
        f"part{'s' if summary.parts != 1 else ''} "
        f"({summary.parts_written} written now), {summary.failed} skipped (failures.parquet); "
        f"{summary.items_per_second:.1f} items/s, {summary.seconds:.1f} s, path {summary.inference_path}, "
        f"engine {summary.engine}"
    )
    for failure in summary.failures[:10]:
        print(f"  skipped {failure['image_path']}: {failure['reason']}", file=sys.stderr)
    if summary.failed > 10:
        print(f"  ... and {summary.failed - 10} more (failures.parquet)", file=sys.stderr)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search DIR for each query; print rank, score, path and caption (or JSON)."""
    from ..corpus.search import search

    results = search(args.dir, args.queries, top=args.top, image=args.image, random_weights=args.random_weights,
                     cache_dir=args.cache_dir)  # fmt: skip
    if args.json:
        print(json.dumps([[vars(hit) for hit in hits] for hits in results], indent=2, default=str))
        return 0
    for query, hits in zip(args.queries, results):
        print(f"query: {query}")
        for rank, hit in enumerate(hits, 1):
            caption = f"  {hit.caption}" if hit.caption else ""
            print(f"{rank:>4}  {hit.score:.4f}  {hit.image_path or ''}{caption}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``embed`` and ``search``."""
    p = sub.add_parser(
        "embed",
        help="embed a corpus (folders, lists, tar shards) into clip-retrieval's layout; resumable",
        description="Writes DIR/img_emb, DIR/text_emb, DIR/metadata (clip-retrieval's layout), "
        "DIR/clipzoo_embed.json and DIR/failures.parquet. Run it again with the same arguments to resume.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="folder, image, glob, brace range (shards/{00000..00009}.tar), list (.txt/.csv/.tsv/"
                        ".parquet) or WebDataset tar shard")  # fmt: skip
    p.add_argument("--model", default=None, help="architecture name, hf-hub:org/repo or local-dir:PATH")
    add_weights_args(p, "model")
    p.add_argument("--onnx", default=None, metavar="DIR", help="encode with an ONNX export folder instead")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new, empty, or this run's)")
    p.add_argument("--engine", default="local", help="local (worker processes) or ray (Ray Data)")
    p.add_argument("--ray-address", default=None, help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--image-column", default="image_path", help="image path column of csv/parquet lists")
    p.add_argument("--caption-column", default="caption", help="caption column of csv/parquet lists")
    p.add_argument("--text-only", action="store_true", help="lists hold captions only: text embeddings")
    p.add_argument("--dtype", default="float16", help="float16 (default) or float32 on disk")
    p.add_argument("--part-size", type=int, default=10_000, help="items per output part (default 10000)")
    p.add_argument("--batch-size", type=int, default=None, help="items per model call (default: by device)")
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: from the cores)")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16, int8 (CPU) or fp16 (GPU)")
    p.add_argument("--fast-decode", action="store_true",
                   help="decode JPEGs at a reduced scale (faster on large photos; a few grey levels from exact)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace DIR if it holds another run's embeddings"
    )
    add_cache_dir(p)
    add_random_weights(p)
    add_json(p)
    p.set_defaults(func=cmd_embed)

    s = sub.add_parser("search", help="top-k search of a corpus embedded by `clipzoo embed`")
    s.add_argument("dir", metavar="DIR", help="folder written by `clipzoo embed`")
    s.add_argument("queries", nargs="+", metavar="QUERY", help="text queries (image files with --image)")
    s.add_argument("--top", type=int, default=10, help="results per query (default 10)")
    s.add_argument("--image", action="store_true", help="the queries are image files")
    add_cache_dir(s)
    add_random_weights(s)
    add_json(s)
    s.set_defaults(func=cmd_search)

"""``clipzoo pretrained --sort/--plot`` and the profile/results part of ``clipzoo info`` (torch-free).

Used by :mod:`clipzoo.cli.registry_cmds`, which owns the ``pretrained`` and ``info`` parsers.
"""

from __future__ import annotations

import argparse
import math

from .common import CliError, check_model, emit, is_glob, match_models


def _non_negative(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if math.isnan(value) or value < 0:
            raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
        return value

    return parse


def add_ranking_args(parser: argparse.ArgumentParser) -> None:
    """``--sort METRIC``, ``--plot FILE``, ``--metric``, ``--max-gflops``, ``--max-params``, ``--top``."""
    group = parser.add_argument_group("choosing a model (published results and cost, no torch)")
    group.add_argument(
        "--sort",
        metavar="METRIC",
        help="rank pairs by a published metric, best first (e.g. imagenet1k, average)",
    )
    group.add_argument(
        "--plot", metavar="FILE", help="draw METRIC against GFLOPs with the Pareto front (PNG)"
    )
    group.add_argument("--metric", default=None, help="the metric --plot draws (default imagenet1k)")
    group.add_argument("--max-gflops", type=_non_negative(float), metavar="N", help="at most N GFLOPs")
    group.add_argument(
        "--max-params", type=_non_negative(float), metavar="M", help="at most M million parameters"
    )
    group.add_argument("--top", type=_non_negative(int), metavar="K", help="only the best K")
    group.add_argument(
        "--show-missing",
        action="store_true",
        default=None,
        help="with --sort: also list the pairs that have no published result for METRIC",
    )


def wants_ranking(args: argparse.Namespace) -> bool:
    """True when ``clipzoo pretrained`` was asked to rank or plot; the other options alone are a usage error."""
    if args.sort or args.plot:
        return True
    given = [f"--{name.replace('_', '-')}" for name in _RANKING_ONLY if getattr(args, name) is not None]
    if given:
        raise CliError(
            f"{', '.join(given)} only apply with --sort METRIC or --plot FILE (see clipzoo pretrained --help)"
        )
    return False


_RANKING_ONLY = ("metric", "max_gflops", "max_params", "top", "show_missing")


def _limits(args: argparse.Namespace) -> dict:
    return {"max_gflops": args.max_gflops, "max_params": args.max_params, "pattern": args.model}


def _table(ranking, show_missing: bool = False) -> str:
    headers = ("#", "model", "tag", ranking.metric, "GFLOPs", "params (M)", "family")
    rows = [
        (
            str(i),
            r.model,
            r.tag,
            f"{r.value:.4f}",
            f"{r.gflops:.2f}" if r.gflops is not None else "?",
            f"{r.params_m:.2f}" if r.params_m is not None else "?",
            r.family,
        )
        for i, r in enumerate(ranking, 1)
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    right = {0, 3, 4, 5}
    lines = [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))
        )
        for row in [headers, *rows]
    ]
    note = f"{ranking.missing} pairs have no published {ranking.metric} result"
    if ranking.filtered:
        note += f"; {ranking.filtered} are outside the limits"
    out = [*(line.rstrip() for line in lines), f"({note})"]
    if show_missing and ranking.missing_pairs:
        out.append(f"without a published {ranking.metric} result:")
        out += [f"  {m}  {t}" for m, t in ranking.missing_pairs]
    elif ranking.missing_pairs:
        out[-1] = f"({note}; --show-missing lists them)"
    return "\n".join(out)


def cmd_rank_or_plot(args: argparse.Namespace) -> int:
    """``clipzoo pretrained --sort METRIC`` (a table, or JSON) and/or ``--plot FILE``."""
    from ..registry.results import rank_pretrained

    if args.tag:
        raise CliError(
            "--sort/--plot rank every tag; use the MODEL argument (a glob) to narrow them, not --tag"
        )
    if args.model and not is_glob(args.model):
        check_model(args.model)
    elif args.model and ":" not in args.model:
        match_models(args.model)  # a glob that matches no model: say so rather than rank nothing
    if args.metric is not None and not args.plot:
        raise CliError("--metric chooses what --plot draws; rank by a metric with --sort METRIC")
    if args.top is not None and not args.sort:
        raise CliError("--top applies to --sort METRIC (the plot shows every pair within the limits)")
    if args.plot:
        from ..registry.plot import plot_pretrained

        summary = plot_pretrained(args.plot, args.metric or args.sort or "imagenet1k", **_limits(args))
        if not args.sort:
            data = {
                "path": str(summary.path),
                "metric": summary.metric,
                "plotted": summary.plotted,
                "missing": summary.missing,
                "front": [r.to_dict() for r in summary.front],
            }
            return emit(
                args,
                data,
                lambda: (
                    f"wrote {summary.path}: {summary.plotted} pairs, {len(summary.front)} on the Pareto front; "
                    f"{summary.missing} pairs have no published {summary.metric} result"
                ),
            )
    ranking = rank_pretrained(args.sort, top=args.top, **_limits(args))
    data = {
        "metric": ranking.metric,
        "missing": ranking.missing,
        "filtered": ranking.filtered,
        "results": [r.to_dict() for r in ranking],
        "missing_pairs": [{"model": m, "tag": t} for m, t in ranking.missing_pairs],
    }
    return emit(args, data, lambda: _table(ranking, bool(args.show_missing)))


def info_data(model: str, tag: str | None) -> dict:
    """The profile (``None`` without a stored one) and, with a tag, the published results of ``model``."""
    from ..registry.results import ProfileNotFoundError, get_model_profile, get_pretrained_results

    try:
        profile = get_model_profile(model).to_dict()
    except ProfileNotFoundError:
        profile = None
    data: dict = {"profile": profile}
    if tag is not None:
        data["results"] = get_pretrained_results(model, tag)
    return data


def info_lines(data: dict) -> list[str]:
    """Text lines for :func:`info_data`'s part of ``clipzoo info``."""
    lines = []
    profile = data.get("profile")
    if profile:
        height, width = profile["image_size"]
        mark = {"computed": "", "published": " (published)"}

        def cell(field: str, fmt: str) -> str:
            return f"{profile[field]:{fmt}}{mark[profile['source'][field]]}"

        seconds = profile.get("audio_seconds")
        what = f"{seconds:g} s of audio" if seconds else "one image"
        lines.append(f"profile (open_clip's count: {what}, one text; a multiply-add is 2 FLOPs):")
        tower, at = ("audio tower", f"per {seconds:g} s of audio") if seconds else ("image tower", f"at {height}x{width}")
        lines.append(
            f"  {tower}: {cell('image_params_m', '.2f')} M params, {cell('image_gflops', '.2f')} GFLOPs {at}"
        )
        lines.append(
            f"  text tower:  {cell('text_params_m', '.2f')} M params, "
            f"{cell('text_gflops', '.2f')} GFLOPs at {profile['context_length']} tokens"
        )
        lines.append(f"  total:       {cell('params_m', '.2f')} M params, {cell('gflops', '.2f')} GFLOPs")
        budgets = profile.get("image_gflops_by_token_budget") or {}
        if budgets:  # NaFlex: the image tower's cost follows the token budget (max_num_patches), not a size
            cells = ", ".join(f"{n}: {g:.2f}" for n, g in budgets.items())
            lines.append(f"  image tower GFLOPs per token budget (patches per image): {cells}")
        if profile["note"]:
            lines.append(f"  note: {profile['note']}")
    if "results" in data:
        results = data["results"]
        if not results:
            lines.append("published results: none")
        else:
            lines.append(f"published results ({len(results)} metrics, open_clip 3.3.0):")
            line = ""
            for metric, value in results.items():  # flowed into lines of at most ~100 characters
                item = f"{metric} {value:.4f}"
                if line and len(line) + len(item) > 96:
                    lines.append("  " + line.rstrip(" ,"))
                    line = ""
                line += item + ", "
            lines.append("  " + line.rstrip(" ,"))
    return lines

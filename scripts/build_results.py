"""Write ``src/clipzoo/registry/pretrained_results.json`` from open_clip 3.3.0's published result tables.

open_clip keeps its zero-shot and retrieval results as CSV files in ``docs/`` that no API reads
(``openclip_results.csv``: the 38-dataset table; ``openclip_classification_results.csv``: its 35
classification datasets; ``openclip_retrieval_results.csv``: Flickr30k / MSCOCO recall and WinoGAViL). This
script carries every value over unchanged into one table keyed by clipzoo's (model, tag) registry pairs, with
metric ids that are clip_benchmark's dataset names (``vtab/`` prefix dropped) where one exists, and
``dataset/metric`` ids for the retrieval details. A column that two files share must agree in both.

It refuses to write when a row names a pair the tag registry does not have, when the params/FLOPs columns
disagree with open_clip's model profile, or when two rows of the same OpenAI weights disagree.

``-quickgelu`` twins of OpenAI weights without their own row inherit their base pair's row (listed under
``inherited``): open_clip builds OpenAI weights with QuickGELU under both names, and where the tables have
both rows (RN50, RN101, ViT-B-32) they agree in every column. Twins of other tags do not inherit: for
yfcc15m, cc12m and laion400m the base row was measured with GELU and differs from the twin's row.

    python scripts/build_results.py [--csv-dir DIR] [--out JSON]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV_DIR = ROOT / "tests" / "data" / "open_clip-3.3.0"
DEFAULT_OUT = ROOT / "src" / "clipzoo" / "registry" / "pretrained_results.json"
MAIN, CLASSIFICATION, RETRIEVAL = (
    "openclip_results.csv",
    "openclip_classification_results.csv",
    "openclip_retrieval_results.csv",
)
KEY_COLUMNS = ("name", "pretrained")
COST_COLUMNS = {"params (M)": "mparams", "FLOPs (B)": "gflops"}

# open_clip column -> (metric id, clip_benchmark dataset name or None, what it is)
DATASETS: dict[str, tuple[str, str | None, str]] = {
    "ImageNet 1k": ("imagenet1k", "imagenet1k", ""),
    "Caltech-101": ("caltech101", "vtab/caltech101", ""),
    "CIFAR-10": ("cifar10", "cifar10", ""),
    "CIFAR-100": ("cifar100", "cifar100", ""),
    "CLEVR Counts": ("clevr_count_all", "vtab/clevr_count_all", ""),
    "CLEVR Distance": ("clevr_closest_object_distance", "vtab/clevr_closest_object_distance", ""),
    "Country211": ("country211", "country211", ""),
    "Describable Textures": ("dtd", "dtd", ""),
    "EuroSAT": ("eurosat", "eurosat", ""),
    "FGVC Aircraft": ("fgvc_aircraft", "fgvc_aircraft", ""),
    "Food-101": ("food101", "food101", ""),
    "GTSRB": ("gtsrb", "gtsrb", ""),
    "ImageNet Sketch": ("imagenet_sketch", "imagenet_sketch", ""),
    "ImageNet v2": ("imagenetv2", "imagenetv2", ""),
    "ImageNet-A": ("imagenet-a", "imagenet-a", ""),
    "ImageNet-O": ("imagenet-o", "imagenet-o", ""),
    "ImageNet-R": ("imagenet-r", "imagenet-r", ""),
    "KITTI Vehicle Distance": ("kitti_closest_vehicle_distance", "vtab/kitti_closest_vehicle_distance", ""),
    "MNIST": ("mnist", "mnist", ""),
    "ObjectNet": ("objectnet", "objectnet", ""),
    "Oxford Flowers-102": ("flowers", "flowers", ""),
    "Oxford-IIIT Pet": ("pets", "pets", ""),
    "Pascal VOC 2007": ("voc2007", "voc2007", ""),
    "PatchCamelyon": ("pcam", "pcam", ""),
    "Rendered SST2": ("renderedsst2", "renderedsst2", ""),
    "RESISC45": ("resisc45", "vtab/resisc45", ""),
    "Stanford Cars": ("cars", "cars", ""),
    "STL-10": ("stl10", "stl10", ""),
    "SUN397": ("sun397", "sun397", ""),
    "SVHN": ("svhn", "vtab/svhn", ""),
    "Flickr": ("flickr30k", "flickr30k", "mean of image and text retrieval recall@1"),
    "MSCOCO": ("mscoco_captions", "mscoco_captions", "mean of image and text retrieval recall@1"),
    "WinoGAViL": ("winogavil", None, "jaccard score on 10-12 candidates (DataComp's WinoGAViL task)"),
    "iWildCam": ("iwildcam", None, "DataComp's WILDS iWildCam task"),
    "Camelyon17": ("camelyon17", None, "DataComp's WILDS Camelyon17 task"),
    "FMoW": ("fmow", None, "DataComp's WILDS FMoW task"),
    "Dollar Street": ("dollar_street", None, "DataComp's Dollar Street task"),
    "GeoDE": ("geode", None, "DataComp's GeoDE task"),
}
AVERAGES = {
    (MAIN, "Average perf. on 38 datasets"): ("average", "mean over the 38 datasets of openclip_results.csv"),
    (CLASSIFICATION, "Average perf. on 35 datasets"): (
        "average_classification",
        "mean over the 35 classification datasets",
    ),
    (RETRIEVAL, "Average score"): ("average_retrieval", "mean over the 19 retrieval/WinoGAViL columns"),
}
RETRIEVAL_DATASETS = {"Flickr": "flickr30k", "MSCOCO": "mscoco_captions"}


def retrieval_metric(column: str) -> tuple[str, str | None, str]:
    """'Flickr image retr. R@5' -> flickr30k/image_retrieval_recall@5 (clip_benchmark's metric names)."""
    if column.startswith("WinoGAViL "):
        score = column.removeprefix("WinoGAViL ").replace(" ", "_")
        return f"winogavil/{score}", None, ""
    dataset, kind, _, recall = column.split(" ")
    metric = f"{kind}_retrieval_recall@{recall.removeprefix('R@')}"
    return f"{RETRIEVAL_DATASETS[dataset]}/{metric}", RETRIEVAL_DATASETS[dataset], ""


def _read(path: Path) -> tuple[list[str], dict[tuple[str, str], dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    keyed = {(row["name"], row["pretrained"]): row for row in rows}
    if len(keyed) != len(rows):
        raise SystemExit(f"{path}: a (name, pretrained) pair appears twice")
    return columns, keyed


def metric_table(csv_dir: Path) -> dict[str, dict]:
    """Every metric id with the file and column it comes from (the first file that has the column)."""
    metrics: dict[str, dict] = {}
    for file in (MAIN, CLASSIFICATION, RETRIEVAL):
        columns, _ = _read(csv_dir / file)
        for column in columns:
            if column in KEY_COLUMNS or column in COST_COLUMNS:
                continue
            if (file, column) in AVERAGES:
                metric, about = AVERAGES[file, column]
                bench = None
            elif column in DATASETS:
                metric, bench, about = DATASETS[column]
            elif file == RETRIEVAL:
                metric, bench, about = retrieval_metric(column)
            else:
                raise SystemExit(f"{file}: no metric id for column {column!r}; add it to DATASETS")
            entry = {"file": file, "column": column}
            if bench:
                entry["clip_benchmark"] = bench
            if about:
                entry["about"] = about
            if metric in metrics and metrics[metric]["column"] != column:
                raise SystemExit(f"metric id {metric!r} names two columns: {metrics[metric]} and {entry}")
            metrics.setdefault(metric, entry)
    return metrics


def _check_costs(rows: dict[tuple[str, str], dict[str, str]], profile_csv: Path) -> None:
    with profile_csv.open(newline="", encoding="utf-8") as handle:
        profile = {row["model"]: row for row in csv.DictReader(handle)}
    for (model, tag), row in rows.items():
        published = profile.get(model) or profile.get(model.removesuffix("-quickgelu"))
        if published is None:
            continue
        for column, key in COST_COLUMNS.items():
            if float(row[column]) != float(published[key]):
                raise SystemExit(
                    f"{model}:{tag}: {column} {row[column]} but the model profile says {published[key]}"
                )


def build(csv_dir: Path) -> dict:
    """The data file's content."""
    from clipzoo.registry import tags as pretrained

    metrics = metric_table(csv_dir)
    tables = {file: _read(csv_dir / file)[1] for file in (MAIN, CLASSIFICATION, RETRIEVAL)}
    pairs = set(tables[MAIN])
    for file, rows in tables.items():
        if set(rows) != pairs:
            raise SystemExit(f"{file} and {MAIN} list different (name, pretrained) pairs")
    _check_costs(tables[MAIN], csv_dir / "model_profile.csv")

    results: dict[str, dict[str, list[float]]] = {}
    for model, tag in sorted(pairs, key=lambda p: (p[0].lower(), p[1].lower())):
        if not pretrained.is_pretrained_cfg(model, tag):
            raise SystemExit(f"{model}:{tag} is in {MAIN} but not in clipzoo's tag registry")
        canonical = pretrained.get_typed_pretrained_cfg(model, tag).tag
        values = []
        for where in metrics.values():
            cell = tables[where["file"]][model, tag][where["column"]]
            for file, rows in tables.items():  # a column two files share must agree
                other = rows[model, tag].get(where["column"])
                if other is not None and float(other) != float(cell):
                    raise SystemExit(
                        f"{model}:{tag} {where['column']!r}: {cell} in {where['file']}, {other} in {file}"
                    )
            values.append(float(cell))
        results.setdefault(model, {})[canonical] = values

    inherited: dict[str, dict[str, str]] = {}
    for model, tag in pretrained.list_pretrained():
        base = model.removesuffix("-quickgelu")
        if (
            base == model
            or pretrained.normalize_tag(tag) != "openai"
            or not pretrained.is_pretrained_cfg(base, tag)
        ):
            continue
        mine, theirs = results.get(model, {}).get(tag), results.get(base, {}).get(tag)
        twin, original = (
            pretrained.get_typed_pretrained_cfg(model, tag),
            pretrained.get_typed_pretrained_cfg(base, tag),
        )
        if (twin.url, twin.hf_hub) != (original.url, original.hf_hub):
            continue
        if mine is not None and theirs is not None and mine != theirs:
            raise SystemExit(
                f"{model}:{tag} and {base}:{tag} are the same OpenAI weights but their rows differ"
            )
        if mine is None and theirs is not None:
            inherited.setdefault(model, {})[tag] = base
    return {
        "about": (
            "open_clip 3.3.0's published zero-shot and retrieval results (docs/openclip_*results.csv), values "
            "carried over unchanged; written by scripts/build_results.py. 'results' rows list the values in "
            "the order of 'metrics'. 'inherited': pairs without a row of their own that share a row's weights."
        ),
        "metrics": metrics,
        "results": results,
        "inherited": inherited,
    }


def write(data: dict, out: Path) -> None:
    """Write with one line per (model, tag) row, atomically."""
    head = {k: v for k, v in data.items() if k not in ("metrics", "results", "inherited")}
    parts = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    metrics = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in data["metrics"].items())
    parts.append('  "metrics": {\n' + metrics + "\n  }")
    rows = ",\n".join(
        f"    {json.dumps(model)}: {json.dumps(tags)}" for model, tags in data["results"].items()
    )
    parts.append('  "results": {\n' + rows + "\n  }")
    parts.append(f'  "inherited": {json.dumps(data["inherited"], sort_keys=True)}')
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--csv-dir", type=Path, default=DEFAULT_CSV_DIR, help="folder with open_clip's CSV files"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    data = build(args.csv_dir)
    write(data, args.out)
    rows = sum(len(tags) for tags in data["results"].values())
    twins = sum(len(tags) for tags in data["inherited"].values())
    print(
        f"wrote {rows} rows x {len(data['metrics'])} metrics (+{twins} inherited) to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``clipzoo demo``: a tour of clipzoo that runs offline in seconds, through the public API only.

It shows the model and tag registries, builds the embedded ``tiny-digits`` model (weights shipped inside the
package), zero-shot-classifies the held-out handwritten digits it never trained on, prints the accuracy and a
few predictions, and writes a PNG grid of digits labelled "true/pred" with mistakes in red (PIL only).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import clipzoo
from clipzoo.demo.digits import (
    DIGIT_CLASSNAMES,
    DIGIT_TEMPLATES,
    MODEL_NAME,
    TAG,
    load_heldout,
    render_prompt,
)
from clipzoo.files import check_output_file

from ..errors import DemoError

PRETRAINED = "sklearn_digits"  # the spelling every output uses (any spelling of a tag works)
DEFAULT_OUT = "clipzoo-demo.png"
REGENERATE_HINT = "regenerate it with `python scripts/train_digits.py` (from a clipzoo source checkout)"
EXAMPLE_MODELS = ("ViT-B-32", "ViT-L-14", "RN50", "ViT-SO400M-14-SigLIP", "coca_ViT-B-32")
TAG_EXAMPLE = ("ViT-B-32", "LAION-400M-E32")
SHOWN_PREDICTIONS = 5
SHOWN_MISTAKES = 5

# Grid layout (pixels): 6 rows x 8 columns of digits upscaled to 64x64, a caption under each, a title bar.
GRID_ROWS, GRID_COLS = 6, 8
DIGIT_PX, PAD, CAPTION_H, TITLE_H, BORDER = 64, 6, 18, 28, 3
CELL_W, CELL_H = DIGIT_PX + 2 * PAD, DIGIT_PX + CAPTION_H + 2 * PAD
BACKGROUND, INK, MISTAKE = (255, 255, 255), (20, 20, 20), (220, 0, 0)


# ----------------------------------------------------------------------------------------------- registry


def describe_registry() -> dict[str, Any]:
    """Counts and examples from the architecture and tag registries, and one normalized tag lookup."""
    models = clipzoo.list_models()
    pairs = clipzoo.list_pretrained()
    examples = [name for name in EXAMPLE_MODELS if name in models] or models[:5]
    model, spelling = TAG_EXAMPLE
    canonical = _canonical_tag(model, spelling)
    return {
        "architectures": len(models),
        "pretrained": len(pairs),
        "models_with_weights": len({m for m, _ in pairs}),
        "examples": examples,
        "tag_example": {"model": model, "asked": spelling, "found": canonical},
    }


def _canonical_tag(model: str, spelling: str) -> str | None:
    """The registered spelling of ``spelling`` for ``model``, or None when the model has no such tag."""
    if not clipzoo.get_pretrained_cfg(model, spelling):
        return None
    key = clipzoo.normalize_tag(spelling)
    return next(t for t in clipzoo.list_pretrained_tags_by_model(model) if clipzoo.normalize_tag(t) == key)


def registry_lines(info: dict[str, Any]) -> list[str]:
    """The registry summary as text."""
    lines = [
        f"registry: {info['architectures']} architectures, {info['pretrained']} pretrained (model, tag) pairs"
        f" for {info['models_with_weights']} of them; e.g. {', '.join(info['examples'])}",
    ]
    ex = info["tag_example"]
    if ex["found"] is not None:
        lines.append(
            f"tags are case- and separator-insensitive: get_pretrained_cfg({ex['model']!r}, {ex['asked']!r}) "
            f"finds {ex['found']!r}"
        )
    return lines


# ----------------------------------------------------------------------------------------------- model


def packaged_files() -> tuple[Path, Path]:
    """(weights, held-out digits) shipped in the package; DemoError naming the file when one is missing."""
    from clipzoo.demo import digits

    cfg = clipzoo.get_pretrained_cfg(MODEL_NAME, PRETRAINED)
    if not cfg.get("file"):
        raise DemoError(
            f"no packaged weights are registered for {MODEL_NAME}/{TAG}: pretrained_tags.json needs an entry "
            f"with a 'file' (the weights come from `python scripts/train_digits.py`)"
        )
    for path, what in ((Path(cfg["file"]), "weights"), (Path(digits.HELDOUT_FILE), "held-out digits")):
        if not path.is_file():
            raise DemoError(f"the embedded model's {what} file {path} is missing; {REGENERATE_HINT}")
    return Path(cfg["file"]), Path(digits.HELDOUT_FILE)


def import_torch() -> float:
    """Seconds to import torch, which every process pays once before its first model."""
    start = time.perf_counter()
    import torch  # noqa: F401 - timed here so that the build time below is the build alone

    return time.perf_counter() - start


# (model, eval transform, tokenizer), what the stages after loading use
Built = tuple[Any, Callable, Callable]


def load_embedded(device: str) -> tuple[Any, Callable, Callable, float]:
    """The embedded model (eval mode), its eval transform, its tokenizer, and the seconds it took."""
    start = time.perf_counter()
    # Inference only: create_model_from_pretrained returns just the eval transform and insists on weights.
    loaded = clipzoo.create_model_from_pretrained(MODEL_NAME, pretrained=PRETRAINED, device=device)
    assert isinstance(loaded, tuple)  # return_transform=True: (model, preprocess)
    model, preprocess = loaded
    tokenizer = clipzoo.get_tokenizer(MODEL_NAME)
    return model.eval(), preprocess, tokenizer, time.perf_counter() - start


def _digit_prompt(template: str, classname: str) -> str:
    # Some templates use the numeral ("the number {n}."), which str.format on the class word cannot give.
    return render_prompt(template, DIGIT_CLASSNAMES.index(classname))


def digit_templates() -> list[Callable[[str], str]]:
    """DIGIT_TEMPLATES as callables ``classname -> prompt`` for the zero-shot helpers."""
    return [functools.partial(_digit_prompt, template) for template in DIGIT_TEMPLATES]


def classify(
    model: Any, preprocess: Callable, tokenizer: Callable, images: Sequence
) -> list[tuple[int, float]]:
    """(predicted digit, its probability) for each PIL image, against the prompts of all ten digits."""
    classnames = list(DIGIT_CLASSNAMES)
    classifier = clipzoo.build_zero_shot_classifier(model, tokenizer, classnames, digit_templates())
    top1 = clipzoo.zero_shot_classify(
        model, list(images), classnames, preprocess=preprocess, top_k=1, classifier=classifier, batch_size=128
    )
    return [(classnames.index(preds[0][0]), preds[0][1]) for preds in top1]


# ----------------------------------------------------------------------------------------------- picture


def grid_size(count: int) -> tuple[int, int]:
    """(width, height) in pixels of the grid showing ``count`` digits (at most GRID_ROWS x GRID_COLS)."""
    rows = max(1, min(GRID_ROWS, math.ceil(count / GRID_COLS)))
    return GRID_COLS * CELL_W, TITLE_H + rows * CELL_H


def cell_box(index: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the ``index``-th digit's picture in the grid."""
    row, col = divmod(index, GRID_COLS)
    left, top = col * CELL_W + PAD, TITLE_H + row * CELL_H + PAD
    return left, top, left + DIGIT_PX, top + DIGIT_PX


def draw_grid(images: Sequence, labels: Sequence[int], preds: Sequence[int], title: str) -> Any:
    """A PIL image of the first digits, captioned "true/pred"; mistakes framed and captioned in red."""
    from PIL import Image, ImageDraw, ImageFont

    count = min(len(images), GRID_ROWS * GRID_COLS)
    canvas = Image.new("RGB", grid_size(count), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    draw.text((PAD, TITLE_H // 2), title, fill=INK, font=font, anchor="lm")
    for i in range(count):
        left, top, right, bottom = cell_box(i)
        canvas.paste(images[i].resize((DIGIT_PX, DIGIT_PX), Image.Resampling.NEAREST), (left, top))
        wrong = labels[i] != preds[i]
        if wrong:
            draw.rectangle(
                (left - BORDER, top - BORDER, right + BORDER - 1, bottom + BORDER - 1),
                outline=MISTAKE,
                width=BORDER,
            )
        caption_y = bottom + PAD // 2 + CAPTION_H // 2
        draw.text(
            ((left + right) // 2, caption_y),
            f"{labels[i]}/{preds[i]}",
            fill=MISTAKE if wrong else INK,
            font=font,
            anchor="mm",
        )
    return canvas


def write_png(image: Any, path: Path) -> Path:
    """Save ``image`` as PNG at ``path`` atomically (temporary file in the same folder, then rename)."""
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            image.save(handle, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------------------------- the tour


def prediction_lines(labels: Sequence[int], preds: Sequence[tuple[int, float]]) -> list[str]:
    """The first few predictions and the first few mistakes, as text."""
    lines = ["predictions (true -> predicted, probability):"]
    for i, (pred, prob) in enumerate(preds[:SHOWN_PREDICTIONS]):
        lines.append(
            f"  #{i:<3d} {labels[i]} -> {pred}  {prob:.2f}  {'ok' if pred == labels[i] else 'WRONG'}"
        )
    # Mistakes beyond the rows already shown, so a newcomer sees what the model gets wrong.
    mistakes = [i for i, (p, _) in enumerate(preds) if p != labels[i] and i >= SHOWN_PREDICTIONS]
    if mistakes:
        shown = ", ".join(
            f"#{i} {labels[i]} -> {preds[i][0]} ({preds[i][1]:.2f})" for i in mistakes[:SHOWN_MISTAKES]
        )
        more = f" and {len(mistakes) - SHOWN_MISTAKES} more" if len(mistakes) > SHOWN_MISTAKES else ""
        other = any(p != y for (p, _), y in zip(preds[:SHOWN_PREDICTIONS], labels))
        lines.append(f"{'other mistakes' if other else 'mistakes'}: {shown}{more}")
    return lines


def _load_stage(device: str, echo: Callable[[str], Any]) -> tuple[Built, dict[str, Any]]:
    """Check the packaged files, then build model, transform and tokenizer; ((model, ...), facts)."""
    weights, heldout = packaged_files()
    import_s = import_torch()
    model, preprocess, tokenizer, build_s = load_embedded(device)
    params = sum(p.numel() for p in model.parameters())
    echo(
        f"model: {MODEL_NAME} / {TAG}, {params:,} parameters, built with its eval transform and tokenizer in "
        f"{build_s:.2f} s (+ {import_s:.1f} s importing torch) from {weights.name}"
    )
    facts = {"weights": str(weights), "heldout": str(heldout), "parameters": params,
             "import_seconds": import_s, "build_seconds": build_s}  # fmt: skip
    return (model, preprocess, tokenizer), facts


def _classify_stage(
    built: Built, limit: int | None, echo: Callable[[str], Any]
) -> tuple[list, dict[str, Any]]:
    """Classify the first ``limit`` held-out digits; (images, facts with accuracy and predictions)."""
    images, labels = load_heldout()
    images, labels = images[:limit], labels[:limit]
    echo(
        f"prompts: {len(DIGIT_TEMPLATES)} per digit, e.g. {render_prompt(DIGIT_TEMPLATES[0], 7)!r}, "
        f"{render_prompt(DIGIT_TEMPLATES[2], 7)!r}"
    )
    start = time.perf_counter()
    preds = classify(*built, images)
    classify_s = time.perf_counter() - start
    correct = sum(p == y for (p, _), y in zip(preds, labels))
    echo(
        f"held-out zero-shot accuracy: {100 * correct / len(labels):.1f}% ({correct}/{len(labels)}) "
        f"in {classify_s:.2f} s"
    )
    for line in prediction_lines(labels, preds):
        echo(line)
    rows = [
        {"index": i, "true": y, "pred": p, "prob": prob}
        for i, ((p, prob), y) in enumerate(zip(preds, labels))
    ]
    facts = {"classify_seconds": classify_s, "accuracy": correct / len(labels), "correct": correct,
             "total": len(labels), "predictions": rows}  # fmt: skip
    return images, facts


def run(
    out: str | Path = DEFAULT_OUT,
    limit: int | None = None,
    device: str = "cpu",
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run the whole demo, reporting progress through ``echo``; returns a machine-readable summary."""
    if limit is not None and limit < 1:
        raise DemoError(f"limit must be at least 1, got {limit}")
    check_output_file(out, ["png"], create_parents=True, what="demo picture")  # before the work, not after
    registry = describe_registry()
    for line in registry_lines(registry):
        echo(line)
    built, load_facts = _load_stage(device, echo)
    images, result = _classify_stage(built, limit, echo)
    rows = result["predictions"]
    title = (
        f"{MODEL_NAME} zero-shot, held-out digits: {100 * result['accuracy']:.1f}% "
        f"({result['correct']}/{result['total']});  true/pred, red = mistake"
    )
    grid = draw_grid(images, [r["true"] for r in rows], [r["pred"] for r in rows], title)
    png = write_png(grid, Path(out))
    echo(f"wrote {min(len(images), GRID_ROWS * GRID_COLS)} digits to {png}")
    return {
        "model": MODEL_NAME,
        "pretrained": TAG,
        "registry": registry,
        **load_facts,
        **result,
        "png": str(png),
    }

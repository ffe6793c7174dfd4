"""Prompt templates: the named template sets, the template-file reader and the one validator of templates and
labels that the torch path (:mod:`clipzoo.zero_shot.classifier`) and the ONNX runtime both call (stdlib only).
"""

from __future__ import annotations

import os
import string
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .imagenet import OPENAI_IMAGENET_TEMPLATES, SIGLIP_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

# Audio-text (CLAP) prompts: open_clip main's audio zero-shot default and its alternative set.
AUDIO_TEMPLATES: tuple[str, ...] = ("This is a sound of {}.",)
AUDIO_TEMPLATES_ALT: tuple[str, ...] = (
    "A sound of {}.", "The sound of {}.", "Audio of {}.", "A recording of {}.", "The sound of a {}.",
    "This is a sound of {}.",
)  # fmt: skip

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "openai": OPENAI_IMAGENET_TEMPLATES,
    "simple": SIMPLE_IMAGENET_TEMPLATES,
    "siglip": SIGLIP_TEMPLATES,
    "audio": AUDIO_TEMPLATES,
    "audio_alt": AUDIO_TEMPLATES_ALT,
}


def read_template_lines(path: str | os.PathLike, error: type[Exception] = ValueError) -> list[str]:
    """Templates from a text file, one per line; blank and ``#`` lines are skipped.

    Args:
        path: The text file.
        error: The exception class raised for a missing or empty file (each caller's own input error).

    Returns:
        The templates, in file order (their ``{}`` slots are not checked here).

    Raises:
        error: the file does not exist or holds no template.
    """
    path = Path(path)
    if not path.is_file():
        raise error(
            f"templates {str(path)!r} is neither a template set ({', '.join(TEMPLATE_SETS)}) nor a file"
        )
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    templates = [line for line in lines if line and not line.startswith("#")]
    if not templates:
        raise error(f"templates file {str(path)!r} has no templates (one per line, with '{{}}')")
    return templates


def _slot_problem(template: str) -> str | None:
    """Why ``template`` is not a template with exactly one ``{}`` slot, or None when it is one."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as err:  # a lone '{' or '}'
        return f"is not a valid format string ({err}; write a literal brace as '{{{{' or '}}}}')"
    if len(fields) != 1:
        return f"must contain exactly one '{{}}' (the label's place), found {len(fields)}"
    if fields[0] not in ("", "0"):
        return f"has the slot '{{{fields[0]}}}'; use '{{}}' for the label"
    return None


def check_templates(templates: Any, error: type[Exception] = ValueError) -> list[str | Callable[[str], str]]:
    """Check prompt templates: a non-empty list of strings with exactly one ``{}`` each, or callables.

    Args:
        templates: The templates (``'a photo of a {}.'`` strings, or callables ``label -> prompt`` as open_clip
            accepts).
        error: The exception class raised (each caller's own input error).

    Returns:
        The templates as a list.

    Raises:
        error: not a list or tuple, empty, or a template that is neither a callable nor a string with exactly one
            ``{}`` slot (the message quotes it and says what is wrong).
    """
    if isinstance(templates, str) or not isinstance(templates, Sequence):
        raise error(
            f"templates must be a list or tuple of strings, got {type(templates).__name__}: {templates!r:.80}"
        )
    if not templates:
        raise error("templates is empty; give at least one template with '{}' for the label")
    for i, template in enumerate(templates):
        if callable(template):
            continue
        problem = (
            _slot_problem(template)
            if isinstance(template, str)
            else f"is a {type(template).__name__}, not a string"
        )
        if problem:
            raise error(f"template {i + 1} {template!r} {problem}, e.g. 'a photo of a {{}}.'")
    return list(templates)


def check_labels(labels: Any, error: type[Exception] = ValueError) -> list[str]:
    """Check class labels: a non-empty list of distinct, non-blank strings.

    Args:
        labels: The labels.
        error: The exception class raised (each caller's own input error).

    Returns:
        The labels as a list.

    Raises:
        error: not a list or tuple, empty, a blank or non-string entry, or a duplicate.
    """
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise error(f"labels must be a list or tuple of strings, got {type(labels).__name__}: {labels!r:.80}")
    if not labels:
        raise error("labels is empty; give at least one label")
    blank = [i for i, label in enumerate(labels) if not isinstance(label, str) or not label.strip()]
    if blank:
        raise error(f"labels must be non-empty strings; bad entries at positions {blank}")
    duplicates = sorted(label for label, count in Counter(labels).items() if count > 1)
    if duplicates:
        raise error(f"duplicate labels {duplicates}; each label must appear once")
    return list(labels)



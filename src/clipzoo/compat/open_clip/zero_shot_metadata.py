"""open_clip's zero-shot metadata as open_clip holds it: the prompt templates are callables ``classname -> prompt``.

clipzoo's own ``clipzoo.OPENAI_IMAGENET_TEMPLATES`` are format strings (its API takes both); programs written for
open_clip call each template (``[t(c) for t in OPENAI_IMAGENET_TEMPLATES]``), so the alias serves these. Each is
the bound ``str.format`` of clipzoo's template: the same prompt for the same class name, and picklable (worker
processes receive them), unlike a lambda.
"""

from __future__ import annotations

from collections.abc import Callable

from ...zero_shot import imagenet

__all__ = ["IMAGENET_CLASSNAMES", "OPENAI_IMAGENET_TEMPLATES", "SIMPLE_IMAGENET_TEMPLATES"]

IMAGENET_CLASSNAMES: tuple[str, ...] = imagenet.IMAGENET_CLASSNAMES
OPENAI_IMAGENET_TEMPLATES: tuple[Callable[[str], str], ...] = tuple(
    t.format for t in imagenet.OPENAI_IMAGENET_TEMPLATES
)
SIMPLE_IMAGENET_TEMPLATES: tuple[Callable[[str], str], ...] = tuple(
    t.format for t in imagenet.SIMPLE_IMAGENET_TEMPLATES
)

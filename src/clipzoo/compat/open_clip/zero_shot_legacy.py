"""open_clip's one-class-at-a-time zero-shot classifier builder and its ``batched`` helper.

:func:`clipzoo.zero_shot.classifier.build_zero_shot_classifier` is the batched builder; this is the older loop that
encodes one class's prompts per forward pass (kept because code written for open_clip calls it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

__all__ = ["batched", "build_zero_shot_classifier_legacy"]


def batched(iterable: Iterable, n: int) -> Iterator[list]:
    """Lists of ``n`` consecutive items of ``iterable``; the last one may be shorter."""
    it = iter(iterable)
    while batch := list(islice(it, n)):
        yield batch


def _check_inputs(classnames: Sequence[str], templates: Sequence[Callable | str]) -> None:
    for what, value in (("templates", templates), ("classnames", classnames)):
        if not isinstance(value, Sequence) or len(value) == 0:
            raise ValueError(f"{what} must be a non-empty sequence, got {value!r}")


def build_zero_shot_classifier_legacy(
    model: Any,
    tokenizer: Callable[[list[str]], Any],
    classnames: Sequence[str],
    templates: Sequence[Callable | str],
    device: Any = "cpu",
    use_tqdm: bool = False,
) -> Any:
    """Zero-shot classifier weights ``[embed_dim, num_classes]``, one class per forward pass.

    Each class's prompts (``template.format(name)`` for strings, ``template(name)`` for callables) are
    encoded, L2-normalized, averaged and normalized again.

    Args:
        model: A CLIP-family model with ``encode_text``.
        tokenizer: Maps a list of prompts to token ids.
        classnames: The class names, in label order.
        templates: Format strings or callables producing one prompt per class name.
        device: Device the token ids and the result are moved to.
        use_tqdm: Show a progress bar over the classes.

    Returns:
        A float tensor ``[embed_dim, num_classes]`` on ``device``: one unit-norm column per class.

    Raises:
        ValueError: ``classnames`` or ``templates`` is empty or not a sequence.
    """
    import torch
    import torch.nn.functional as F

    _check_inputs(classnames, templates)
    names: Iterable[str] = classnames
    if use_tqdm:
        import tqdm

        names = tqdm.tqdm(classnames)
    columns = []
    with torch.no_grad():
        for name in names:
            texts = [t.format(name) if isinstance(t, str) else t(name) for t in templates]
            embeddings = model.encode_text(tokenizer(texts).to(device))
            column = F.normalize(embeddings, dim=-1).mean(dim=0)
            columns.append(column / column.norm())
    return torch.stack(columns, dim=1).to(device)

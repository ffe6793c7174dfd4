"""Helpers for ``forward_intermediates`` / ``prune_intermediate_layers`` (open_clip's and timm's feature API).

A tower's ``forward_intermediates`` returns the outputs of chosen blocks (``indices``: the last n blocks for an int,
those positions for a list, negative positions count from the end, all blocks for None) next to its final features;
``prune_intermediate_layers`` drops the blocks (and optionally the norm and head) that no requested block needs.
"""

from __future__ import annotations

import torch

from ..errors import InputError

IMAGE_OUTPUT_FORMATS = ("NCHW", "NLC")


class IntermediatesError(InputError, ValueError):
    """Intermediate features were asked for with indices, a format or inputs the model cannot serve."""


def feature_take_indices(
    num_features: int, indices: int | list[int] | tuple[int, ...] | None = None, as_set: bool = False
) -> tuple[list[int] | set[int], int]:
    """Absolute positions of the blocks to take, and the largest of them.

    Args:
        num_features: How many blocks (or stages) there are to choose from.
        indices: None for all; an int n for the last n; a sequence of positions (negative ones count from the end).
        as_set: Return the positions as a set instead of a list.

    Returns:
        (positions in ascending order of the request, the largest position).

    Raises:
        IntermediatesError: ``indices`` asks for no block or for a block that does not exist.
    """
    if indices is None:
        indices = num_features
    if isinstance(indices, int):
        if not 0 < indices <= num_features:
            raise IntermediatesError(
                f"last-n indices={indices} is out of range: this tower has {num_features} blocks "
                f"(use 1 to {num_features}, or a list of block positions)"
            )
        take = [num_features - indices + i for i in range(indices)]
    else:
        take = []
        for index in indices:
            position = num_features + index if index < 0 else index
            if not 0 <= position < num_features:
                raise IntermediatesError(
                    f"block index {index} is out of range for a tower of {num_features} blocks "
                    f"(use 0 to {num_features - 1}, or -{num_features} to -1)"
                )
            take.append(position)
        if not take:
            raise IntermediatesError("indices is an empty list: name at least one block")
    return (set(take) if as_set else take), max(take)


def check_output_fmt(output_fmt: str, allowed: tuple[str, ...], tower: str) -> None:
    """Raise unless ``output_fmt`` is one of the layouts ``tower`` can return."""
    if output_fmt not in allowed:
        raise IntermediatesError(
            f"output_fmt={output_fmt!r} is not available for {tower} intermediates; use {' or '.join(allowed)}"
        )


def tokens_to_nchw(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H*W, C) patch tokens -> (B, C, H, W) feature map (contiguous)."""
    return tokens.reshape(tokens.shape[0], height, width, -1).permute(0, 3, 1, 2).contiguous()

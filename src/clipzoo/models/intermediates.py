"""Helpers for ``forward_intermediates`` / ``prune_intermediate_layers`` (open_clip's and timm's feature API).

A tower's ``forward_intermediates`` returns the outputs of chosen blocks (``indices``: the last n blocks for an int,
those positions for a list, negative positions count from the end, all blocks for None) next to its final features;
``prune_intermediate_layers`` drops the blocks (and optionally the norm and head) that no requested block needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeGuard, overload

import torch
from torch import nn

from ..errors import IntermediatesError

if TYPE_CHECKING:
    from .transformer import Transformer

IMAGE_OUTPUT_FORMATS = ("NCHW", "NLC")


@overload
def feature_take_indices(
    num_features: int, indices: int | list[int] | tuple[int, ...] | None = None, as_set: Literal[False] = False
) -> tuple[list[int], int]: ...
@overload
def feature_take_indices(
    num_features: int, indices: int | list[int] | tuple[int, ...] | None, as_set: Literal[True]
) -> tuple[set[int], int]: ...
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


@dataclass(frozen=True)
class IntermediatesRequest:
    """The options of one ``forward_intermediates`` call, as a tower receives them.

    Attributes:
        indices: Last n blocks for an int, those positions for a list (negative from the end), all for None.
        stop_early: Stop after the last selected block.
        normalize: Apply the tower's final norm to every intermediate.
        only: Return only the intermediates (no final features).
        output_fmt: 'NCHW' feature maps or 'NLC' tokens.
        extra_tokens: Also return the class/prefix tokens of each selected block.
    """

    indices: int | list[int] | None = None
    stop_early: bool = False
    normalize: bool = False
    only: bool = False
    output_fmt: str = "NCHW"
    extra_tokens: bool = False

    def apply_to(self, tower: IntermediatesTower, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``tower.forward_intermediates(x, ...)`` with these options.

        Args:
            tower: Any tower with open_clip's ``forward_intermediates``.
            x: The tower's input.

        Returns:
            The tower's output dict.
        """
        return tower.forward_intermediates(
            x,
            indices=self.indices,
            stop_early=self.stop_early,
            normalize_intermediates=self.normalize,
            intermediates_only=self.only,
            output_fmt=self.output_fmt,
            output_extra_tokens=self.extra_tokens,
        )


class IntermediatesTower(Protocol):
    """A tower with open_clip's ``forward_intermediates`` (its input is ``x`` on image towers, ``text`` on text)."""

    # any parameters: the towers name the input ``x`` (image) or ``text``; IntermediatesRequest.apply_to passes
    # FeatureTower.forward_intermediates's keywords
    def forward_intermediates(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor | list[torch.Tensor]]: ...


class PrunableTower(Protocol):
    """A tower with open_clip's ``prune_intermediate_layers``."""

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]: ...


class TransformerOwner(Protocol):
    """A module whose blocks are a ``transformer`` (a ViT, a text tower, or a CLIP with top-level text modules)."""

    transformer: Transformer


def has_intermediates(tower: object) -> TypeGuard[IntermediatesTower]:
    """Whether ``tower`` has ``forward_intermediates`` (a duck-typed check, as hasattr)."""
    return hasattr(tower, "forward_intermediates")


def is_prunable(tower: object) -> TypeGuard[PrunableTower]:
    """Whether ``tower`` has ``prune_intermediate_layers`` (a duck-typed check, as hasattr)."""
    return hasattr(tower, "prune_intermediate_layers")


def has_transformer(module: object) -> TypeGuard[TransformerOwner]:
    """Whether ``module`` has a ``transformer`` (a duck-typed check, as hasattr)."""
    return hasattr(module, "transformer")


class FeatureTower:
    """Mixin: open_clip's and timm's feature API (``forward_intermediates``, ``prune_intermediate_layers``).

    A tower sets ``intermediate_formats`` (the ``output_fmt`` values it serves; None when its trunk checks) and
    ``intermediate_kind`` (for messages), and implements ``tower_intermediates(x, request)``. A tower whose blocks
    are a ``transformer`` names its final norm and projection (``final_norm_attr``, ``head_attr``); other towers
    implement ``prune_blocks(indices, prune_norm, prune_head)``.
    """

    intermediate_formats: tuple[str, ...] | None = IMAGE_OUTPUT_FORMATS
    if TYPE_CHECKING:  # set on image towers by the loaders (open_clip's attributes)
        image_mean: tuple[float, ...]
        image_std: tuple[float, ...]
    intermediate_kind = "image"
    final_norm_attr = "ln_post"
    head_attr = "proj"

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        stop_early: bool = False,
        normalize_intermediates: bool = False,
        intermediates_only: bool = False,
        output_fmt: str = "NCHW",
        output_extra_tokens: bool = False,
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Block outputs of the tower, and its final features (open_clip's and timm's feature API).

        Args:
            x: The tower's input: images (B, 3, H, W) or token ids (B, L).
            indices: Last n blocks for an int, those positions for a list (negative from the end), all for None.
            stop_early: Stop after the last selected block (the features then pool that block's output).
            normalize_intermediates: Apply the tower's final norm to every intermediate.
            intermediates_only: Return only the intermediates.
            output_fmt: 'NCHW' (B, C, H, W) feature maps or 'NLC' (B, L, C) tokens, as the tower serves them
                (``intermediate_formats``; text serves 'NLC' only, though open_clip's default is 'NCHW').
            output_extra_tokens: Also return the class/prefix tokens of each selected block
                (``image_intermediates_prefix`` / ``text_intermediates_suffix``).

        Returns:
            ``image_intermediates`` or ``text_intermediates`` (a list of tensors), the optional extra tokens, and
            unless ``intermediates_only`` the projected ``image_features`` / ``text_features``.

        Raises:
            IntermediatesError: an ``output_fmt`` the tower does not serve, out-of-range ``indices``, or options the
                tower cannot honour (see its ``tower_intermediates``).
        """
        if self.intermediate_formats is not None:
            check_output_fmt(output_fmt, self.intermediate_formats, self.intermediate_kind)
        request = IntermediatesRequest(
            indices, stop_early, normalize_intermediates, intermediates_only, output_fmt, output_extra_tokens
        )
        return self.tower_intermediates(x, request)

    def tower_intermediates(
        self, x: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """The tower's own ``forward_intermediates`` for the checked ``request`` (each tower implements it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement tower_intermediates")

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the blocks after the last selected one (open_clip's signature).

        Args:
            indices: The blocks still needed: the last n for an int, those positions for a list (negative from the
                end).
            prune_norm: Also drop the final norm.
            prune_head: Also drop the projection head (the features are then the tower's width).

        Returns:
            The absolute positions ``indices`` selects.

        Raises:
            IntermediatesError: ``indices`` selects no block or one that does not exist.
        """
        return self.prune_blocks(indices, prune_norm, prune_head)

    def prune_blocks(self, indices: int | list[int], prune_norm: bool, prune_head: bool) -> list[int]:
        """``prune_intermediate_layers`` of a transformer tower: its ``final_norm_attr`` and ``head_attr`` go.

        Args:
            indices: The blocks still needed.
            prune_norm: Replace the final norm by an identity.
            prune_head: Drop the projection.

        Returns:
            The absolute positions ``indices`` selects.
        """
        norm, head = self.final_norm_attr, self.head_attr
        assert has_transformer(self), f"{type(self).__name__} has no transformer: override prune_blocks"
        return prune_transformer_tower(self, indices, prune_norm, prune_head, norm, head)


def prune_transformer_tower(
    owner: TransformerOwner, indices: int | list[int], prune_norm: bool, prune_head: bool, norm: str, head: str
) -> list[int]:
    """Prune ``owner.transformer`` to the selected blocks; replace its final norm by an identity, its head by None.

    Args:
        owner: A module with a ``transformer`` (a ViT, a text tower, or a CLIP with top-level text modules).
        indices: The blocks still needed (last n for an int, positions for a list).
        prune_norm: Replace the attribute named ``norm`` by ``nn.Identity()``.
        prune_head: Set the attribute named ``head`` to None.
        norm: The final norm's attribute name.
        head: The projection's attribute name.

    Returns:
        The absolute positions ``indices`` selects.

    Raises:
        IntermediatesError: ``indices`` selects no block or one that does not exist.
    """
    take = owner.transformer.prune_intermediate_layers(indices)
    if prune_norm:
        setattr(owner, norm, nn.Identity())
    if prune_head:
        setattr(owner, head, None)
    return take

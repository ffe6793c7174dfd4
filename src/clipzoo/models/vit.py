"""The native Vision Transformer image tower (OpenAI CLIP layout, with open_clip's options)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..sizes import to_hw
from .intermediates import (
    FeatureTower,
    IntermediatesError,
    IntermediatesRequest,
    tokens_to_nchw,
)
from .layers import LayerNorm, PatchDropout
from .pos_interp import check_image_size, resize_position_grid
from .transformer import DEFAULT_ATTN, AttentionalPooler, AttnOptions, Transformer


def sincos_2d_position_embedding(width: int, grid: int, class_token: bool = True) -> torch.Tensor:
    """Fixed 2-D sine-cosine position table (MAE/MoCo-v3 layout: first half encodes rows, second columns)."""
    if width % 4:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {width}")
    quarter = width // 4
    freqs = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    coords = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * freqs
        return torch.cat((angles.sin(), angles.cos()), dim=1)

    # the reference meshgrid puts the column index first, so its "h" half encodes columns
    table = torch.cat((encode(cols), encode(rows)), dim=1)
    if class_token:
        table = torch.cat((torch.zeros(1, width, dtype=table.dtype), table), dim=0)
    return table.float()


class VisionTransformer(FeatureTower, nn.Module):
    """Patchify, add class token and positions, run a transformer, pool, project.

    ``forward`` returns pooled features (B, output_dim), or ``(pooled, tokens)`` when ``output_tokens``.
    """

    __constants__ = ["output_tokens"]  # TorchScript compiles only the branch the flag selects
    intermediate_kind = "ViT image"

    def __init__(
        self,
        image_size: int | Sequence[int],
        patch_size: int | Sequence[int],
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float,
        ls_init_value: float | None = None,
        attentional_pool: bool = False,
        attn_pooler_queries: int = 256,
        attn_pooler_heads: int = 8,
        output_dim: int = 512,
        patch_dropout: float = 0.0,
        no_ln_pre: bool = False,
        pos_embed_type: str = "learnable",
        pool_type: str = "tok",
        final_ln_after_pool: bool = False,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        output_tokens: bool = False,
        block_type: str | None = None,
        attn_options: AttnOptions = DEFAULT_ATTN,
        pooler_norm_layer: Callable[[int], nn.Module] = LayerNorm,
    ) -> None:
        super().__init__()
        if pool_type not in ("tok", "avg", "none"):
            raise ValueError(f"vision pool_type must be 'tok', 'avg' or 'none', got {pool_type!r}")
        if attentional_pool and not isinstance(attentional_pool, bool):
            raise ValueError(f"attentional_pool must be true or false, got {attentional_pool!r}")
        self.output_tokens = output_tokens
        self.image_size = to_hw(image_size)
        self.patch_size = to_hw(patch_size)
        self.grid_size = (self.image_size[0] // self.patch_size[0], self.image_size[1] // self.patch_size[1])
        self.final_ln_after_pool = final_ln_after_pool
        self.output_dim = output_dim
        self.pool_type = pool_type
        # False: the last block computes every token, as open_clip does; optimize_for_inference sets True
        self.fast_inference = False
        num_positions = self.grid_size[0] * self.grid_size[1] + 1

        scale = width**-0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=self.patch_size, stride=self.patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = self._position_embedding(pos_embed_type, num_positions, width, scale)
        self.patch_dropout = PatchDropout(patch_dropout) if patch_dropout > 0.0 else nn.Identity()
        self.ln_pre = nn.Identity() if no_ln_pre else norm_layer(width)
        self.transformer = Transformer(
            width, layers, heads, mlp_ratio, ls_init_value, act_layer, norm_layer, block_type, attn_options
        )
        self.attn_pool_type = ""
        self.attn_pool_contrastive = None
        if attentional_pool:
            # open_clip's pooler ignores the tower's norm_kwargs; a float32-computing norm (passed by the builder under
            # low precision) keeps it usable in bf16/fp16
            self.attn_pool: AttentionalPooler | None = AttentionalPooler(
                output_dim, width, attn_pooler_heads, attn_pooler_queries, norm_layer=pooler_norm_layer
            )
            pool_dim = output_dim
        else:
            self.attn_pool = None
            pool_dim = width
        self.ln_post = norm_layer(pool_dim)
        self.proj = nn.Parameter(scale * torch.randn(pool_dim, output_dim))

    def _position_embedding(self, kind: str, num_positions: int, width: int, scale: float) -> nn.Parameter:
        if kind == "learnable":
            return nn.Parameter(scale * torch.randn(num_positions, width))
        if kind == "sin_cos_2d":
            if self.grid_size[0] != self.grid_size[1]:
                raise ValueError(f"sin_cos_2d position embedding needs a square grid, got {self.grid_size}")
            table = sincos_2d_position_embedding(width, self.grid_size[0])
            return nn.Parameter(table.to(torch.get_default_device()), requires_grad=False)
        raise ValueError(f"pos_embed_type must be 'learnable' or 'sin_cos_2d', got {kind!r}")

    # ----- training helpers -----
    def lock(self, unlocked_groups: int = 0, freeze_bn_stats: bool = False) -> None:
        """Freeze the tower (LiT); keep the last ``unlocked_groups`` groups trainable."""
        for param in self.parameters():
            param.requires_grad = False
        if unlocked_groups == 0:
            return
        blocks: list[nn.Module | nn.Parameter] = list(self.transformer.resblocks)
        groups: list[list[nn.Module | nn.Parameter]] = [
            [self.conv1, self.class_embedding, self.positional_embedding, self.ln_pre],
            *[[block] for block in blocks[:-1]],
            [blocks[-1], self.ln_post],
            [self.proj],
        ]
        for group in groups[-unlocked_groups:]:
            for item in (i for i in group if i is not None):  # proj is None once the head is pruned
                params = [item] if isinstance(item, nn.Parameter) else item.parameters()
                for param in params:
                    param.requires_grad = True

    def init_parameters(self) -> None:
        """Nothing to redo: open_clip 3.3.0's is empty too (the tower keeps the init it was built with)."""

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable activation checkpointing in the transformer."""
        self.transformer.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        """Parameters that optimizers should not decay."""
        return {"positional_embedding", "class_embedding"}

    # ----- forward -----
    def embed(self, image: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        """Image (B, 3, H, W) -> token sequence (B, 1 + grid, width) after ln_pre; ``interpolate_pos_encoding``
        resizes the position grid to the image's (transformers' arithmetic, :mod:`clipzoo.models.pos_interp`)."""
        check_image_size(image, self.image_size, min(self.patch_size[0], self.patch_size[1]), interpolate_pos_encoding)
        x = self.conv1(image)
        positions: torch.Tensor = self.positional_embedding
        if interpolate_pos_encoding:
            grid = (int(x.shape[2]), int(x.shape[3]))
            positions = resize_position_grid(positions, (self.grid_size[0], self.grid_size[1]), grid, 1)
        x = x.flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat((cls, x), dim=1) + positions.to(x.dtype)
        return self.ln_pre(self.patch_dropout(x))

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pool_type == "tok":
            return x[:, 0], x[:, 1:]
        if self.pool_type == "avg":
            return x[:, 1:].mean(dim=1), x[:, 1:]
        return x, x

    def pool(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Transformer output -> (pooled, tokens), before the projection."""
        if self.attn_pool is not None:  # open_clip's CoCa layout: pool with queries, then norm, then split
            return self._split(self.ln_post(self.attn_pool(x)))
        if self.final_ln_after_pool:
            pooled, tokens = self._split(x)
            return self.ln_post(pooled), tokens
        return self._split(self.ln_post(x))

    def _class_token_only(self) -> bool:
        # the pooled feature is the class token's alone, so the last block need not compute the patch tokens
        return self.fast_inference and self.pool_type == "tok" and self.attn_pool is None and not self.output_tokens

    def tower_intermediates(
        self, x: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``forward_intermediates`` of the ViT: patch tokens without the class token (that is the extra token).

        Args:
            x: Images (B, 3, H, W).
            request: The call's options; ``normalize`` applies ``ln_post``.

        Returns:
            ``image_intermediates``, optionally ``image_intermediates_prefix`` ((B, 1, width) each), and unless
            ``request.only`` the projected ``image_features``.

        Raises:
            IntermediatesError: out-of-range indices, or ``normalize`` with an attention pooler (its norm has the
                pooler's width).
        """
        if request.normalize and self.attn_pool is not None:
            raise IntermediatesError(
                "normalize_intermediates=True is not available for this tower: its final norm (ln_post) "
                f"normalizes the attention pooler's {self.output_dim}-d output, not the "
                f"{self.transformer.width}-d block outputs"
            )
        height, width = x.shape[-2:]
        x, intermediates = self.transformer.forward_intermediates(
            self.embed(x), indices=request.indices, stop_early=request.stop_early
        )
        if request.normalize:
            intermediates = [self.ln_post(y) for y in intermediates]
        prefix = [y[:, :1] for y in intermediates]
        intermediates = [y[:, 1:] for y in intermediates]
        if request.output_fmt == "NCHW":
            grid = (height // self.patch_size[0], width // self.patch_size[1])
            intermediates = [tokens_to_nchw(y, *grid) for y in intermediates]
        output: dict[str, torch.Tensor | list[torch.Tensor]] = {"image_intermediates": intermediates}
        if request.extra_tokens:
            output["image_intermediates_prefix"] = prefix
        if request.only:
            return output
        pooled, _ = self.pool(x)
        output["image_features"] = pooled @ self.proj if self.proj is not None else pooled
        return output

    def _project(self, pooled: torch.Tensor) -> torch.Tensor:
        return pooled @ self.proj if self.proj is not None else pooled

    # no return annotation: with ``output_tokens`` a TorchScript constant, scripting sees one return type
    def forward(
        self, x: torch.Tensor, interpolate_pos_encoding: bool = False
    ):  # -> Tensor, or (Tensor, Tensor) when output_tokens
        """Encode images ``x`` to features (and tokens when ``output_tokens``); ``interpolate_pos_encoding`` runs
        images of another size than the trained one (multiples of the patch size). ``x`` is open_clip's name."""
        x = self.embed(x, interpolate_pos_encoding)
        if self.output_tokens:
            pooled, tokens = self.pool(self.transformer(x))
            return self._project(pooled), tokens
        if self._class_token_only():
            return self._project(
                self.ln_post(self.transformer(x, pool_index=x.new_zeros(x.shape[0], dtype=torch.long)))
            )
        return self._project(self.pool(self.transformer(x))[0])

"""Pre-norm transformer blocks computed with ``F.scaled_dot_product_attention``.

Parameter names follow open_clip (which follows OpenAI CLIP and ``nn.MultiheadAttention``): ``attn.in_proj_weight``,
``attn.in_proj_bias``, ``attn.out_proj``, ``ln_1``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``, ``ls_1``, ``ls_2``, so
checkpoints load unchanged, while the attention itself runs through one fused SDPA call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any, cast, overload

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..registry.config import BLOCK_SWITCHES
from .intermediates import feature_take_indices
from .layers import LayerNorm, LayerScale, owns_buffers


@dataclass(frozen=True)
class AttnOptions:
    """Options of the 'custom' block (NormFormer / Swin-v2 style); all off means the default block."""

    qk_norm: bool = False
    scaled_cosine: bool = False
    scale_heads: bool = False
    inner_norm: bool = False
    scale_attn: bool = False
    scale_fc: bool = False

    @property
    def any(self) -> bool:
        """True when at least one custom feature is on."""
        return any(astuple(self))

    @classmethod
    def from_config(cls, section: Any) -> AttnOptions:
        """The switches a tower config section (``VisionCfg``/``TextCfg``) sets, read by :data:`ATTN_SWITCHES`."""
        return cls(**{field: getattr(section, key) for key, field in ATTN_SWITCHES.items()})


# The AttnOptions fields named as open_clip's Attention names them, not as the config keys do.
_FIELD_OF_SWITCH = {"scaled_cosine_attn": "scaled_cosine", "scale_attn_inner": "inner_norm"}
# The config keys (open_clip's flat custom-attention arguments, ``vision_cfg``/``text_cfg`` keys: the config's
# BLOCK_SWITCHES) -> the AttnOptions field each sets.
ATTN_SWITCHES: dict[str, str] = {name: _FIELD_OF_SWITCH.get(name, name) for name in BLOCK_SWITCHES}

DEFAULT_ATTN = AttnOptions()  # all custom features off


def resolve_block_type(block_type: str | None, options: AttnOptions) -> str:
    """'default' or 'custom'; ``None`` picks 'custom' only when a custom feature is requested."""
    if block_type is None:
        return "custom" if options.any else "default"
    if block_type not in ("default", "custom"):
        raise ValueError(f"block_type must be 'default', 'custom' or null, got {block_type!r}")
    return block_type


class Attention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameter layout, computed with SDPA.

    ``kv_dim`` different from ``dim`` gives separate ``q/k/v_proj_weight`` (as ``nn.MultiheadAttention`` does);
    ``custom=True`` gives open_clip's custom ``Attention`` (its init and optional q/k norm, cosine attention,
    per-head scale and inner norm).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        kv_dim: int | None = None,
        custom: bool = False,
        options: AttnOptions = DEFAULT_ATTN,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        logit_scale_max: float = math.log(1.0 / 0.01),
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by {num_heads} heads")
        if options.scaled_cosine and options.qk_norm:
            raise ValueError("scaled_cosine_attn and qk_norm cannot both be enabled")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.custom = custom
        self.logit_scale_max = logit_scale_max
        kv_dim = dim if kv_dim is None else kv_dim
        self.packed = kv_dim == dim
        # the unused layout's names are None parameters (as in nn.MultiheadAttention): absent from the state dict,
        # and TorchScript resolves `is None` on them when it compiles, so only the used layout is compiled
        if self.packed:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = nn.Parameter(torch.empty(dim, dim))
            self.k_proj_weight = nn.Parameter(torch.empty(dim, kv_dim))
            self.v_proj_weight = nn.Parameter(torch.empty(dim, kv_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        shape = (num_heads, 1, 1)
        self.logit_scale = nn.Parameter(torch.empty(shape)) if options.scaled_cosine else None
        self.head_scale = nn.Parameter(torch.empty(shape)) if options.scale_heads else None
        self.ln_q = norm_layer(self.head_dim) if options.qk_norm else nn.Identity()
        self.ln_k = norm_layer(self.head_dim) if options.qk_norm else nn.Identity()
        self.ln_inner = norm_layer(dim) if options.inner_norm else nn.Identity()
        self.out_proj = nn.Linear(dim, dim)
        # the default layout computes what nn.MultiheadAttention computes (open_clip's numbers, bit for bit);
        # optimize_for_inference sets fast_inference, which runs SDPA on clipzoo's own batch-first projection
        self.mha_layout = not custom and not options.any
        self.fast_inference = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialize like the reference module this one replaces."""
        if self.custom:  # open_clip's custom Attention: scaled normal in_proj, default Linear out_proj
            nn.init.normal_(self.in_proj_weight, std=self.head_dim**-0.5)
            nn.init.zeros_(self.in_proj_bias)
            if self.logit_scale is not None:
                nn.init.constant_(self.logit_scale, math.log(10.0))
            if self.head_scale is not None:
                nn.init.ones_(self.head_scale)
            return
        # nn.MultiheadAttention: xavier-uniform projections, zero biases
        for weight in self.projection_weights():
            nn.init.xavier_uniform_(weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def projection_weights(self) -> list[nn.Parameter]:
        """The input projection weight(s): one packed matrix or three separate ones."""
        if self.packed:
            return [self.in_proj_weight]
        return [self.q_proj_weight, self.k_proj_weight, self.v_proj_weight]

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def _project(
        self, x: torch.Tensor, memory: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d, bias = self.dim, self.in_proj_bias
        if self.in_proj_weight is not None and memory is None:
            qkv = F.linear(x, self.in_proj_weight, bias).unflatten(-1, (3, self.num_heads, self.head_dim))
            qkv = qkv.permute(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        memory = x if memory is None else memory
        if self.in_proj_weight is not None:
            w_q, w_kv = self.in_proj_weight[:d], self.in_proj_weight[d:]
            q = F.linear(x, w_q, bias[:d])
            kv = F.linear(memory, w_kv, bias[d:])
            k, v = kv[..., :d], kv[..., d:]
        else:
            q = F.linear(x, self.q_proj_weight, bias[:d])
            k = F.linear(memory, self.k_proj_weight, bias[d : 2 * d])
            v = F.linear(memory, self.v_proj_weight, bias[2 * d :])
        return self._split_heads(q), self._split_heads(k), self._split_heads(v)

    def _cosine_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None):
        scores = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2)
        logit_scale = self.logit_scale
        assert logit_scale is not None  # only scaled-cosine attention calls this
        scores = scores * torch.clamp(logit_scale, max=self.logit_scale_max).exp()
        if mask is not None and mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        elif mask is not None:
            scores = scores + mask
        return scores.softmax(dim=-1) @ v

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Attend from ``x`` (B, L, D) to itself, or to ``memory`` (B, S, kv_dim) for cross-attention.

        ``attn_mask`` is additive (float) or boolean (True = may attend), broadcastable to (B, H, L, S).
        """
        if self.mha_layout and not self.fast_inference:
            return self.forward_mha(x, x if memory is None else memory, attn_mask, is_causal)
        q, k, v = self._project(x, memory)
        q, k = self.ln_q(q), self.ln_k(k)
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.to(q.dtype)
        if self.logit_scale is not None:
            if is_causal:
                attn_mask = causal_mask(q.shape[-2], q.device, q.dtype)
            out = self._cosine_attention(q, k, v, attn_mask)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        if self.head_scale is not None:
            out = out * self.head_scale
        out = self.ln_inner(out.transpose(1, 2).flatten(2))
        return self.out_proj(out)

    def _mha_mask(
        self, x: torch.Tensor, source: torch.Tensor, attn_mask: torch.Tensor | None, is_causal: bool
    ) -> torch.Tensor | None:
        """The mask as nn.MultiheadAttention takes it: additive float, (L, S) or (B * heads, L, S)."""
        length, batch = x.shape[1], x.shape[0]
        if is_causal:
            causal = causal_mask(length, x.device, x.dtype)
            attn_mask = causal if attn_mask is None else attn_mask + causal
        if attn_mask is None:
            return None
        if attn_mask.dtype == torch.bool:  # clipzoo's True = may attend
            attn_mask = torch.zeros(attn_mask.shape, device=x.device, dtype=x.dtype).masked_fill(
                ~attn_mask, float("-inf")
            )
        attn_mask = attn_mask.to(x.dtype)
        if attn_mask.dim() <= 2:
            return attn_mask
        full = attn_mask.expand(batch, self.num_heads, length, source.shape[1])
        return full.reshape(batch * self.num_heads, length, source.shape[1])

    def _mha_fast_path(self, x: torch.Tensor, memory: torch.Tensor) -> bool:
        # the conditions under which nn.MultiheadAttention.forward takes torch's fused kernel
        if self.training or x is not memory or self.in_proj_weight is None or self.num_heads % 2:
            return False
        if x.dtype != self.in_proj_weight.dtype or x.dtype != self.in_proj_bias.dtype:
            return False
        # not while tracing or exporting: a trace's checking run may take the other branch, and torch.export/ONNX
        # have no decomposition of the fused kernel
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return False
        if torch.is_autocast_enabled() or not torch.backends.mha.get_fastpath_enabled():
            return False
        weights = (x, self.in_proj_weight, self.in_proj_bias, self.out_proj.weight, self.out_proj.bias)
        return not (torch.is_grad_enabled() and any(t.requires_grad for t in weights))

    def forward_mha(
        self, x: torch.Tensor, memory: torch.Tensor, attn_mask: torch.Tensor | None, is_causal: bool = False
    ) -> torch.Tensor:
        """Batch-first attention computed with the very calls ``nn.MultiheadAttention`` makes (its fused kernel
        where it takes it, else ``F.multi_head_attention_forward`` on sequence-first views), as open_clip does."""
        mask = self._mha_mask(x, memory, attn_mask, is_causal)
        # open_clip's masks are additive floats, which keep nn.MultiheadAttention off its fused kernel
        if mask is None and self._mha_fast_path(x, memory):
            fused = torch._native_multi_head_attention(
                x,
                x,
                x,
                self.dim,
                self.num_heads,
                self.in_proj_weight,
                self.in_proj_bias,
                self.out_proj.weight,
                self.out_proj.bias,
                None,
                False,
                True,
                None,
            )
            return fused[0]
        query = x.transpose(1, 0)
        source = query if memory is x else memory.transpose(1, 0)
        out, _ = F.multi_head_attention_forward(
            query,
            source,
            source,
            self.dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            None,
            None,
            False,
            0.0,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            need_weights=False,
            attn_mask=mask,
            use_separate_proj_weight=not self.packed,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
        )
        return out.transpose(1, 0)


def causal_mask(
    size: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Additive causal mask: 0 on and below the diagonal, -inf above (OpenAI CLIP's text mask)."""
    return torch.full((size, size), float("-inf"), device=device, dtype=dtype).triu_(1)


def rebuild_meta_mask_after_load(module: nn.Module, incompatible_keys: object) -> None:
    """Load hook: a model built on the meta device gets real weights by ``load_state_dict(assign=True)``, but its
    non-persistent ``attn_mask`` is not in the checkpoint; recompute it on the weights' device."""
    mask = getattr(module, "attn_mask", None)
    if mask is not None and mask.is_meta and owns_buffers(module):
        module.init_non_persistent_buffers()


def init_block_weights(blocks: Any, width: int, layers: int) -> None:
    """open_clip's depth-scaled normal init of the blocks' attention and MLP weights (text towers, CoCa decoder)."""
    attn_std, fc_std = width**-0.5, (2 * width) ** -0.5
    proj_std = attn_std * (2 * layers) ** -0.5
    for block in blocks:
        nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
        nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
        nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)


class Mlp(nn.Module):
    """Two-layer MLP named ``c_fc``/``c_proj`` (OpenAI CLIP), with an optional inner norm (``ln``)."""

    def __init__(
        self, width: int, hidden: int, act_layer: Callable[[], nn.Module], norm_layer: Callable | None = None
    ) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, hidden)
        self.gelu = act_layer()
        self.ln = norm_layer(hidden) if norm_layer is not None else nn.Identity()
        self.c_proj = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, activate, (normalize), project back."""
        return self.c_proj(self.ln(self.gelu(self.c_fc(x))))


def _layer_scale(width: int, init_value: float | None) -> nn.Module:
    return LayerScale(width, init_value) if init_value is not None else nn.Identity()


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: ``x + ls_1(attn(ln_1(x)))`` then ``x + ls_2(mlp(ln_2(x)))``.

    ``cross_attention=True`` adds ``ln_1_kv`` and attends to a memory sequence (CoCa's decoder);
    ``block_type='custom'`` adds the optional norms of open_clip's CustomResidualAttentionBlock.
    """

    def __init__(
        self,
        width: int,
        heads: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        cross_attention: bool = False,
        block_type: str = "default",
        options: AttnOptions = DEFAULT_ATTN,
    ) -> None:
        super().__init__()
        custom = block_type == "custom"
        if custom and cross_attention:
            raise ValueError("cross-attention is only available with the default block type")
        self.ln_1 = norm_layer(width)
        self.attn = Attention(width, heads, custom=custom, options=options, norm_layer=norm_layer)
        self.ln_attn = norm_layer(width) if custom and options.scale_attn else nn.Identity()
        self.ls_1 = _layer_scale(width, ls_init_value)
        if cross_attention:
            self.ln_1_kv = norm_layer(width)
        self.ln_2 = norm_layer(width)
        fc_norm = norm_layer if custom and options.scale_fc else None
        self.mlp = Mlp(width, int(width * mlp_ratio), act_layer, fc_norm)
        self.ls_2 = _layer_scale(width, ls_init_value)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Apply the block; ``memory`` (cross-attention blocks only) is normalized by ``ln_1_kv`` first."""
        if hasattr(self, "ln_1_kv") and memory is not None:
            memory = self.ln_1_kv(memory)
        x = x + self.ls_1(self.ln_attn(self.attn(self.ln_1(x), memory, attn_mask, is_causal)))
        return x + self.ls_2(self.mlp(self.ln_2(x)))

    def get_weight_dtype(self) -> torch.dtype:
        """The dtype of the block's weights (``mlp.c_fc``'s; a layer quantized open_clip's way reports its own)."""
        original = getattr(self.mlp.c_fc, "int8_original_dtype", None)
        return original if original is not None else self.mlp.c_fc.weight.dtype

    @torch.jit.ignore
    def attention(
        self,
        q_x: torch.Tensor,
        k_x: torch.Tensor | None = None,
        v_x: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The block's attention alone (no norm, no residual), as open_clip's block method: ``q_x`` attends to
        ``k_x``/``v_x`` (to itself when both are None); ``attn_mask`` is cast to ``q_x``'s dtype and added.

        Raises:
            ValueError: ``k_x`` and ``v_x`` are different tensors (clipzoo attends to one memory for both).
        """
        if v_x is not k_x:
            raise ValueError(
                "attention(k_x, v_x): pass the same tensor for both (clipzoo's keys and values "
                "come from one memory), or neither for self-attention"
            )
        memory = None if k_x is None or k_x is q_x else k_x
        return self.attn(q_x, memory, None if attn_mask is None else attn_mask.to(q_x.dtype))

    def forward_rows(
        self, x: torch.Tensor, index: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The block's output at one position per sequence, ``x[b, index[b]]`` -> (B, D).

        Every position still serves as key/value, so the result equals ``forward(x)[b, index[b]]``; the queries,
        output projection and MLP of the other positions are skipped. ``attn_mask`` is per row: (B, 1, 1, L).
        """
        rows = torch.arange(x.shape[0], device=x.device)
        normed = self.ln_1(x)
        y = x[rows, index].unsqueeze(1)
        y = y + self.ls_1(self.ln_attn(self.attn(normed[rows, index].unsqueeze(1), normed, attn_mask)))
        y = y + self.ls_2(self.mlp(self.ln_2(y)))
        return y[:, 0]


if TYPE_CHECKING:

    class BlockList(nn.ModuleList):
        """``Transformer.resblocks`` as the type checker sees it: an nn.ModuleList of ResidualAttentionBlocks."""

        @overload
        def __getitem__(self, idx: slice) -> BlockList: ...
        @overload
        def __getitem__(self, idx: int) -> ResidualAttentionBlock: ...
        def __getitem__(self, idx: int | slice) -> ResidualAttentionBlock | BlockList: ...
        def __iter__(self) -> Iterator[ResidualAttentionBlock]: ...


class Transformer(nn.Module):
    """A stack of residual attention blocks over batch-first (B, L, D) sequences."""

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        block_type: str | None = None,
        options: AttnOptions = DEFAULT_ATTN,
    ) -> None:
        super().__init__()
        self.width, self.layers = width, layers
        self.batch_first = True
        self.grad_checkpointing = False
        self.block_type = resolve_block_type(block_type, options)
        blocks = nn.ModuleList(
            ResidualAttentionBlock(
                width,
                heads,
                mlp_ratio,
                ls_init_value,
                act_layer,
                norm_layer,
                block_type=self.block_type,
                options=options,
            )
            for _ in range(layers)
        )
        # the type checker's view of the list: TorchScript compiles the code that indexes it (no isinstance there)
        self.resblocks = cast("BlockList", blocks)

    def get_cast_dtype(self) -> torch.dtype:
        """The dtype activations are cast to: that of the first MLP weight (bf16/fp16 after casting)."""
        return self.resblocks[0].mlp.c_fc.weight.dtype

    @torch.jit.ignore
    def run_block(self, block: nn.Module, x: torch.Tensor, *args) -> torch.Tensor:
        """Run one block, through activation checkpointing when enabled and training."""
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, x, *args, use_reentrant=False)
        return block(x, *args)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        pool_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run every block on ``x`` (B, L, D) -> (B, L, D).

        With ``pool_index`` (B,), return only the final features at those positions, (B, D): the last block then
        computes just those rows (under a causal mask, row b attends to positions <= pool_index[b]).
        """
        last = len(self.resblocks) - 1
        # a loop over the ModuleList itself, calling blocks directly: what TorchScript can compile (it unrolls it)
        for i, block in enumerate(self.resblocks):
            if pool_index is not None and i == last:
                if attn_mask is not None:
                    raise ValueError(
                        "pool_index supports causal or unmasked attention, not an explicit attention mask"
                    )
                row_mask: torch.Tensor | None = None
                if is_causal:
                    positions = torch.arange(x.shape[1], device=x.device)
                    row_mask = (positions <= pool_index.unsqueeze(1))[:, None, None, :]
                return block.forward_rows(x, pool_index, row_mask)
            if torch.jit.is_scripting():  # TorchScript compiles only this branch (no activation checkpointing)
                x = block(x, None, attn_mask, is_causal)
            else:
                x = self.run_block(block, x, None, attn_mask, is_causal)
        return x

    @torch.jit.ignore
    def forward_intermediates(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        indices: int | list[int] | None = None,
        stop_early: bool = False,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the blocks on ``x`` (B, L, D), keeping the outputs of the blocks ``indices`` selects.

        Args:
            x: Input sequence (B, L, D).
            attn_mask: Additive or boolean attention mask, broadcastable to (B, heads, L, L).
            indices: Last n blocks for an int, those positions for a list (negative from the end), all for None.
            stop_early: Skip the blocks after the last selected one (the returned ``x`` is then that block's output).
            is_causal: Causal self-attention (clipzoo's text towers use this instead of an explicit mask).

        Returns:
            (output of the last block run, list of the selected blocks' outputs, each (B, L, D)).

        Raises:
            IntermediatesError: ``indices`` selects no block or one that does not exist.
        """
        take, max_index = feature_take_indices(len(self.resblocks), indices)
        blocks = list(self.resblocks)
        if stop_early:
            blocks = blocks[: max_index + 1]
        intermediates = []
        for i, block in enumerate(blocks):
            x = self.run_block(block, x, None, attn_mask, is_causal)
            if i in take:
                intermediates.append(x)
        return x, intermediates

    @torch.jit.ignore
    def prune_intermediate_layers(self, indices: int | list[int] = 1) -> list[int]:
        """Drop the blocks after the last one ``indices`` selects.

        Args:
            indices: The blocks still needed: the last n for an int, those positions for a list (negative from the
                end).

        Returns:
            The absolute positions ``indices`` selects.

        Raises:
            IntermediatesError: ``indices`` selects no block or one that does not exist.
        """
        take, max_index = feature_take_indices(len(self.resblocks), indices)
        self.resblocks = self.resblocks[: max_index + 1]
        return take


class AttentionalPooler(nn.Module):
    """Learned queries that cross-attend to the tower's tokens (CoCa's image pooler)."""

    def __init__(
        self,
        d_model: int,
        context_dim: int,
        n_head: int = 8,
        n_queries: int = 256,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
    ) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.empty(n_queries, d_model))
        self.attn = Attention(d_model, n_head, kv_dim=context_dim)
        self.ln_q = norm_layer(d_model)
        self.ln_k = norm_layer(context_dim)
        nn.init.normal_(self.query)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, context_dim) tokens -> (B, n_queries, d_model) pooled tokens."""
        query = self.ln_q(self.query).to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
        return self.attn(query, self.ln_k(x))

"""The native text tower: CLIP's causal transformer and the SigLIP/CoCa variants of it.

The encoding logic lives in ``TextEncoderMixin`` because open_clip's ``CLIP`` keeps the text modules at its top
level (``token_embedding``, ``transformer``, ...) while ``CustomTextCLIP``/``CoCa`` nest them under ``text.``;
both share one implementation through the mixin.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from .intermediates import FeatureTower, IntermediatesRequest
from .layers import LayerNorm
from .transformer import (
    DEFAULT_ATTN,
    AttnOptions,
    Transformer,
    causal_mask,
    init_block_weights,
    rebuild_meta_mask_after_load,
)

POOL_TYPES = ("first", "last", "argmax", "eos", "mean", "none")
TEXT_POS_EMBED_TYPES = ("learnable", "sinusoidal")


@dataclass(frozen=True)
class TextOptions:
    """How the text tower masks, pools and what it returns."""

    context_length: int
    vocab_size: int
    pool_type: str = "argmax"
    eos_id: int = 2
    pad_id: int = 0
    causal: bool = True
    output_tokens: bool = False
    pad_mask: bool = False  # bidirectional attention that ignores padding keys (TIPSv2)
    embed_scale: float = 1.0  # token embeddings times this before positions are added (TIPSv2: sqrt(width))
    sinusoidal: bool = False  # fixed sine/cosine positions instead of a learned table (TIPSv2)


def init_text_parameters(owner: TextEncoderMixin) -> None:
    """open_clip's text-tower init: std 0.02 tokens, 0.01 positions, depth-scaled block weights."""
    nn.init.normal_(owner.token_embedding.weight, std=0.02)
    if owner.positional_embedding is not None:  # None: fixed sinusoidal positions
        nn.init.normal_(owner.positional_embedding, std=0.01)
    if owner.cls_emb is not None:
        nn.init.normal_(owner.cls_emb, std=0.01)
    width = owner.transformer.width
    init_block_weights(owner.transformer.resblocks, width, owner.transformer.layers)
    attn_std = width**-0.5
    projection = owner.text_projection
    if isinstance(projection, nn.Linear):
        nn.init.normal_(projection.weight, std=attn_std)
        nn.init.zeros_(projection.bias)
    elif projection is not None:
        nn.init.normal_(projection, std=attn_std)


def make_text_projection(
    width: int, output_dim: int | None, proj_type: str, proj_bias: bool
) -> nn.Linear | nn.Parameter | None:
    """``None`` (no projection), an ``nn.Linear`` (with bias) or a bare (width, output_dim) matrix."""
    if proj_type not in ("linear", "none"):
        raise ValueError(f"text proj_type must be 'linear' or 'none', got {proj_type!r}")
    if proj_type == "none" or not output_dim:
        return None
    if proj_bias:
        return nn.Linear(width, output_dim)
    return nn.Parameter(torch.empty(width, output_dim))


def set_text_attributes(owner: TextEncoderMixin, options: TextOptions) -> None:
    """The options the encoder reads at run time, as plain attributes (TorchScript cannot read a dataclass)."""
    owner.text_pool_type = options.pool_type
    owner.text_eos_id = options.eos_id
    owner.text_pad_id = options.pad_id
    owner.text_causal = options.causal
    owner.text_pad_mask = options.pad_mask
    owner.text_embed_scale = options.embed_scale
    owner.text_sinusoidal = options.sinusoidal
    # False: every position is computed, as open_clip does; optimize_for_inference sets True (the pooled row only)
    owner.fast_inference = False


def sinusoidal_positions(length: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """tensor2tensor's fixed position table (length, width): sines then cosines of ``width // 2`` timescales
    from 1 to 10000, a zero column when ``width`` is odd (TIPSv2's text positions, as transformers builds them)."""
    half = width // 2
    step = math.log(10000.0) / max(half - 1, 1)
    rates = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -step)
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * rates[None, :]
    table = torch.cat((torch.sin(angles), torch.cos(angles)), dim=1)
    if width % 2:
        table = torch.cat((table, torch.zeros(length, 1, device=device)), dim=1)
    return table


class TextEncoderMixin:
    """Encodes token ids with ``token_embedding``, ``positional_embedding``, ``transformer``, ``ln_final``,
    ``text_projection``, ``cls_emb`` (None but for CoCa) and the ``text_*`` attributes of
    :func:`set_text_attributes` found on ``self``."""

    if TYPE_CHECKING:  # declared for the type checker only: TorchScript reads class annotations as attribute types
        token_embedding: nn.Embedding
        positional_embedding: nn.Parameter | None
        cls_emb: nn.Parameter | None
        transformer: Transformer
        ln_final: nn.Module
        text_projection: nn.Linear | nn.Parameter | None
        context_length: int
        text_pool_type: str
        text_eos_id: int
        text_pad_id: int
        text_causal: bool
        text_pad_mask: bool
        text_embed_scale: float
        text_sinusoidal: bool
        attn_mask: torch.Tensor | None  # a non-persistent buffer (register_buffer)
        fast_inference: bool

    def _text_embed(self, text: torch.Tensor) -> torch.Tensor:
        dtype = self.transformer.get_cast_dtype()
        x = self.token_embedding(text).to(dtype)
        if self.text_embed_scale != 1.0:
            x = x * self.text_embed_scale
        if self.cls_emb is not None:  # CoCa appends a class token after the text
            x = torch.cat((x, self.cls_emb.to(dtype).expand(x.shape[0], 1, -1)), dim=1)
        length, table = x.shape[1], self.positional_embedding
        if table is None:  # fixed sinusoidal positions, computed for the length at hand
            if length > self.context_length:
                raise ValueError(
                    f"text has {length} positions but the model supports at most {self.context_length}"
                )
            return x + sinusoidal_positions(length, x.shape[-1], x.device).to(dtype)
        if length > table.shape[0]:
            raise ValueError(
                f"text has {x.shape[1]} positions but the model supports at most {table.shape[0]}"
            )
        return x + table[:length].to(dtype)

    def _text_mask(self, text: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """(additive mask or None, is_causal flag for SDPA)."""
        causal = self.text_causal
        if self.cls_emb is None and self.text_pad_mask:  # bidirectional, padding keys ignored
            # float16's lowest value, not -inf: a row of padding only stays finite (and TorchScript has no finfo)
            pad = (text == self.text_pad_id)[:, None, None, :]
            mask = torch.zeros(pad.shape, device=x.device, dtype=x.dtype)
            return mask.masked_fill(pad, -65504.0), False
        if self.cls_emb is None:
            if causal and not self.fast_inference:
                # open_clip's additive mask, built once per call for every block (is_causal would rebuild it in
                # each block's exact nn.MultiheadAttention path); optimize_for_inference keeps SDPA's is_causal
                return causal_mask(x.shape[1], x.device, x.dtype), False
            return None, causal
        # CoCa: mask padding keys. Pretrained CoCa weights were trained with the class slot's "valid" flag put in
        # front instead of at the end, shifting the padding mask by one position; reproduce that exactly.
        batch, length = x.shape[:2]
        valid = torch.cat((torch.ones_like(text[:, :1], dtype=torch.bool), text != self.text_pad_id), 1)
        mask = torch.zeros(batch, 1, 1, length, device=x.device, dtype=x.dtype)
        mask = mask.masked_fill(~valid[:, None, None, :], float("-inf"))
        if causal:
            mask = mask + causal_mask(length, x.device, x.dtype)
        return mask, False

    def _text_pool_index(self, text: torch.Tensor) -> torch.Tensor | None:
        """Per-row position whose feature is the pooled text feature (None for pool_type 'none')."""
        pool_type, rows = self.text_pool_type, text.shape[0]
        if pool_type == "argmax":  # OpenAI CLIP: the end-of-text token has the largest id
            return text.argmax(dim=-1)
        if pool_type == "eos":
            return (text == self.text_eos_id).int().argmax(dim=-1)
        if pool_type == "first":
            return torch.zeros(rows, dtype=torch.long, device=text.device)
        if pool_type == "last":
            return torch.full((rows,), text.shape[1] - 1, dtype=torch.long, device=text.device)
        return None

    def _text_pooled(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The pooled feature of normalized token features ``x`` (every position for pool_type 'none')."""
        if self.text_pool_type == "mean":  # the mean over the positions that are not padding
            valid = (text != self.text_pad_id).to(x.dtype).unsqueeze(-1)
            return (x * valid).sum(dim=1) / valid.sum(dim=1).clamp_min(1.0)
        index = self._text_pool_index(text)
        return x if index is None else x[torch.arange(x.shape[0], device=x.device), index]

    def _text_project(self, pooled: torch.Tensor) -> torch.Tensor:
        # if/else, not early returns: TorchScript drops only the branches a static None/Tensor check rules out
        if self.text_projection is None:
            projected = pooled
        elif isinstance(self.text_projection, torch.Tensor):
            projected = pooled @ self.text_projection
        else:
            projected = self.text_projection(pooled)
        return projected

    def encode_text_tokens(
        self, text: torch.Tensor, need_tokens: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Token ids (B, L) -> (projected pooled features, per-token features or None)."""
        x = self._text_embed(text)
        mask, is_causal = self._text_mask(text, x)
        if self.cls_emb is not None:  # CoCa: the appended class token is the pooled one
            x = self.transformer(x, attn_mask=mask, is_causal=is_causal)
            return self._text_project(self.ln_final(x[:, -1])), x[:, :-1]
        if self.text_pool_type == "mean":  # every position takes part in the pooled feature
            x = self.ln_final(self.transformer(x, attn_mask=mask, is_causal=is_causal))
            return self._text_project(self._text_pooled(x, text)), x if need_tokens else None
        index = self._text_pool_index(text)
        if index is None:  # pool_type 'none': every position, normalized and projected
            x = self.ln_final(self.transformer(x, attn_mask=mask, is_causal=is_causal))
            return self._text_project(x), x
        if need_tokens or not self.fast_inference:
            x = self.ln_final(self.transformer(x, attn_mask=mask, is_causal=is_causal))
            pooled = x[torch.arange(x.shape[0], device=x.device), index]
            return self._text_project(pooled), x if need_tokens else None
        # positions after the last pooled one cannot change it: do not compute them (a data-dependent length, so
        # not while tracing: a traced model would keep the example's length)
        if is_causal and not torch.jit.is_tracing():
            x = x[:, : int(index.max()) + 1]
        pooled = self.transformer(x, attn_mask=mask, is_causal=is_causal, pool_index=index)
        return self._text_project(self.ln_final(pooled)), None

    def _text_intermediates(
        self, text: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``text_intermediates`` (+ ``text_intermediates_suffix`` for CoCa's class token) and ``text_features``."""
        x = self._text_embed(text)
        mask, is_causal = self._text_mask(text, x)
        x, intermediates = self.transformer.forward_intermediates(
            x, attn_mask=mask, indices=request.indices, stop_early=request.stop_early, is_causal=is_causal
        )
        if request.normalize:
            intermediates = [self.ln_final(y) for y in intermediates]
        output: dict[str, torch.Tensor | list[torch.Tensor]] = {}
        has_cls = self.cls_emb is not None
        if has_cls:  # CoCa: the appended class token is not part of the sequence
            if request.extra_tokens:
                output["text_intermediates_suffix"] = [y[:, -1:] for y in intermediates]
            intermediates = [y[:, :-1] for y in intermediates]
        output["text_intermediates"] = intermediates
        if request.only:
            return output
        if has_cls:  # the class token is the pooled one, normalized after pooling
            pooled = self.ln_final(x[:, -1])
        else:
            pooled = self._text_pooled(self.ln_final(x), text)
        output["text_features"] = self._text_project(pooled)
        return output


class TextTransformer(FeatureTower, TextEncoderMixin, nn.Module):
    """Token embedding + transformer + final norm + projection; returns pooled (and token) features."""

    __constants__ = ["output_tokens"]  # TorchScript compiles only the branch the flag selects
    intermediate_formats = ("NLC",)
    intermediate_kind = "text"
    final_norm_attr = "ln_final"
    head_attr = "text_projection"

    def __init__(
        self,
        context_length: int = 77,
        vocab_size: int = 49408,
        width: int = 512,
        heads: int = 8,
        layers: int = 12,
        mlp_ratio: float = 4.0,
        ls_init_value: float | None = None,
        output_dim: int | None = 512,
        embed_cls: bool = False,
        no_causal_mask: bool = False,
        pad_id: int = 0,
        eos_id: int = 2,
        pool_type: str = "argmax",
        proj_type: str = "linear",
        proj_bias: bool = False,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        output_tokens: bool = False,
        block_type: str | None = None,
        attn_options: AttnOptions = DEFAULT_ATTN,
        use_pad_mask: bool = False,
        pos_embed_type: str = "learnable",
        scale_sqrt_depth: bool = False,
    ) -> None:
        super().__init__()
        if pool_type not in POOL_TYPES:
            raise ValueError(f"text pool_type must be one of {', '.join(POOL_TYPES)}; got {pool_type!r}")
        if pos_embed_type not in TEXT_POS_EMBED_TYPES:
            raise ValueError(
                f"text pos_embed_type must be one of {', '.join(TEXT_POS_EMBED_TYPES)}; got {pos_embed_type!r}"
            )
        self.text_options = TextOptions(
            context_length, vocab_size, pool_type, eos_id, pad_id, not no_causal_mask, output_tokens,
            pad_mask=use_pad_mask and no_causal_mask,  # as open_clip: a padding mask in bidirectional mode only
            embed_scale=width**0.5 if scale_sqrt_depth else 1.0,
            sinusoidal=pos_embed_type == "sinusoidal",
        )
        set_text_attributes(self, self.text_options)
        self.output_tokens = output_tokens
        self.context_length = context_length
        self.vocab_size = vocab_size
        self.width, self.heads, self.output_dim = width, heads, output_dim
        self.pad_id, self.eos_id, self.pool_type = pad_id, eos_id, pool_type
        self.num_pos = context_length + (1 if embed_cls else 0)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.cls_emb = nn.Parameter(torch.empty(width)) if embed_cls else None
        self.positional_embedding = (
            nn.Parameter(torch.empty(self.num_pos, width)) if pos_embed_type == "learnable" else None
        )
        self.transformer = Transformer(
            width, layers, heads, mlp_ratio, ls_init_value, act_layer, norm_layer, block_type, attn_options
        )
        self.ln_final = norm_layer(width)
        # kept for open_clip compatibility (not in the state dict); attention uses SDPA's is_causal instead
        self.register_buffer(
            "attn_mask", None if no_causal_mask else self.build_causal_mask(), persistent=False
        )
        self.text_projection = make_text_projection(width, output_dim, proj_type, proj_bias)
        self.init_parameters()
        self.register_load_state_dict_post_hook(rebuild_meta_mask_after_load)

    def init_parameters(self) -> None:
        """(Re-)initialize the weights as open_clip does (see :func:`init_text_parameters`)."""
        init_text_parameters(self)

    def build_causal_mask(self) -> torch.Tensor:
        """open_clip's additive causal mask over every position (num_pos x num_pos), on the embedding's device."""
        return causal_mask(self.num_pos, self.token_embedding.weight.device)

    def init_non_persistent_buffers(self) -> None:
        """Rebuild the causal mask buffer on the parameters' device (after building on the meta device)."""
        if self.attn_mask is not None:
            self.attn_mask = self.build_causal_mask()

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable activation checkpointing in the transformer."""
        self.transformer.grad_checkpointing = enable

    def lock(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the tower, leaving the last ``unlocked_layers`` groups trainable."""
        if not freeze_layer_norm:
            raise ValueError(
                "freeze_layer_norm=False is not supported: LayerNorms are locked like other weights"
            )
        lock_text_modules(self, unlocked_layers)

    def no_weight_decay(self) -> set[str]:
        """Parameters that optimizers should not decay."""
        names = {"positional_embedding"} if self.positional_embedding is not None else set()
        return names | ({"cls_emb"} if self.cls_emb is not None else set())

    def forward_intermediates(
        self,
        text: torch.Tensor,
        indices: int | list[int] | None = None,
        stop_early: bool = False,
        normalize_intermediates: bool = False,
        intermediates_only: bool = False,
        output_fmt: str = "NCHW",
        output_extra_tokens: bool = False,
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Block outputs and features of the text tower, for token ids ``text`` (B, L) (open_clip's keywords).

        The options are :meth:`FeatureTower.forward_intermediates`'s; open_clip names the input ``text`` here,
        ``x`` on image towers. ``output_fmt`` must be 'NLC' (the default 'NCHW' is open_clip's and is refused,
        as open_clip refuses it).
        """
        return super().forward_intermediates(
            text,
            indices,
            stop_early,
            normalize_intermediates,
            intermediates_only,
            output_fmt,
            output_extra_tokens,
        )

    def tower_intermediates(
        self, text: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``forward_intermediates`` of the text tower; CoCa's appended class token is the extra (suffix) token.

        Args:
            text: Token ids (B, L).
            request: The call's options; ``normalize`` applies ``ln_final``.

        Returns:
            ``text_intermediates`` ((B, L, width) each), optionally ``text_intermediates_suffix``, and unless
            ``request.only`` the projected ``text_features``.

        Raises:
            IntermediatesError: out-of-range indices.
        """
        return self._text_intermediates(text, request)

    # no return annotation: with ``output_tokens`` a TorchScript constant, scripting sees one return type
    def forward(self, text: torch.Tensor):  # -> Tensor, or (Tensor, Tensor) when output_tokens
        """Token ids (B, L) -> pooled features, or (pooled, tokens) when ``output_tokens``."""
        if self.output_tokens:
            pooled, tokens = self.encode_text_tokens(text, need_tokens=True)
            if tokens is None:  # never: need_tokens returns them (the check refines the type for TorchScript)
                raise RuntimeError("the text encoder returned no token features")
            return pooled, tokens
        return self.encode_text_tokens(text)[0]


def lock_text_modules(owner: nn.Module, unlocked_layers: int = 0) -> None:
    """Freeze the text modules of ``owner`` (a text tower, or a CLIP with top-level text modules).

    Groups from the start: embeddings, each block but the last, last block + ln_final, projection; the last
    ``unlocked_layers`` groups stay trainable.
    """
    names = (
        "token_embedding",
        "positional_embedding",
        "cls_emb",
        "transformer",
        "ln_final",
        "text_projection",
    )
    found = {name: getattr(owner, name, None) for name in names}
    parts: dict[str, nn.Module | nn.Parameter] = {name: part for name, part in found.items() if part is not None}

    def params(item) -> list[nn.Parameter]:
        return [item] if isinstance(item, nn.Parameter) else list(item.parameters())

    for part in parts.values():
        for param in params(part):
            param.requires_grad = False
    if unlocked_layers == 0 or "transformer" not in parts:
        return
    transformer = parts["transformer"]
    assert isinstance(transformer, Transformer)
    blocks: list[nn.Module | nn.Parameter] = list(transformer.resblocks)
    embeddings = [parts[n] for n in ("token_embedding", "positional_embedding", "cls_emb") if n in parts]
    groups = [embeddings] if embeddings else []
    groups += [[block] for block in blocks[:-1]]
    groups.append([blocks[-1]] + ([parts["ln_final"]] if "ln_final" in parts else []))
    if "text_projection" in parts:
        groups.append([parts["text_projection"]])
    for group in groups[-min(unlocked_layers, len(groups)) :]:
        for item in group:
            for param in params(item):
                param.requires_grad = True

"""CoCa: a contrastive image/text model plus a captioning decoder that cross-attends to image tokens."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..registry.config import MultimodalCfg, TextCfg, VisionCfg
from .clip import DEFAULT_LOGIT_SCALE, ContrastiveHeadMixin, init_tower_buffers
from .generation import generate as _generate
from .layers import LayerNorm, act_factory, norm_factory
from .towers import as_section, build_text_tower, build_vision_tower
from .transformer import (
    ResidualAttentionBlock,
    Transformer,
    causal_mask,
    init_block_weights,
    rebuild_meta_mask_after_load,
)


class MultimodalDecoder(Transformer):
    """Causal self-attention blocks (``resblocks``) interleaved with cross-attention blocks (``cross_attn``)
    over image tokens, then ``ln_final`` and a projection to vocabulary logits."""

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        context_length: int = 77,
        mlp_ratio: float = 4.0,
        ls_init_value: float | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = LayerNorm,
        output_dim: int = 512,
    ) -> None:
        super().__init__(width, layers, heads, mlp_ratio, ls_init_value, act_layer, norm_layer)
        self.context_length = context_length
        self.cross_attn = nn.ModuleList(
            ResidualAttentionBlock(
                width, heads, mlp_ratio, ls_init_value, act_layer, norm_layer, cross_attention=True
            )
            for _ in range(layers)
        )
        # kept for open_clip compatibility (not in the state dict); attention uses SDPA's is_causal instead
        self.register_buffer("attn_mask", causal_mask(context_length), persistent=False)
        self.ln_final = norm_layer(width)
        self.text_projection = nn.Parameter(torch.empty(width, output_dim))
        # open_clip leaves this matrix uninitialized (torch.empty); a scaled normal gives usable random models
        nn.init.normal_(self.text_projection, std=width**-0.5)
        self.register_load_state_dict_post_hook(rebuild_meta_mask_after_load)

    def init_parameters(self) -> None:
        """open_clip's init: depth-scaled normal block weights (self- and cross-attention), scaled projection.

        (open_clip 3.3.0 never calls its own, which reads a ``transformer`` attribute the decoder lacks.)"""
        for blocks in (self.resblocks, self.cross_attn):
            init_block_weights(blocks, self.width, self.layers)
        nn.init.normal_(self.text_projection, std=self.width**-0.5)

    def build_attention_mask(self) -> torch.Tensor:
        """open_clip's additive causal mask over ``context_length`` positions, on the parameters' device."""
        return causal_mask(self.context_length, self.text_projection.device)

    def init_non_persistent_buffers(self) -> None:
        """Rebuild the causal mask buffer on the parameters' device (after building on the meta device)."""
        self.attn_mask = self.build_attention_mask()

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable activation checkpointing."""
        self.grad_checkpointing = enable

    # open_clip's MultimodalTransformer: a Transformer whose forward takes image and text tokens
    def forward(  # type: ignore[override]
        self, image_embs: torch.Tensor, text_embs: torch.Tensor
    ) -> torch.Tensor:
        """Image tokens (B, S, width) and text tokens (B, L, width) -> logits (B, L, output_dim)."""
        x = text_embs
        for self_block, cross_block in zip(self.resblocks, self.cross_attn):
            if self.grad_checkpointing and torch.is_grad_enabled() and not torch.jit.is_scripting():
                x = checkpoint(self_block, x, None, None, True, use_reentrant=False)
                x = checkpoint(cross_block, x, image_embs, use_reentrant=False)
            else:  # spelled out (no helper taking modules): TorchScript compiles this loop
                x = self_block(x, None, None, True)
                x = cross_block(x, image_embs)
        return self.ln_final(x) @ self.text_projection


def build_text_decoder(
    vocab_size: int,
    cfg: MultimodalCfg | dict,
    quick_gelu: bool = False,
    cast_dtype: torch.dtype | None = None,
) -> MultimodalDecoder:
    """The CoCa decoder: open_clip uses only width/layers/heads/context_length/ls_init_value of its config."""
    cfg = as_section(cfg, MultimodalCfg)
    return MultimodalDecoder(
        width=cfg.width,
        layers=cfg.layers,
        heads=cfg.heads,
        context_length=cfg.context_length,
        ls_init_value=cfg.ls_init_value,
        act_layer=act_factory(quick_gelu),
        norm_layer=norm_factory(cast_dtype),
        output_dim=vocab_size,
    )


class CoCa(ContrastiveHeadMixin, nn.Module):
    """``text.*`` (with an appended class token), ``visual.*`` (attention-pooled tokens), ``text_decoder.*``.

    ``forward`` always returns a dict with image/text features, caption ``logits`` and ``logit_scale``.

    Args:
        embed_dim: Width of the shared image-text embedding space.
        multimodal_cfg: The caption decoder's config (a ``MultimodalCfg`` or its dict); open_clip uses its
            ``width``, ``layers``, ``heads``, ``context_length`` and ``ls_init_value``.
        text_cfg: The text encoder's config (a ``TextCfg`` or its dict) with ``embed_cls`` and
            ``output_tokens`` set, as CoCa configs have; its ``vocab_size`` is the decoder's.
        vision_cfg: The image tower's config (a ``VisionCfg`` or its dict) with ``output_tokens`` set (CoCa
            configs also use attentional pooling).
        quick_gelu: Use QuickGELU activations.
        init_logit_scale: Initial ``logit_scale``, a log (default log(1/0.07)); None means the default.
        init_logit_bias: Initial logit bias; None for no bias.
        nonscalar_logit_scale: Give ``logit_scale`` and ``logit_bias`` shape [1] instead of [].
        cast_dtype: ``torch.float16``/``torch.bfloat16`` for mixed precision (LayerNorms compute in float32);
            None for float32.
        pad_id: The padding token id; ``generate`` fills finished captions with it.
    """

    generate = (
        _generate  # model.generate(image, ...) is clipzoo.models.generation.generate(model, image, ...)
    )

    output_dict = True

    def __init__(
        self,
        embed_dim: int,
        multimodal_cfg: MultimodalCfg | dict,
        text_cfg: TextCfg | dict,
        vision_cfg: VisionCfg | dict,
        quick_gelu: bool = False,
        init_logit_scale: float | None = DEFAULT_LOGIT_SCALE,
        init_logit_bias: float | None = None,
        nonscalar_logit_scale: bool = False,
        cast_dtype: torch.dtype | None = None,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        multimodal_cfg = as_section(multimodal_cfg, MultimodalCfg)
        text_cfg = as_section(text_cfg, TextCfg)
        self.text = build_text_tower(embed_dim, text_cfg, quick_gelu, cast_dtype)
        self.visual = build_vision_tower(embed_dim, vision_cfg, quick_gelu, cast_dtype)
        self.text_decoder = build_text_decoder(text_cfg.vocab_size, multimodal_cfg, quick_gelu, cast_dtype)
        self._init_logit_params(init_logit_scale, init_logit_bias, nonscalar_logit_scale)
        self.pad_id = pad_id
        self.context_length = multimodal_cfg.context_length

    def init_non_persistent_buffers(self) -> None:
        """Rebuild non-persistent buffers (causal masks, tower tables) on the parameters' device."""
        init_tower_buffers(self)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable activation checkpointing in all three towers."""
        self.visual.set_grad_checkpointing(enable)
        self.text.set_grad_checkpointing(enable)
        self.text_decoder.set_grad_checkpointing(enable)

    def lock_text_tower(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the text encoder, keeping the last ``unlocked_layers`` groups trainable."""
        self.text.lock(unlocked_layers, freeze_layer_norm)

    def _encode_image(
        self, images: torch.Tensor, normalize: bool = True, interpolate_pos_encoding: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(image latent, image tokens for the decoder)."""
        latent, tokens = self.visual(images, interpolate_pos_encoding)
        return (F.normalize(latent, dim=-1) if normalize else latent), tokens

    def _encode_text(self, text: torch.Tensor, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(text latent, unnormalized text token embeddings for the decoder)."""
        latent, tokens = self.text(text)
        return (F.normalize(latent, dim=-1) if normalize else latent), tokens

    @torch.jit.export  # forward does not call it: exported so a scripted CoCa still has it (as a CLIP has)
    def encode_image(
        self, images: torch.Tensor, normalize: bool = True, interpolate_pos_encoding: bool = False
    ) -> torch.Tensor:
        """Images -> contrastive features (normalized by default, as in open_clip's CoCa).

        Args:
            images: Preprocessed images (B, 3, H, W), in the model's dtype and on its device.
            normalize: L2-normalize each feature vector (the default, unlike CLIP's ``encode_image``).
            interpolate_pos_encoding: Run the ViT tower on images of another size than the trained one (its
                position grid resized per call, as transformers resizes it).

        Returns:
            The image features [B, embed_dim].
        """
        return self._encode_image(
            images, normalize=normalize, interpolate_pos_encoding=interpolate_pos_encoding
        )[0]

    @torch.jit.export
    def encode_text(self, text: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Token ids -> contrastive features (normalized by default, as in open_clip's CoCa).

        Args:
            text: Token ids (B, context_length) from the model's tokenizer.
            normalize: L2-normalize each feature vector (the default, unlike CLIP's ``encode_text``).

        Returns:
            The text features [B, embed_dim].
        """
        return self._encode_text(text, normalize=normalize)[0]

    def decode(self, text: torch.Tensor, image_embs: torch.Tensor) -> torch.Tensor:
        """Caption logits (B, L, vocab) for every position of ``text`` given image tokens.

        Args:
            text: Caption token ids (B, L).
            image_embs: The image tokens the decoder attends to (B, S, width): ``forward(image)["image_embs"]``.

        Returns:
            Logits (B, L, vocab_size); position i scores the token that follows ``text[:, i]``.
        """
        _, token_embs = self._encode_text(text, normalize=False)
        return self.text_decoder(image_embs, token_embs)

    def _decode_step(self, text: torch.Tensor, image_embs: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, vocab) after ``text``: the hook generation strategies call at each step."""
        return self.decode(text, image_embs)[:, -1]

    # open_clip's CoCa.forward: its own inputs (latents, image tokens, labels), not the contrastive models'
    def forward(  # type: ignore[override]
        self,
        image: torch.Tensor | None,
        text: torch.Tensor | None = None,
        image_latent: torch.Tensor | None = None,
        image_embs: torch.Tensor | None = None,
        output_labels: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Features, caption logits (teacher forcing: position i predicts token i+1) and labels.

        Args:
            image: Preprocessed images (B, 3, H, W); may be None when ``image_latent`` and ``image_embs`` are
                given.
            text: Caption token ids (B, L); None returns the image outputs only.
            image_latent: Precomputed image features; with ``image_embs`` the image tower is skipped.
            image_embs: Precomputed image tokens for the decoder.
            output_labels: Teacher forcing for training: the decoder reads ``text[:, :-1]`` and ``labels`` is
                ``text[:, 1:]``; False decodes every position and returns no labels.

        Returns:
            Without ``text``: ``{"image_features", "image_embs"}``. With it: ``image_features`` and
            ``text_features`` (normalized), ``logits`` (B, L - 1 or L, vocab_size), ``logit_scale``
            (exponentiated), ``labels`` (with ``output_labels``) and ``logit_bias`` (when the model has one):
            the keyword arguments of ``CoCaLoss``.

        Raises:
            ValueError: neither ``image`` nor both ``image_latent`` and ``image_embs`` are given.
        """
        if image_latent is not None and image_embs is not None:
            latent, embs = image_latent, image_embs
        elif image is not None:
            latent, embs = self._encode_image(image)
        else:
            raise ValueError("CoCa.forward needs images, or both image_latent and image_embs")
        if text is None:
            return {"image_features": latent, "image_embs": embs}
        text_latent, token_embs = self._encode_text(text)
        if output_labels:
            token_embs = token_embs[:, :-1]
        out = {
            "image_features": latent,
            "text_features": text_latent,
            "logits": self.text_decoder(embs, token_embs),
            "logit_scale": self.logit_scale.exp(),
        }
        if output_labels:
            out["labels"] = text[:, 1:]
        if self.logit_bias is not None:
            out["logit_bias"] = self.logit_bias
        return out

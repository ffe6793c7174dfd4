"""open_clip's tower config dataclasses, ``CLIPVisionCfg``, ``CLIPTextCfg`` and ``MultimodalCfg``.

Each is a subclass of clipzoo's typed section (:class:`clipzoo.registry.config.VisionCfg`, ``TextCfg``,
``MultimodalCfg``), so clipzoo's models take them wherever they take a config section. Those sections declare
open_clip 3.3.0's fields in open_clip's order, so positional construction (``CLIPVisionCfg(12, 768)``),
``dataclasses.fields``, ``astuple`` and ``asdict`` mean what they mean there; fields clipzoo adds come last.
"""

from __future__ import annotations

import dataclasses

from ...registry import config

__all__ = ["CLIPTextCfg", "CLIPVisionCfg", "MultimodalCfg"]


# The transformer-block options both towers take, documented once from the table that declares them.
_BLOCK_OPTIONS_DOC = "\n        ".join(f"{name}: {meaning}" for name, _, _, meaning in config.BLOCK_OPTIONS)


@dataclasses.dataclass
class CLIPVisionCfg(config.VisionCfg):
    """Image tower config with open_clip's name (a :class:`clipzoo.registry.config.VisionCfg`).

    Attributes:
        layers: Transformer depth, or a ModifiedResNet's four stage depths.
        width: Transformer width (a ResNet's base width).
        head_width: Width of one attention head.
        mlp_ratio: MLP hidden width over ``width``.
        patch_size: ViT patch size (None for ResNet and timm towers).
        image_size: Input size: an int, or ``(height, width)``.
        ls_init_value: Layer-scale initial value (None: no layer scale).
        patch_dropout: Fraction of patches dropped in training.
        attentional_pool: Pool with an attentional pooler (CoCa).
        attn_pooler_queries: Queries of that pooler.
        attn_pooler_heads: Heads of that pooler.
        no_ln_pre: Leave out the layer norm before the blocks.
        pos_embed_type: ``'learnable'`` or ``'sin_cos_2d'``.
        final_ln_after_pool: Apply the final layer norm after pooling.
        pool_type: ``'tok'``, ``'avg'``, ``'avg_all'``, ``'last'`` or ``'none'``.
        output_tokens: Return the token features as well.
        {block_options}
        timm_model_name: A timm trunk to use as the image tower.
        timm_model_pretrained: Load timm's ImageNet weights into that trunk.
        timm_pool: The trunk's pooling (``'avg'``, ``'token'``, ``''``, ...).
        timm_proj: Projection after the trunk: ``'linear'``, ``'mlp'`` or None.
        timm_proj_bias: Bias in that projection.
        timm_drop: Dropout before the projection.
        timm_drop_path: Stochastic depth rate of the trunk.
        timm_model_kwargs: clipzoo: keyword arguments for ``timm.create_model`` (the trunk's numbers).
        quick_gelu: clipzoo: this tower's own QuickGELU choice, overriding the model's (None follows it).
        image_seq_len: open_clip main (NaFlex towers): the default token budget (None for fixed-size towers).
    """


@dataclasses.dataclass
class CLIPTextCfg(config.TextCfg):
    """Text tower config with open_clip's name (a :class:`clipzoo.registry.config.TextCfg`).

    Attributes:
        context_length: Tokens per text.
        vocab_size: Size of the token embedding.
        hf_tokenizer_name: A Hugging Face tokenizer to use instead of CLIP's BPE.
        tokenizer_mode: The tokenizer's truncation mode (``'clips'`` and the like), None for the default.
        tokenizer_kwargs: Keyword arguments of the tokenizer.
        width: Transformer width.
        heads: Attention heads.
        layers: Transformer depth.
        mlp_ratio: MLP hidden width over ``width``.
        ls_init_value: Layer-scale initial value (None: no layer scale).
        embed_cls: Append a learned class token.
        pad_id: The padding token id.
        eos_id: The end-of-text token id (``'eos'`` pooling).
        no_causal_mask: Attend in both directions.
        use_pad_mask: Ignore padding keys in bidirectional attention (TIPSv2).
        final_ln_after_pool: Apply the final layer norm after pooling.
        pool_type: ``'argmax'``, ``'first'``, ``'last'``, ``'eos'``, ``'mean'`` (over non-padding tokens) or
            ``'none'``.
        pos_embed_type: ``'learnable'`` or ``'sinusoidal'`` (a fixed table, TIPSv2).
        scale_sqrt_depth: Scale token embeddings by sqrt(width) before adding positions (TIPSv2).
        proj_bias: Bias in the projection.
        proj_type: ``'linear'`` or ``'none'``.
        output_tokens: Return the token features as well.
        act_layer: The MLP activation by name (``'relu'``, ``'gelu'``, ``'quick_gelu'``); None follows quick_gelu.
        {block_options}
        hf_model_name: A Hugging Face model to use as the text tower.
        hf_model_pretrained: Load that model's pretrained weights.
        hf_proj_type: Projection after it: ``'mlp'``, ``'linear'`` or None.
        hf_pooler_type: How its tokens are pooled (``'mean_pooler'``, ``'cls_pooler'``, ...).
        hf_model_config: clipzoo: the transformers text config itself (a ClapModel folder's), instead of
            reading ``hf_model_name``'s.
    """


for _cls in (CLIPVisionCfg, CLIPTextCfg):
    _cls.__doc__ = (_cls.__doc__ or "").replace("{block_options}", _BLOCK_OPTIONS_DOC)


@dataclasses.dataclass
class MultimodalCfg(config.MultimodalCfg, CLIPTextCfg):
    """CoCa's decoder config with open_clip's name (a ``CLIPTextCfg``, as in open_clip)."""

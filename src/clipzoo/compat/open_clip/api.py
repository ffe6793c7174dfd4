"""open_clip 3.3.0's signatures for clipzoo's building blocks, where clipzoo's own differ.

clipzoo's classes take typed options (``AttnOptions``, a config section); open_clip's take flat keyword
arguments with other names (``d_model``/``n_head``, ``init_values``, ``batch_first``, ...). Each class here is
a thin subclass of the clipzoo class with open_clip's constructor: it translates the arguments and builds
the clipzoo module, so the parameters, state-dict keys and forward are clipzoo's. ``isinstance`` works both
ways: a block clipzoo built is an instance of the open_clip-named class too (see :class:`_AliasMeta`).

Functions here are open_clip's helpers that have no clipzoo counterpart with the same signature.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...models import layers as _layers
from ...models import text as _text
from ...models import transformer as _transformer
from ...models import vit as _vit
from ...models.coca import MultimodalDecoder as _MultimodalDecoder
from ...tokenizers import HFTokenizer as _HF
from ...tokenizers import bpe as _bpe

__all__ = [
    "Attention",
    "CustomResidualAttentionBlock",
    "CustomTransformer",
    "HFTokenizer",
    "LayerScale",
    "MultimodalTransformer",
    "PatchDropout",
    "ResidualAttentionBlock",
    "SigLipTokenizer",
    "SimpleTokenizer",
    "TextTransformer",
    "Transformer",
    "VisionTransformer",
    "canonicalize_text",
    "convert_mobile_clip_state_dict",
    "convert_state_dict",
    "convert_to_custom_text_state_dict",
    "get_clean_fn",
    "get_pairs",
    "get_reduction_mask_fn",
    "has_distributed",
    "has_hf_hub",
    "hvd",
    "load_big_vision_weights",
    "lock_text_tower",
    "prepare_inputs_for_generation",
    "text_global_pool",
]

has_distributed: bool = torch.distributed.is_available()
hvd = None  # Horovod is not supported (clipzoo's losses run on torch.distributed)


class UnsupportedOptionError(ValueError):
    """An open_clip option that clipzoo's implementation does not have (the message says what to use)."""


class _AliasMeta(type):
    """Metaclass of the open_clip-named subclasses: instances of the clipzoo class count as instances.

    Only the class that declares ``__alias_of__`` gets the relaxed check; classes derived from it by users
    behave as ordinary subclasses.
    """

    def __instancecheck__(cls, obj: Any) -> bool:
        base = cls.__dict__.get("__alias_of__")
        return isinstance(obj, base) if base is not None else super().__instancecheck__(obj)

    def __subclasscheck__(cls, sub: type) -> bool:
        base = cls.__dict__.get("__alias_of__")
        return issubclass(sub, base) if base is not None else super().__subclasscheck__(sub)


def _batch_first_only(batch_first: bool, where: str) -> None:
    if not batch_first:
        raise UnsupportedOptionError(
            f"{where}(batch_first=False): clipzoo's transformers take [batch, tokens, width] only; "
            "transpose the input (x.transpose(0, 1)) and use batch_first=True"
        )


def _options(
    qk_norm: bool = False,
    scaled_cosine: bool = False,
    scale_heads: bool = False,
    inner_norm: bool = False,
    scale_attn: bool = False,
    scale_fc: bool = False,
) -> _transformer.AttnOptions:
    return _transformer.AttnOptions(
        qk_norm=qk_norm,
        scaled_cosine=scaled_cosine,
        scale_heads=scale_heads,
        inner_norm=inner_norm,
        scale_attn=scale_attn,
        scale_fc=scale_fc,
    )


# -- layers ---------------------------------------------------------------------------------------------


class LayerScale(_layers.LayerScale, metaclass=_AliasMeta):
    """Per-channel learnable scale (``gamma``), open_clip's ``init_values`` spelling."""

    __alias_of__ = _layers.LayerScale

    def __init__(self, dim: int, init_values: float = 1e-5, inplace: bool = False) -> None:
        super().__init__(dim, init_values, inplace)


class PatchDropout(_layers.PatchDropout, metaclass=_AliasMeta):
    """Drop a random fraction ``prob`` of patch tokens in training (the class token kept if asked)."""

    __alias_of__ = _layers.PatchDropout

    def __init__(self, prob: float = 0.5, exclude_first_token: bool = True) -> None:
        super().__init__(prob, exclude_first_token)


class Attention(_transformer.Attention, metaclass=_AliasMeta):
    """open_clip's custom multi-head attention (``qk_norm``, scaled cosine, head scales, inner norm)."""

    __alias_of__ = _transformer.Attention

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        scaled_cosine: bool = False,
        scale_heads: bool = False,
        inner_norm: bool = False,
        logit_scale_max: float = math.log(1.0 / 0.01),
        norm_layer: type[nn.Module] = _layers.LayerNormFp32,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        if not qkv_bias or attn_drop or proj_drop:
            raise UnsupportedOptionError(
                "Attention(qkv_bias=False, attn_drop, proj_drop): clipzoo's attention always has a qkv bias and "
                "no dropout; leave these at their defaults"
            )
        options = _options(qk_norm, scaled_cosine, scale_heads, inner_norm)
        super().__init__(
            dim,
            num_heads,
            custom=True,
            options=options,
            norm_layer=norm_layer,
            logit_scale_max=logit_scale_max,
        )


class ResidualAttentionBlock(_transformer.ResidualAttentionBlock, metaclass=_AliasMeta):
    """Pre-norm transformer block (optionally cross-attention) with open_clip's argument names."""

    __alias_of__ = _transformer.ResidualAttentionBlock

    def __init__(
        self,
        d_model: int,
        n_head: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float = None,
        act_layer: Callable = nn.GELU,
        norm_layer: Callable = _layers.LayerNorm,
        is_cross_attention: bool = False,
        batch_first: bool = True,
    ) -> None:
        _batch_first_only(batch_first, "ResidualAttentionBlock")
        super().__init__(d_model, n_head, mlp_ratio, ls_init_value, act_layer, norm_layer, is_cross_attention)


class CustomResidualAttentionBlock(_transformer.ResidualAttentionBlock, metaclass=_AliasMeta):
    """The block with open_clip's custom attention (its switches as flat arguments)."""

    __alias_of__ = _transformer.ResidualAttentionBlock

    def __init__(
        self,
        d_model: int,
        n_head: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float = None,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = _layers.LayerNorm,
        qk_norm: bool = False,
        scale_cosine_attn: bool = False,
        scale_heads: bool = False,
        scale_attn_inner: bool = False,
        scale_attn: bool = False,
        scale_fc: bool = False,
        batch_first: bool = True,
    ) -> None:
        _batch_first_only(batch_first, "CustomResidualAttentionBlock")
        options = _options(qk_norm, scale_cosine_attn, scale_heads, scale_attn_inner, scale_attn, scale_fc)
        super().__init__(
            d_model,
            n_head,
            mlp_ratio,
            ls_init_value,
            act_layer,
            norm_layer,
            block_type="custom",
            options=options,
        )


class Transformer(_transformer.Transformer, metaclass=_AliasMeta):
    """A stack of ``layers`` blocks (``block_type`` 'default' or 'custom', chosen from the switches if None)."""

    __alias_of__ = _transformer.Transformer

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float = None,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = _layers.LayerNorm,
        batch_first: bool = True,
        block_type: str | None = None,
        qk_norm: bool = False,
        scaled_cosine_attn: bool = False,
        scale_heads: bool = False,
        scale_attn_inner: bool = False,
        scale_attn: bool = False,
        scale_fc: bool = False,
    ) -> None:
        _batch_first_only(batch_first, "Transformer")
        options = _options(qk_norm, scaled_cosine_attn, scale_heads, scale_attn_inner, scale_attn, scale_fc)
        super().__init__(
            width, layers, heads, mlp_ratio, ls_init_value, act_layer, norm_layer, block_type, options
        )


class CustomTransformer(_transformer.Transformer, metaclass=_AliasMeta):
    """A stack of custom-attention blocks (open_clip's ``CustomTransformer``)."""

    __alias_of__ = _transformer.Transformer

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float = 4.0,
        ls_init_value: float = None,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = _layers.LayerNorm,
        batch_first: bool = True,
        block_types: str | list[str] = "CustomResidualAttentionBlock",
    ) -> None:
        _batch_first_only(batch_first, "CustomTransformer")
        kinds = {block_types} if isinstance(block_types, str) else set(block_types)
        if kinds != {"CustomResidualAttentionBlock"}:
            raise UnsupportedOptionError(
                f"CustomTransformer(block_types={block_types!r}): only 'CustomResidualAttentionBlock' exists"
            )
        super().__init__(width, layers, heads, mlp_ratio, ls_init_value, act_layer, norm_layer, "custom")


# -- towers ---------------------------------------------------------------------------------------------


class VisionTransformer(_vit.VisionTransformer, metaclass=_AliasMeta):
    """The native ViT image tower with open_clip's flat custom-attention switches."""

    __alias_of__ = _vit.VisionTransformer

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        width: int,
        layers: int,
        heads: int,
        mlp_ratio: float,
        ls_init_value: float = None,
        attentional_pool: bool = False,
        attn_pooler_queries: int = 256,
        attn_pooler_heads: int = 8,
        output_dim: int = 512,
        patch_dropout: float = 0.0,
        no_ln_pre: bool = False,
        pos_embed_type: str = "learnable",
        pool_type: str = "tok",
        final_ln_after_pool: bool = False,
        act_layer: Callable = nn.GELU,
        norm_layer: Callable = _layers.LayerNorm,
        output_tokens: bool = False,
        block_type: str | None = None,
        qk_norm: bool = False,
        scaled_cosine_attn: bool = False,
        scale_heads: bool = False,
        scale_attn_inner: bool = False,
        scale_attn: bool = False,
        scale_fc: bool = False,
    ) -> None:
        options = _options(qk_norm, scaled_cosine_attn, scale_heads, scale_attn_inner, scale_attn, scale_fc)
        super().__init__(
            image_size,
            patch_size,
            width,
            layers,
            heads,
            mlp_ratio,
            ls_init_value,
            attentional_pool,
            attn_pooler_queries,
            attn_pooler_heads,
            output_dim,
            patch_dropout,
            no_ln_pre,
            pos_embed_type,
            pool_type,
            final_ln_after_pool,
            act_layer,
            norm_layer,
            output_tokens,
            block_type,
            attn_options=options,
        )


class TextTransformer(_text.TextTransformer, metaclass=_AliasMeta):
    """The native text tower with open_clip's flat arguments."""

    __alias_of__ = _text.TextTransformer

    def __init__(
        self,
        context_length: int = 77,
        vocab_size: int = 49408,
        width: int = 512,
        heads: int = 8,
        layers: int = 12,
        mlp_ratio: float = 4.0,
        ls_init_value: float = None,
        output_dim: int | None = 512,
        embed_cls: bool = False,
        no_causal_mask: bool = False,
        use_pad_mask: bool = False,
        correct_cls_mask: bool = False,
        pad_id: int = 0,
        eos_id: int = 2,
        pool_type: str = "argmax",
        proj_type: str = "linear",
        proj_bias: bool = False,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = _layers.LayerNorm,
        output_tokens: bool = False,
        block_type: str | None = None,
        qk_norm: bool = False,
        scaled_cosine_attn: bool = False,
        scale_heads: bool = False,
        scale_attn_inner: bool = False,
        scale_attn: bool = False,
        scale_fc: bool = False,
    ) -> None:
        if use_pad_mask or correct_cls_mask:
            raise UnsupportedOptionError(
                "TextTransformer(use_pad_mask=True / correct_cls_mask=True) is not implemented in clipzoo's text "
                "tower; leave both False (the configs of open_clip 3.3.0 do not use them)"
            )
        options = _options(qk_norm, scaled_cosine_attn, scale_heads, scale_attn_inner, scale_attn, scale_fc)
        super().__init__(
            context_length,
            vocab_size,
            width,
            heads,
            layers,
            mlp_ratio,
            ls_init_value,
            output_dim,
            embed_cls,
            no_causal_mask,
            pad_id,
            eos_id,
            pool_type,
            proj_type,
            proj_bias,
            act_layer,
            norm_layer,
            output_tokens,
            block_type,
            attn_options=options,
        )


class MultimodalTransformer(_MultimodalDecoder, metaclass=_AliasMeta):
    """CoCa's text decoder (self-attention + cross-attention to image tokens), open_clip's arguments."""

    __alias_of__ = _MultimodalDecoder

    def __init__(
        self,
        width: int,
        layers: int,
        heads: int,
        context_length: int = 77,
        mlp_ratio: float = 4.0,
        ls_init_value: float = None,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = _layers.LayerNorm,
        output_dim: int = 512,
        batch_first: bool = True,
    ) -> None:
        _batch_first_only(batch_first, "MultimodalTransformer")
        super().__init__(
            width, layers, heads, context_length, mlp_ratio, ls_init_value, act_layer, norm_layer, output_dim
        )


def _timm_tower_class() -> type:
    from ...models.timm_tower import TimmTower

    return TimmTower


def _make_timm_model() -> type:
    tower = _timm_tower_class()

    class TimmModel(tower, metaclass=_AliasMeta):
        """A timm image backbone + pooling/projection head, open_clip's flat constructor."""

        __alias_of__ = tower

        def __init__(
            self,
            model_name: str,
            embed_dim: int,
            image_size: int | tuple[int, int] = 224,
            pool: str = "avg",
            proj: str = "linear",
            proj_bias: bool = False,
            drop: float = 0.0,
            drop_path: float | None = None,
            patch_drop: float | None = None,
            pretrained: bool = False,
        ) -> None:
            from ...registry.config import VisionCfg

            if patch_drop is not None:
                raise UnsupportedOptionError(
                    "TimmModel(patch_drop=...) is not supported by clipzoo's timm tower"
                )
            cfg = VisionCfg(
                timm_model_name=model_name,
                timm_model_pretrained=pretrained,
                timm_pool=pool,
                timm_proj=proj,
                timm_proj_bias=proj_bias,
                timm_drop=drop,
                timm_drop_path=drop_path,
                image_size=image_size,
            )
            super().__init__(cfg, embed_dim, image_size=image_size, pretrained=pretrained)

    TimmModel.__module__ = __name__
    TimmModel.__qualname__ = "TimmModel"
    return TimmModel


def _make_hf_text_encoder() -> type:
    from ...models.hf_text import HFTextTower

    class HFTextEncoder(HFTextTower, metaclass=_AliasMeta):
        """A transformers encoder as text tower, open_clip's constructor (model name or a config)."""

        __alias_of__ = HFTextTower

        def __init__(
            self,
            model_name_or_path: str,
            output_dim: int,
            config: Any = None,
            pooler_type: str = None,
            proj_type: str = None,
            pretrained: bool = True,
            output_tokens: bool = False,
        ) -> None:
            import tempfile

            from ...registry.config import TextCfg

            def build(name: str, pretrained: bool) -> None:
                cfg = TextCfg(
                    hf_model_name=name,
                    hf_model_pretrained=pretrained,
                    hf_pooler_type=pooler_type,
                    hf_proj_type=proj_type,
                    output_tokens=output_tokens,
                )
                HFTextTower.__init__(self, cfg, output_dim)

            if config is None:
                build(model_name_or_path, pretrained)
                return
            # a given config builds an untrained encoder from it, as in open_clip
            with tempfile.TemporaryDirectory() as folder:
                config.save_pretrained(folder)
                build(folder, False)

    HFTextEncoder.__module__ = __name__
    HFTextEncoder.__qualname__ = "HFTextEncoder"
    return HFTextEncoder


def _make_hf_hub_download() -> Callable[..., str]:
    """huggingface_hub's ``hf_hub_download`` identifying clipzoo in the user agent (open_clip's partial)."""
    import functools

    from huggingface_hub import hf_hub_download

    from ... import __version__

    return functools.partial(hf_hub_download, library_name="clipzoo", library_version=__version__)


_LAZY_CLASSES: dict[str, Callable[[], Any]] = {
    "TimmModel": _make_timm_model,
    "HFTextEncoder": _make_hf_text_encoder,
    "hf_hub_download": _make_hf_hub_download,
}


def __getattr__(name: str) -> Any:
    # timm and transformers are heavy: their adapters are built when first asked for
    factory = _LAZY_CLASSES.get(name)
    if factory is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = factory()
    globals()[name] = value
    return value


# -- tokenizers -----------------------------------------------------------------------------------------


class SimpleTokenizer(_bpe.SimpleTokenizer, metaclass=_AliasMeta):
    """CLIP's BPE tokenizer; ``bpe_path`` defaults to the merges file shipped with clipzoo (open_clip's own)."""

    __alias_of__ = _bpe.SimpleTokenizer

    def __init__(
        self,
        bpe_path: str = _bpe.default_bpe(),
        additional_special_tokens: list[str] | None = None,
        context_length: int | None = 77,
        clean: str = "lower",
        reduction_mask: str = "",
    ) -> None:
        super().__init__(bpe_path, additional_special_tokens, context_length, clean, reduction_mask)


class HFTokenizer(_HF, metaclass=_AliasMeta):
    """A Hugging Face tokenizer (Hub id or folder); extra keyword arguments as in open_clip are refused."""

    __alias_of__ = _HF

    def __init__(
        self,
        tokenizer_name: str,
        context_length: int | None = 77,
        clean: str = "whitespace",
        strip_sep_token: bool = False,
        language: str | None = None,
        cache_dir: str | None = None,
        tokenizer_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise UnsupportedOptionError(
                f"HFTokenizer got keyword arguments clipzoo does not pass on to transformers: {sorted(kwargs)}; "
                "put tokenizer options in the tokenizer folder's tokenizer_config.json"
            )
        super().__init__(
            tokenizer_name, context_length, clean, strip_sep_token, language, cache_dir, tokenizer_mode
        )


# open_clip's SigLipTokenizer names -> sentencepiece model URLs (big_vision's public vocabularies)
SIGLIP_VOCAB_FILES = {
    "c4-en": "http://storage.googleapis.com/t5-data/vocabs/cc_en.32000/sentencepiece.model",
    "mc4": "http://storage.googleapis.com/t5-data/vocabs/mc4.250000.100extra/sentencepiece.model",
    "gemma": "http://storage.googleapis.com/big_vision/gemma_tokenizer.model",
}


class SigLipTokenizer:
    """open_clip's tool for importing T5-style sentencepiece vocabularies: transformers' ``T5TokenizerFast``
    (``legacy=False``; ``GemmaTokenizerFast`` for Gemma vocabularies) after open_clip's cleaning.

    ``tokenizer_name`` is ``c4-en``/``mc4``/``gemma`` (big_vision's public vocabularies, downloaded through
    clipzoo's verified cache) or a sentencepiece ``.model`` file. Needs transformers (``clipzoo[hf]``).
    clipzoo's own SigLIP tokenizer for model configs is :class:`clipzoo.tokenizers.SigLipTokenizer`.
    """

    def __init__(self, tokenizer_name: str, context_length: int | None = 64) -> None:
        import os
        from functools import partial

        if tokenizer_name in SIGLIP_VOCAB_FILES:
            from ...hub.url import download_pretrained_from_url

            vocab_file = download_pretrained_from_url(SIGLIP_VOCAB_FILES[tokenizer_name])
        elif os.path.isfile(tokenizer_name):
            vocab_file = tokenizer_name
        else:
            raise UnsupportedOptionError(
                f"SigLipTokenizer({tokenizer_name!r}): give one of {', '.join(SIGLIP_VOCAB_FILES)} or the path "
                "of a sentencepiece .model file"
            )
        gemma = "gemma" in tokenizer_name
        if gemma:
            from transformers import GemmaTokenizerFast

            make = partial(GemmaTokenizerFast, padding_side="right", add_bos_token=False, add_eos_token=True)
        else:
            from transformers import T5TokenizerFast

            make = partial(T5TokenizerFast, extra_ids=0)
        self.tokenizer = make(vocab_file, legacy=False)
        self.tokenizer.pad_token_id = 0 if gemma else 1
        self.tokenizer.eos_token_id = 1
        self.context_length = context_length

    def save_pretrained(self, dest: str) -> None:
        """Write the transformers tokenizer files to ``dest``."""
        self.tokenizer.save_pretrained(dest)

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        """Token ids ``[len(texts), context_length]``: cleaned, truncated, padded.

        Raises:
            ValueError: no context length was given here or at construction.
        """
        from ...tokenizers.clean import basic_clean

        texts = [texts] if isinstance(texts, str) else list(texts)
        context_length = context_length or self.context_length
        if not context_length:
            raise ValueError("SigLipTokenizer needs a context_length (at construction or in the call)")
        cleaned = [canonicalize_text(basic_clean(text)) for text in texts]
        out = self.tokenizer(
            cleaned, return_tensors="pt", max_length=context_length, padding="max_length", truncation=True
        )
        return out.input_ids


_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def get_pairs(word: tuple[str, ...]) -> set[tuple[str, str]]:
    """The set of adjacent symbol pairs of a word (a tuple of symbols)."""
    return set(zip(word, word[1:]))


def get_clean_fn(type: str) -> Callable[[str], str]:  # noqa: A002 - open_clip's parameter name
    """The text cleaning function for ``type`` ('lower', 'whitespace' or 'canonicalize')."""
    from ...tokenizers.clean import get_clean_fn as clean_fn

    return clean_fn(type)


def get_reduction_mask_fn(type: str) -> Callable[..., torch.Tensor]:  # noqa: A002 - open_clip's parameter name
    """The token-reduction strategy for ``type`` ('simple', 'random', 'shuffle' or 'syntax')."""
    return _bpe.get_reduction_mask_fn(type)


def canonicalize_text(
    text: str,
    *,
    keep_punctuation_exact_string: str | None = None,
    trans_punctuation: dict = _DROP_PUNCTUATION,
) -> str:
    """big_vision's text canonicalization: '_' to space, drop punctuation (``trans_punctuation``), lowercase,
    collapse whitespace; ``keep_punctuation_exact_string`` occurrences are kept intact."""
    text = text.replace("_", " ")
    if keep_punctuation_exact_string:
        parts = text.split(keep_punctuation_exact_string)
        text = keep_punctuation_exact_string.join(part.translate(trans_punctuation) for part in parts)
    else:
        text = text.translate(trans_punctuation)
    return " ".join(text.lower().split())


# -- text pooling, locking, state-dict conversion -------------------------------------------------------


def text_global_pool(
    x: torch.Tensor,
    text: torch.Tensor | None = None,
    pool_type: str = "argmax",
    eos_token_id: int | None = None,
) -> torch.Tensor:
    """Pool token states [B, L, D] into one vector per sequence.

    Args:
        x: Token states ``[batch, tokens, width]``.
        text: Token ids ``[batch, tokens]`` (needed by 'argmax' and 'eos').
        pool_type: 'first', 'last', 'argmax' (the position of the highest id: CLIP's end token), 'eos' (the
            first ``eos_token_id``); any other value returns ``x`` unchanged.
        eos_token_id: The end token id for 'eos'.

    Returns:
        ``[batch, width]`` (or ``x`` for an unknown ``pool_type``).

    Raises:
        ValueError: 'argmax'/'eos' without ``text``, or 'eos' without ``eos_token_id``.
    """
    if pool_type == "first":
        return x[:, 0]
    if pool_type == "last":
        return x[:, -1]
    if pool_type in ("argmax", "eos"):
        if text is None:
            raise ValueError(f"text_global_pool(pool_type={pool_type!r}) needs the token ids (text=...)")
        if pool_type == "argmax":
            index = text.argmax(dim=-1)
        elif eos_token_id is None:
            raise ValueError("text_global_pool(pool_type='eos') needs eos_token_id")
        else:
            index = (text == eos_token_id).int().argmax(dim=-1)
        return x[torch.arange(x.shape[0], device=x.device), index]
    return x


def lock_text_tower(model: nn.Module, unlocked_layers: int = 0) -> None:
    """Freeze a text tower (a CLIP's top-level text modules, ``model.text``, or a TextTransformer) except
    its last ``unlocked_layers`` groups (embeddings, blocks, final norm, projection)."""
    _text.lock_text_modules(getattr(model, "text", model), unlocked_layers)


_CLIP_TEXT_PREFIXES = (
    "text_projection",
    "positional_embedding",
    "token_embedding",
    "transformer",
    "ln_final",
)


def convert_to_custom_text_state_dict(state_dict: dict) -> dict:
    """Move a CLIP-layout text tower (top-level ``transformer.*`` ...) under ``text.`` (CustomTextCLIP)."""
    if "text_projection" not in state_dict:
        return state_dict
    return {(f"text.{k}" if k.startswith(_CLIP_TEXT_PREFIXES) else k): v for k, v in state_dict.items()}


def convert_state_dict(model: nn.Module, state_dict: dict) -> dict:
    """Convert a foreign checkpoint (OpenAI, transformers CLIP/SigLIP, big_vision, MobileCLIP) to ``model``'s keys.

    Args:
        model: The model the state dict will be loaded into (open_clip's argument order: model first).
        state_dict: The checkpoint; one already in open_clip's layout is returned as is.

    Returns:
        The state dict in ``model``'s layout.
    """
    from ...checkpoint.load import convert_state_dict as convert

    if _is_mobile_clip(state_dict):
        return convert_mobile_clip_state_dict(model, state_dict, fastvit=_MOBILECLIP_S_KEY in state_dict)
    return convert(state_dict, model)


def load_big_vision_weights(model: nn.Module, checkpoint_path: str) -> None:
    """Load a big_vision SigLIP ``.npz`` checkpoint into a CustomTextCLIP with a timm image tower (in place).

    Args:
        model: The SigLIP model (``CustomTextCLIP`` with a timm ``visual.trunk``).
        checkpoint_path: The ``.npz`` file.
    """
    from ...formats.big_vision import convert_big_vision, read_npz

    state = convert_big_vision(read_npz(checkpoint_path), model)
    model.load_state_dict(state)


_MOBILECLIP_S_KEY = "image_encoder.model.patch_embed.0.rbr_conv.0.conv.weight"
_MOBILECLIP_B_KEY = "image_encoder.model.patch_emb.0.block.conv.weight"
_MOBILECLIP_TEXT_RENAMES = (
    ("projection_layer", "text_projection"),
    ("embedding_layer", "token_embedding"),
    ("final_layer_norm", "ln_final"),
    ("pre_norm_mha.0", "ln_1"),
    ("pre_norm_mha.1", "attn"),
    ("pre_norm_ffn.0", "ln_2"),
    ("pre_norm_ffn.1", "mlp.c_fc"),
    ("pre_norm_ffn.4", "mlp.c_proj"),
    ("qkv_proj.weight", "in_proj_weight"),
    ("qkv_proj.bias", "in_proj_bias"),
    ("transformer.", "transformer.resblocks."),
)


def _is_mobile_clip(state_dict: dict) -> bool:
    return _MOBILECLIP_S_KEY in state_dict or _MOBILECLIP_B_KEY in state_dict


def convert_mobile_clip_state_dict(model: nn.Module, state_dict: dict, fastvit: bool = True) -> dict:
    """Apple MobileCLIP checkpoints (S1/S2 with ``fastvit``, B without) to a CustomTextCLIP's keys.

    The image encoder goes through timm's checkpoint filter for the tower's trunk; the text encoder's
    module names are renamed to open_clip's.

    Args:
        model: The MobileCLIP model (its ``visual.trunk`` is the timm FastViT / hybrid ViT).
        state_dict: Apple's checkpoint (``image_encoder.*``, ``text_encoder.*``, ``logit_scale``).
        fastvit: The image encoder is a FastViT (S1/S2); False for the hybrid ViT of MobileCLIP-B.

    Returns:
        The state dict in ``model``'s layout.
    """
    if fastvit:
        from timm.models.fastvit import checkpoint_filter_fn
    else:
        from timm.models.vision_transformer_hybrid import checkpoint_filter_fn
    out = {f"visual.trunk.{k}": v for k, v in checkpoint_filter_fn(state_dict, model.visual.trunk).items()}
    prefix = "text_encoder."
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if key.startswith("positional_embedding.pos_embed.pos_embed"):
            key, value = "positional_embedding", value.squeeze()
        for old, new in _MOBILECLIP_TEXT_RENAMES:
            key = key.replace(old, new)
        out[f"text.{key}"] = value
    out["logit_scale"] = state_dict["logit_scale"]
    return out


# -- CoCa generation, hub -------------------------------------------------------------------------------


def prepare_inputs_for_generation(
    input_ids: torch.Tensor, image_inputs: torch.Tensor, past: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """The keyword arguments of one decoding step (transformers' generation protocol, as open_clip's CoCa).

    With ``past`` only the last token is fed; with an ``attention_mask`` and no ``position_ids``, positions
    are counted along the mask (padding positions get 1).
    """
    if past:
        input_ids = input_ids[:, -1].unsqueeze(-1)
    attention_mask = kwargs.get("attention_mask")
    position_ids = None
    if attention_mask is not None and kwargs.get("position_ids") is None:
        position_ids = attention_mask.long().cumsum(-1) - 1
        position_ids.masked_fill_(attention_mask == 0, 1)
    return {
        "text": input_ids,
        "images": image_inputs,
        "past_key_values": past,
        "position_ids": position_ids,
        "attention_mask": attention_mask,
    }


def has_hf_hub(necessary: bool = False) -> bool:
    """Whether ``huggingface_hub`` is installed (a clipzoo dependency, so True).

    Raises:
        RuntimeError: ``necessary`` and it is not installed.
    """
    import importlib.util

    present = importlib.util.find_spec("huggingface_hub") is not None
    if necessary and not present:
        raise RuntimeError("a Hugging Face Hub model was asked for but huggingface_hub is not installed")
    return present

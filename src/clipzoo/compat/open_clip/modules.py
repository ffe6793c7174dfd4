"""open_clip 3.3.0's constructors for clipzoo's layers, blocks and towers, where clipzoo's own differ.

clipzoo's classes take typed options (``AttnOptions``, a config section); open_clip's take flat keyword
arguments with other names (``d_model``/``n_head``, ``init_values``, ``batch_first``, ...). Each class here is
a thin subclass of the clipzoo class with open_clip's constructor: it translates the arguments and builds
the clipzoo module, so the parameters, state-dict keys and forward are clipzoo's. ``isinstance`` works both
ways: a block clipzoo built is an instance of the open_clip-named class too (see :class:`AliasMeta`).

Most constructors are derived, not retyped: :func:`open_clip_init` takes the clipzoo class's signature (its
defaults and annotations), puts the parameters in open_clip's order under open_clip's names, and adds the
arguments open_clip has and clipzoo does not (the flat attention switches, ``batch_first``, ...).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ...errors import UnsupportedOptionError
from ...models import layers as _layers
from ...models import text as _text
from ...models import transformer as _transformer
from ...models import vit as _vit
from ...models.coca import MultimodalDecoder as _MultimodalDecoder

__all__ = [
    "ATTN_SWITCHES",
    "AliasMeta",
    "Attention",
    "CustomResidualAttentionBlock",
    "CustomTransformer",
    "LayerScale",
    "MultimodalTransformer",
    "OpenClipArgument",
    "PatchDropout",
    "ResidualAttentionBlock",
    "TextTransformer",
    "Transformer",
    "UnsupportedOptionError",
    "VisionTransformer",
    "open_clip_init",
]


class AliasMeta(type):
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


@dataclass(frozen=True)
class OpenClipArgument:
    """An open_clip constructor argument clipzoo's class lacks: its default and the values clipzoo can honour."""

    default: Any
    accepts: Callable[[Any], bool]
    hint: str  # what to do instead, for the error message

    def check(self, owner: str, name: str, value: Any) -> None:
        """Raise unless clipzoo can honour ``value``.

        Args:
            owner: The class name, for the message.
            name: The argument's name.
            value: The value the caller gave.

        Raises:
            UnsupportedOptionError: ``value`` is one clipzoo's implementation does not have.
        """
        if not self.accepts(value):
            raise UnsupportedOptionError(f"{owner}({name}={value!r}): {self.hint}")


BATCH_FIRST = OpenClipArgument(
    True,
    bool,
    "clipzoo's transformers take [batch, tokens, width] only; transpose the input (x.transpose(0, 1)) and use "
    "batch_first=True",
)

ATTN_SWITCHES = _transformer.ATTN_SWITCHES  # open_clip's flat custom-attention flags -> AttnOptions field
_SWITCH_NAMES = " ".join(ATTN_SWITCHES)


def open_clip_init(
    base: type[nn.Module],
    order: str,
    *,
    rename: Mapping[str, str] | None = None,
    extras: Mapping[str, OpenClipArgument] | None = None,
    switches: Mapping[str, str] | None = None,
    options_param: str = "options",
    fixed: Mapping[str, Any] | None = None,
) -> Callable[..., None]:
    """An ``__init__`` with open_clip's parameters that builds ``base`` (clipzoo's class) from them.

    Args:
        base: The clipzoo class; parameters not in ``extras``/``switches`` take its defaults and annotations.
        order: open_clip's parameter names in order, separated by spaces.
        rename: open_clip name -> ``base``'s name, for parameters spelled differently.
        extras: open_clip-only parameters: their defaults and the values clipzoo accepts (then dropped).
        switches: open_clip's flat attention flags -> ``AttnOptions`` field; passed as ``options_param``.
        options_param: ``base``'s parameter that takes the ``AttnOptions``.
        fixed: Arguments always passed to ``base`` (not open_clip parameters).

    Returns:
        The ``__init__`` function, with ``__signature__`` set to open_clip's parameter list.
    """
    rename, extras, switches, fixed = rename or {}, extras or {}, switches or {}, fixed or {}
    base_params = inspect.signature(base.__init__).parameters
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name in order.split():
        if name in extras:
            params.append(
                inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=extras[name].default)
            )
        elif name in switches:
            params.append(
                inspect.Parameter(
                    name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=False, annotation="bool"
                )
            )
        else:
            source = base_params[rename.get(name, name)]
            params.append(source.replace(name=name, kind=inspect.Parameter.POSITIONAL_OR_KEYWORD))
    signature = inspect.Signature(params)

    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values["self"]
        owner = type(self).__name__
        for name, extra in extras.items():
            extra.check(owner, name, values.pop(name))
        call = {rename.get(name, name): value for name, value in values.items() if name not in switches}
        if switches:
            call[options_param] = _transformer.AttnOptions(
                **{field: values[flag] for flag, field in switches.items()}
            )
        base.__init__(self, **call, **fixed)

    __init__.__dict__["__signature__"] = signature
    __init__.__doc__ = f"Build clipzoo's ``{base.__name__}`` from open_clip's arguments."
    return __init__


# -- layers ---------------------------------------------------------------------------------------------


class LayerScale(_layers.LayerScale, metaclass=AliasMeta):
    """Per-channel learnable scale (``gamma``), open_clip's ``init_values`` spelling."""

    __alias_of__ = _layers.LayerScale
    __init__ = open_clip_init(
        _layers.LayerScale, "dim init_values inplace", rename={"init_values": "init_value"}
    )


class PatchDropout(_layers.PatchDropout, metaclass=AliasMeta):
    """Drop a random fraction ``prob`` of patch tokens in training (the class token kept if asked)."""

    __alias_of__ = _layers.PatchDropout

    def __init__(self, prob: float = 0.5, exclude_first_token: bool = True) -> None:
        super().__init__(prob, exclude_first_token)


class Attention(_transformer.Attention, metaclass=AliasMeta):
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
        options = _transformer.AttnOptions(qk_norm, scaled_cosine, scale_heads, inner_norm)
        super().__init__(
            dim,
            num_heads,
            custom=True,
            options=options,
            norm_layer=norm_layer,
            logit_scale_max=logit_scale_max,
        )


_BLOCK_HEAD = "mlp_ratio ls_init_value act_layer norm_layer"  # what blocks and stacks share after their sizes
_BLOCK_NAMES = {"d_model": "width", "n_head": "heads"}
# open_clip's CustomResidualAttentionBlock spells the cosine switch ``scale_cosine_attn`` (its stacks: ``scaled_``)
_BLOCK_SWITCHES = {
    ("scale_cosine_attn" if flag == "scaled_cosine_attn" else flag): field
    for flag, field in ATTN_SWITCHES.items()
}


class ResidualAttentionBlock(_transformer.ResidualAttentionBlock, metaclass=AliasMeta):
    """Pre-norm transformer block (optionally cross-attention) with open_clip's argument names."""

    __alias_of__ = _transformer.ResidualAttentionBlock
    __init__ = open_clip_init(
        _transformer.ResidualAttentionBlock,
        f"d_model n_head {_BLOCK_HEAD} is_cross_attention batch_first",
        rename={**_BLOCK_NAMES, "is_cross_attention": "cross_attention"},
        extras={"batch_first": BATCH_FIRST},
    )


class CustomResidualAttentionBlock(_transformer.ResidualAttentionBlock, metaclass=AliasMeta):
    """The block with open_clip's custom attention (its switches as flat arguments)."""

    __alias_of__ = _transformer.ResidualAttentionBlock
    __init__ = open_clip_init(
        _transformer.ResidualAttentionBlock,
        f"d_model n_head {_BLOCK_HEAD} {' '.join(_BLOCK_SWITCHES)} batch_first",
        rename=_BLOCK_NAMES,
        extras={"batch_first": BATCH_FIRST},
        switches=_BLOCK_SWITCHES,
        fixed={"block_type": "custom"},
    )


class Transformer(_transformer.Transformer, metaclass=AliasMeta):
    """A stack of ``layers`` blocks (``block_type`` 'default' or 'custom', chosen from the switches if None)."""

    __alias_of__ = _transformer.Transformer
    __init__ = open_clip_init(
        _transformer.Transformer,
        f"width layers heads {_BLOCK_HEAD} batch_first block_type {_SWITCH_NAMES}",
        extras={"batch_first": BATCH_FIRST},
        switches=ATTN_SWITCHES,
    )


def _custom_blocks_only(block_types: str | list[str]) -> bool:
    kinds = {block_types} if isinstance(block_types, str) else set(block_types)
    return kinds == {"CustomResidualAttentionBlock"}


class CustomTransformer(_transformer.Transformer, metaclass=AliasMeta):
    """A stack of custom-attention blocks (open_clip's ``CustomTransformer``)."""

    __alias_of__ = _transformer.Transformer
    __init__ = open_clip_init(
        _transformer.Transformer,
        f"width layers heads {_BLOCK_HEAD} batch_first block_types",
        extras={
            "batch_first": BATCH_FIRST,
            "block_types": OpenClipArgument(
                "CustomResidualAttentionBlock",
                _custom_blocks_only,
                "only 'CustomResidualAttentionBlock' exists",
            ),
        },
        fixed={"block_type": "custom"},
    )


# -- towers ---------------------------------------------------------------------------------------------


_TOWER_TAIL = "act_layer norm_layer output_tokens block_type"  # how open_clip's tower parameters end (then switches)


def _tower_init(base: type[nn.Module], head: str | None = None, **kwargs: Any) -> Callable[..., None]:
    """:func:`open_clip_init` of an image or text tower: open_clip's ``head`` parameters (by default ``base``'s own
    before ``act_layer``), then the ones both towers end with (activation, norm, ``output_tokens``,
    ``block_type`` and the flat attention switches, which ``base`` takes as ``attn_options``)."""
    if head is None:
        names = list(inspect.signature(base.__init__).parameters)
        head = " ".join(names[1 : names.index("act_layer")])
    order = f"{head} {_TOWER_TAIL} {_SWITCH_NAMES}"
    return open_clip_init(base, order, switches=ATTN_SWITCHES, options_param="attn_options", **kwargs)


class VisionTransformer(_vit.VisionTransformer, metaclass=AliasMeta):
    """The native ViT image tower with open_clip's flat custom-attention switches."""

    __alias_of__ = _vit.VisionTransformer
    __init__ = _tower_init(_vit.VisionTransformer)  # open_clip's parameters are clipzoo's, in the same order


_PAD_MASK = OpenClipArgument(
    False,
    lambda value: not value,
    "not implemented in clipzoo's text tower; leave use_pad_mask and correct_cls_mask False (the configs of "
    "open_clip 3.3.0 do not use them)",
)


class TextTransformer(_text.TextTransformer, metaclass=AliasMeta):
    """The native text tower with open_clip's flat arguments."""

    __alias_of__ = _text.TextTransformer
    __init__ = _tower_init(
        _text.TextTransformer,
        "context_length vocab_size width heads layers mlp_ratio ls_init_value output_dim embed_cls no_causal_mask"
        " use_pad_mask correct_cls_mask pad_id eos_id pool_type proj_type proj_bias",
        extras={"use_pad_mask": _PAD_MASK, "correct_cls_mask": _PAD_MASK},
    )


class MultimodalTransformer(_MultimodalDecoder, metaclass=AliasMeta):
    """CoCa's text decoder (self-attention + cross-attention to image tokens), open_clip's arguments."""

    __alias_of__ = _MultimodalDecoder
    __init__ = open_clip_init(
        _MultimodalDecoder,
        f"width layers heads context_length {_BLOCK_HEAD} output_dim batch_first",
        extras={"batch_first": BATCH_FIRST},
    )


def _alias_class(name: str, base: type, init: Callable[..., None], doc: str) -> type:
    """open_clip's class ``name``: ``base`` (an alias of it, see :class:`AliasMeta`) with open_clip's constructor."""
    init.__qualname__ = f"{name}.__init__"  # what a TypeError about its arguments names
    namespace = {"__doc__": doc, "__alias_of__": base, "__init__": init, "__module__": __name__, "__qualname__": name}
    return AliasMeta(name, (base,), namespace)


# TimmModel's arguments (open_clip's flat constructor) -> the VisionCfg fields of a timm tower.
_TIMM_MODEL_FIELDS = {
    "model_name": "timm_model_name", "pretrained": "timm_model_pretrained", "pool": "timm_pool", "proj": "timm_proj",
    "proj_bias": "timm_proj_bias", "drop": "timm_drop", "drop_path": "timm_drop_path",
}  # fmt: skip


def _timm_model_init(
    self: Any,
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
    """TimmModel's constructor: open_clip's flat arguments as a timm tower's VisionCfg."""
    from ...models.timm_tower import TimmTower
    from ...registry.config import VisionCfg

    if patch_drop is not None:
        raise UnsupportedOptionError("TimmModel(patch_drop=...) is not supported by clipzoo's timm tower")
    given = locals()
    cfg = VisionCfg(image_size=image_size, **{field: given[arg] for arg, field in _TIMM_MODEL_FIELDS.items()})
    TimmTower.__init__(self, cfg, embed_dim, image_size=image_size, pretrained=pretrained)


def _make_timm_model() -> type:
    from ...models.timm_tower import TimmTower

    doc = "A timm image backbone + pooling/projection head, open_clip's flat constructor."
    return _alias_class("TimmModel", TimmTower, _timm_model_init, doc)


def _hf_text_encoder_init(
    self: Any,
    model_name_or_path: str,
    output_dim: int,
    config: Any = None,
    pooler_type: str | None = None,
    proj_type: str | None = None,
    pretrained: bool = True,
    output_tokens: bool = False,
) -> None:
    """HFTextEncoder's constructor: a transformers model name, or a config (an untrained encoder, as open_clip)."""
    import tempfile

    from ...models.hf_text import HFTextTower
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
    with tempfile.TemporaryDirectory() as folder:
        config.save_pretrained(folder)
        build(folder, False)


def _make_hf_text_encoder() -> type:
    from ...models.hf_text import HFTextTower

    doc = "A transformers encoder as text tower, open_clip's constructor (model name or a config)."
    return _alias_class("HFTextEncoder", HFTextTower, _hf_text_encoder_init, doc)


_LAZY_CLASSES: dict[str, Callable[[], type]] = {
    "TimmModel": _make_timm_model,
    "HFTextEncoder": _make_hf_text_encoder,
}


def __getattr__(name: str) -> type:
    # timm and transformers are heavy: their adapters are built when first asked for
    factory = _LAZY_CLASSES.get(name)
    if factory is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = factory()
    globals()[name] = value
    return value

"""The model rewrites behind the CPU inference paths (see ``paths``): bf16 prepacked for oneDNN, int8 dynamic.

Both start from :func:`fuse_qkv`, which gives the default self-attention's packed input projection (a bare
``in_proj_weight`` used through ``F.linear``) an ``nn.Linear`` of its own, so that every GEMM of a transformer
tower is an ``nn.Linear`` that the path then replaces:

- bf16: :class:`PackedLinear` holds the weight in oneDNN's blocked layout (``torch.ops.mkldnn._reorder_linear_weight``,
  done once here instead of at every call) and runs ``torch.ops.mkldnn._linear_pointwise`` with the bias, and an
  exact or tanh GELU that follows it, fused into the GEMM (the ops torch's inductor uses for frozen CPU graphs).
  Where torch's oneDNN bf16 kernels cannot run (CPUs without AVX512BW/VL/DQ or AVX-NE-CONVERT),
  :class:`Bf16Linear` computes the same bf16 GEMM through ``F.linear`` (the same numbers, slower).
- int8: :class:`Int8Linear` holds the weight quantized per output channel (symmetric int8) and packed for torch's
  quantized engine; activations are quantized per call (``torch.ops.quantized.linear_dynamic``).

The rewritten model is for inference only: ``eval()``, no gradients, and its ``state_dict`` no longer holds the
replaced weights (save the model before optimizing it). It deep-copies and pickles whole (``copy.deepcopy``,
``torch.save(model)``): a packed bf16 weight is written as its plain bf16 matrix and packed again when read.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Protocol, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

from ..models.resnet import AttentionPool2d
from ..models.transformer import Attention

# (GEMM child, activation child, norm child between them) of the MLP containers whose GELU can be fused.
MLP_LAYOUTS = (("c_fc", "gelu", "ln"), ("fc1", "act", "norm"))
# Activation class (module, name) -> oneDNN GELU algorithm, for classes without an ``approximate`` attribute.
GELU_CLASSES = {("timm.layers.activations", "GELU"): "none", ("timm.layers.activations", "GELUTanh"): "tanh"}
# Modules that read their linear children's ``.weight`` directly (F.linear) instead of calling them: their
# linears keep an ordinary weight (cast to bf16 on the bf16 path, float32 on the int8 path).
WEIGHT_READERS = (AttentionPool2d,)


class QKVSelfAttention(Attention):
    """The default ``Attention`` (packed projection, no custom options) with its projection as ``qkv: nn.Linear``.

    ``Attention.forward`` runs unchanged; only the projection differs. ``memory`` (the key/value rows, as the text
    tower's last block passes them) is projected by the same matrix, its query third unused.
    """

    def __init__(self, attn: Attention) -> None:
        nn.Module.__init__(self)  # no fresh parameters: the layer reuses ``attn``'s
        self.dim, self.num_heads, self.head_dim = attn.dim, attn.num_heads, attn.head_dim
        self.custom, self.packed, self.logit_scale_max = False, True, attn.logit_scale_max
        self.qkv = nn.Linear(attn.dim, 3 * attn.dim, device=attn.in_proj_weight.device)
        self.qkv.weight, self.qkv.bias = attn.in_proj_weight, attn.in_proj_bias
        for name in ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            self.register_parameter(name, None)
        self.logit_scale = self.head_scale = None
        self.ln_q, self.ln_k, self.ln_inner = attn.ln_q, attn.ln_k, attn.ln_inner  # identities (see eligible)
        self.out_proj = attn.out_proj
        self.mha_layout, self.fast_inference = False, True  # no in_proj_weight left: SDPA on ``qkv``

    @staticmethod
    def eligible(module: nn.Module) -> TypeGuard[Attention]:
        """True for an ``Attention`` whose forward is plain SDPA over one packed projection."""
        return (
            type(module) is Attention
            and module.in_proj_weight is not None
            and module.logit_scale is None
            and module.head_scale is None
            and all(isinstance(m, nn.Identity) for m in (module.ln_q, module.ln_k, module.ln_inner))
        )

    def projection_weights(self) -> list[nn.Parameter]:
        """The packed input projection (``qkv.weight``)."""
        weight = self.qkv.weight
        assert isinstance(weight, nn.Parameter)  # nn.Linear's weight, typed as a plain tensor
        return [weight]

    def _project(
        self, x: torch.Tensor, memory: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if memory is None:
            qkv = self.qkv(x).unflatten(-1, (3, self.num_heads, self.head_dim)).permute(2, 0, 3, 1, 4)
            return qkv[0], qkv[1], qkv[2]
        d = self.dim
        kv = self.qkv(memory)
        q = self.qkv(x)[..., :d]
        return self._split_heads(q), self._split_heads(kv[..., d : 2 * d]), self._split_heads(kv[..., 2 * d :])


class PackedLinear(nn.Module):
    """A bf16 linear layer whose weight is prepacked once for oneDNN, with its bias and an optional GELU fused.

    Args:
        linear: The layer to replace (any float dtype; its weight is cast to bf16 and reordered).
        gelu: ``None`` (no activation), ``"none"`` (exact GELU) or ``"tanh"`` (tanh GELU), applied in the GEMM.
    """

    def __init__(self, linear: nn.Linear, gelu: str | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            self.weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach().to(torch.bfloat16))
            self.bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).contiguous()
        self.attr, self.algorithm = ("gelu", gelu) if gelu is not None else ("none", "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``gelu?(x @ W.T + b)`` in bf16; the result has ``x``'s dtype (a float32 input gets float32 back)."""
        y = torch.ops.mkldnn._linear_pointwise(
            x.to(torch.bfloat16), self.weight, self.bias, self.attr, [], self.algorithm
        )
        return y if x.dtype == torch.bfloat16 else y.to(x.dtype)

    def __getstate__(self) -> dict:
        """The module's state with the packed weight as its plain bf16 matrix: an opaque oneDNN tensor has no
        storage, so ``copy.deepcopy`` and pickling cannot read it."""
        state = super().__getstate__().copy()
        state["weight"] = self.weight.to_dense()
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore a pickled or copied layer, packing its plain bf16 weight again for oneDNN."""
        super().__setstate__(state)
        self.weight = torch.ops.mkldnn._reorder_linear_weight(self.weight)

    def extra_repr(self) -> str:
        """Sizes and the fused activation."""
        fused = f", fused GELU ({self.algorithm})" if self.attr == "gelu" else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, bf16 oneDNN-packed{fused}"


class Bf16Linear(nn.Module):
    """A bf16 linear layer through ``F.linear``, for CPUs where oneDNN's packed bf16 kernels cannot run.

    Computes what :class:`PackedLinear` computes (bf16 weights and activations, the GELU applied to the bf16
    GEMM's output), without prepacking or fusion; torch emulates the bf16 products where the CPU lacks them.

    Args:
        linear: The layer to replace (its weight and bias are cast to bf16).
        gelu: ``None``, ``"none"`` (exact GELU) or ``"tanh"``, applied after the GEMM.
    """

    def __init__(self, linear: nn.Linear, gelu: str | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features, self.gelu = linear.in_features, linear.out_features, gelu
        with torch.no_grad():
            self.weight = linear.weight.detach().to(torch.bfloat16).contiguous()
            self.bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``gelu?(x @ W.T + b)`` in bf16; the result has ``x``'s dtype (a float32 input gets float32 back)."""
        y = F.linear(x.to(torch.bfloat16), self.weight, self.bias)
        if self.gelu is not None:
            y = F.gelu(y, approximate=self.gelu)
        return y if x.dtype == torch.bfloat16 else y.to(x.dtype)

    def extra_repr(self) -> str:
        """Sizes and the activation applied after the GEMM."""
        gelu = f", GELU ({self.gelu})" if self.gelu is not None else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, bf16 unpacked{gelu}"


class Int8Linear(nn.Module):
    """A linear layer with int8 weights (symmetric, per output channel) and activations quantized per call.

    Args:
        linear: The layer to replace (its weight is quantized from float32).
        reduce_range: Quantize activations to 7 bits, which AVX2's int8 multiply-add needs to avoid saturating
            (CPUs with VNNI do not).
    """

    def __init__(self, linear: nn.Linear, reduce_range: bool) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.reduce_range = reduce_range
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-8)
        # rounded here rather than by torch.quantize_per_channel, which is ~10x slower on large matrices
        values = torch.round(weight / scales[:, None]).clamp_(-127, 127).to(torch.int8)
        zero = torch.zeros(weight.shape[0], dtype=torch.long)
        bias = None if linear.bias is None else linear.bias.detach().float()
        # torch marks quantized-tensor creation deprecated (still supported in 2.15): silence it here only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch._make_per_channel_quantized_tensor(values, scales.double(), zero, 0)
            self.packed = torch.ops.quantized.linear_prepack(qweight, bias)

    @property
    def weight(self) -> torch.Tensor:
        """The weight the layer applies, dequantized to float32 (computed on access; the layer keeps int8)."""
        qweight, _ = torch.ops.quantized.linear_unpack(self.packed)
        return qweight.dequantize()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W.T + b`` with ``x`` quantized to int8 for the GEMM; float32 in, float32 out."""
        return torch.ops.quantized.linear_dynamic(x.float(), self.packed, self.reduce_range)

    def extra_repr(self) -> str:
        """Sizes and the activation range."""
        bits = 7 if self.reduce_range else 8
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, int8 dynamic ({bits}-bit x)"
        )


class FastPathSwitch(Protocol):
    """A module with a fast path that its default forward leaves off (to match open_clip bit for bit)."""

    fast_inference: bool


def fast_path_off(module: object) -> TypeGuard[FastPathSwitch]:
    """Whether ``module`` has the fast-path switch, still off."""
    return getattr(module, "fast_inference", None) is False


def enable_fast_paths(model: nn.Module) -> int:
    """Turn on the shortcuts the default forward leaves off to match open_clip bit for bit (SDPA attention, the
    pooled rows only in the last block); returns how many modules switched."""
    count = 0
    for module in model.modules():
        if fast_path_off(module):
            module.fast_inference = True
            count += 1
    return count


def fuse_qkv(model: nn.Module) -> int:
    """Replace every eligible ``Attention`` by :class:`QKVSelfAttention`; returns how many were replaced."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if QKVSelfAttention.eligible(child):
                setattr(parent, name, QKVSelfAttention(child))
                count += 1
    return count


def gelu_algorithm(act: nn.Module) -> str | None:
    """oneDNN's name for the GELU ``act`` computes (``"none"`` exact, ``"tanh"``), or None if it is not a GELU."""
    if isinstance(act, nn.GELU):
        return act.approximate
    return GELU_CLASSES.get((type(act).__module__, type(act).__name__))


def replace_linears(
    model: nn.Module, make: Callable[[nn.Linear, str | None], nn.Module], fuse_gelu: bool
) -> int:
    """Replace every ``nn.Linear`` (but those of :data:`WEIGHT_READERS`) with ``make(linear, gelu)``; returns the count.

    Args:
        model: Rewritten in place.
        make: Builds the replacement from the layer and the GELU algorithm to fuse into it (None: no fusion).
        fuse_gelu: Fuse a GELU that directly follows an MLP's first layer (:data:`MLP_LAYOUTS`); the GELU module
            becomes ``nn.Identity``.
    """
    count = 0
    for parent in list(model.modules()):
        if isinstance(parent, WEIGHT_READERS):
            continue
        fused = set()
        for gemm, act_name, norm_name in MLP_LAYOUTS if fuse_gelu else ():
            linear, act = getattr(parent, gemm, None), getattr(parent, act_name, None)
            between = getattr(parent, norm_name, nn.Identity())
            algorithm = gelu_algorithm(act) if isinstance(act, nn.Module) else None
            if isinstance(linear, nn.Linear) and algorithm is not None and isinstance(between, nn.Identity):
                setattr(parent, gemm, make(linear, algorithm))
                setattr(parent, act_name, nn.Identity())
                fused.add(gemm)
                count += 1
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name not in fused:
                setattr(parent, name, make(child, None))
                count += 1
    return count


def cast_floats(value, dtype: torch.dtype):
    """``value`` with every floating-point tensor in it cast to ``dtype``, through tuples, lists and dicts.

    A tower's input is not always one tensor (NaFlex takes a dict of patches, coordinates and masks), and a
    float32 tensor left inside would meet bf16 weights deeper in the tower.
    """
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(cast_floats(v, dtype) for v in value)
    if isinstance(value, dict):
        return type(value)((k, cast_floats(v, dtype)) for k, v in value.items())
    return value


def _cast_to_fp32_output(module: nn.Module, args: tuple, output):
    return cast_floats(output, torch.float32)


def _cast_to_bf16_input(module: nn.Module, args: tuple, kwargs: dict):
    return cast_floats(args, torch.bfloat16), cast_floats(kwargs, torch.bfloat16)


# Top-level parameters that stay float32: the logit scale/bias, and CLIP's bare text projection (applied after
# ln_final, whose output the bf16 path returns in float32).
FP32_PARAMETERS = ("logit_scale", "logit_bias", "text_projection")


def cast_bf16(model: nn.Module) -> None:
    """Cast weights to bf16 except LayerNorm parameters and :data:`FP32_PARAMETERS`; add the dtype hooks.

    LayerNorm keeps float32 weights: torch's CPU kernel takes bf16 input with float32 weights, computes its
    statistics in float32 and returns bf16. Images (and CoCa's image tokens) are cast to bf16 on entering
    ``model.visual`` (``model.text_decoder``); the towers return float32.
    """
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            continue
        for name, param in module.named_parameters(recurse=False):
            if module is model and name in FP32_PARAMETERS:
                continue
            if param.is_floating_point():
                param.data = param.data.to(torch.bfloat16)
        for name, buffer in module.named_buffers(recurse=False):
            if buffer is not None and buffer.is_floating_point():
                setattr(module, name, buffer.to(torch.bfloat16))
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            module.float()
    for name in ("visual", "text_decoder"):  # float inputs (images, CoCa's image tokens) enter as bf16
        tower = getattr(model, name, None)
        if isinstance(tower, nn.Module):
            tower.register_forward_pre_hook(_cast_to_bf16_input, with_kwargs=True)
            tower.register_forward_hook(_cast_to_fp32_output)
    text = getattr(model, "text", None)
    text_end = text if isinstance(text, nn.Module) else getattr(model, "ln_final", None)
    if isinstance(text_end, nn.Module):
        text_end.register_forward_hook(_cast_to_fp32_output)


def to_bf16(model: nn.Module, packed: bool = True) -> int:
    """Rewrite ``model`` in place for the bf16 path; returns the number of bf16 linear layers.

    Args:
        model: Rewritten in place.
        packed: oneDNN-prepacked GEMMs (:class:`PackedLinear`); False: :class:`Bf16Linear`, for CPUs where torch's
            oneDNN bf16 kernels cannot run.
    """
    fuse_qkv(model)
    cast_bf16(model)
    return replace_linears(model, PackedLinear if packed else Bf16Linear, fuse_gelu=True)


def to_int8(model: nn.Module, reduce_range: bool) -> int:
    """Rewrite ``model`` in place for the int8 path; returns the number of int8 linear layers."""
    fuse_qkv(model)
    return replace_linears(model, lambda linear, _: Int8Linear(linear, reduce_range), fuse_gelu=False)

"""OpenAI CLIP's modified ResNet image tower (RN50, RN101, RN50x4/x16/x64).

Differences from torchvision's ResNet: a 3-convolution stem with average pooling, anti-aliased strided blocks
(average pooling before the strided path), and attention pooling over the final feature map.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .intermediates import FeatureTower, IntermediatesRequest, feature_take_indices
from .pos_interp import check_image_size

EXPANSION = 4


def _avgpool_or_identity(stride: int) -> nn.Module:
    return nn.AvgPool2d(stride) if stride > 1 else nn.Identity()


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> (avgpool) -> 1x1 residual block; the shortcut average-pools before its 1x1 projection."""

    expansion = EXPANSION

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * EXPANSION
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.avgpool = _avgpool_or_identity(stride)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.act3 = nn.ReLU(inplace=True)
        self.stride = stride
        self.downsample = None
        if stride > 1 or inplanes != out:
            # keys "-1" (pool, no params), "0" (conv), "1" (bn) as in the OpenAI checkpoints
            self.downsample = nn.Sequential(
                OrderedDict(
                    [
                        ("-1", nn.AvgPool2d(stride)),
                        ("0", nn.Conv2d(inplanes, out, 1, bias=False)),
                        ("1", nn.BatchNorm2d(out)),
                    ]
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual bottleneck."""
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        return self.act3(y + shortcut)


class AttentionPool2d(nn.Module):
    """Multi-head attention pooling: the mean token queries the whole (mean + spatial) sequence."""

    def __init__(
        self, spacial_dim: int, embed_dim: int, num_heads: int, output_dim: int | None = None
    ) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial_dim**2 + 1, embed_dim) / embed_dim**0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim or embed_dim)
        self.num_heads = num_heads
        # False: open_clip's exact computation; optimize_for_inference sets True (the mean-token-only query)
        self.fast_inference = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map (B, C, H, W) -> pooled features (B, output_dim)."""
        if not self.fast_inference:
            return self.forward_exact(x)
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = torch.cat((tokens.mean(dim=1, keepdim=True), tokens), dim=1)
        tokens = tokens + self.positional_embedding.to(tokens.dtype)
        heads = self.num_heads
        # only the mean token's output is used, so only it is projected as a query
        q = (
            F.linear(tokens[:, :1], self.q_proj.weight, self.q_proj.bias)
            .unflatten(-1, (heads, -1))
            .transpose(1, 2)
        )
        k = F.linear(tokens, self.k_proj.weight, self.k_proj.bias).unflatten(-1, (heads, -1)).transpose(1, 2)
        v = F.linear(tokens, self.v_proj.weight, self.v_proj.bias).unflatten(-1, (heads, -1)).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, 1, head_dim)
        return self.c_proj(out.transpose(1, 2).flatten(1))

    def forward_exact(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features computed as open_clip computes them (sequence-first tokens, every query projected,
        ``F.multi_head_attention_forward``), so the numbers are bit-identical to open_clip's."""
        tokens = x.flatten(2).permute(2, 0, 1)  # (HW, B, C)
        tokens = torch.cat((tokens.mean(dim=0, keepdim=True), tokens), dim=0)
        tokens = tokens + self.positional_embedding[:, None, :].to(tokens.dtype)
        out, _ = F.multi_head_attention_forward(
            query=tokens,
            key=tokens,
            value=tokens,
            embed_dim_to_check=tokens.shape[-1],
            num_heads=self.num_heads,
            in_proj_weight=None,
            in_proj_bias=torch.cat((self.q_proj.bias, self.k_proj.bias, self.v_proj.bias)),
            bias_k=None,
            bias_v=None,
            add_zero_attn=False,
            dropout_p=0.0,
            out_proj_weight=self.c_proj.weight,
            out_proj_bias=self.c_proj.bias,
            training=self.training,
            need_weights=False,
            use_separate_proj_weight=True,
            q_proj_weight=self.q_proj.weight,
            k_proj_weight=self.k_proj.weight,
            v_proj_weight=self.v_proj.weight,
        )
        return out[0]


class ModifiedResNet(FeatureTower, nn.Module):
    """ResNet-D-like trunk + attention pooling; ``forward`` returns (B, output_dim) features."""

    intermediate_formats = ("NCHW",)
    intermediate_kind = "ResNet image"
    if TYPE_CHECKING:  # added by name (add_module); a pruned stage becomes nn.Identity
        layer1: nn.Module
        layer2: nn.Module
        layer3: nn.Module
        layer4: nn.Module

    def __init__(
        self, layers: Sequence[int], output_dim: int, heads: int, image_size: int = 224, width: int = 64
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"a ResNet tower needs 4 stage depths, got {list(layers)}")
        self.output_dim = output_dim
        self.image_size = image_size
        half = width // 2
        self.conv1 = nn.Conv2d(3, half, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(half, half, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(half, width, kernel_size=3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.act3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        for index, (depth, stride) in enumerate(zip(layers, (1, 2, 2, 2)), start=1):
            planes = width * 2 ** (index - 1)
            blocks = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * EXPANSION
            blocks += [Bottleneck(inplanes, planes) for _ in range(1, depth)]
            self.add_module(f"layer{index}", nn.Sequential(*blocks))
        self.attnpool: AttentionPool2d | None = AttentionPool2d(image_size // 32, width * 32, heads, output_dim)
        self.init_parameters()

    def init_parameters(self) -> None:
        """CLIP's init: scaled normal attention-pool projections; zero last BN gamma in every block."""
        pool = self.attnpool
        if pool is not None:  # None once the head is pruned
            std = pool.c_proj.in_features**-0.5
            for proj in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
                nn.init.normal_(proj.weight, std=std)
        for stage in self.stages():
            for block in stage.children():
                if isinstance(block, Bottleneck):  # not a stage pruned to an identity
                    nn.init.zeros_(block.bn3.weight)

    def stages(self) -> list[nn.Module]:
        """The four residual stages (nn.Sequential; nn.Identity once pruned)."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def lock(self, unlocked_groups: int = 0, freeze_bn_stats: bool = False) -> None:
        """Freeze the whole tower (partial unlocking is not supported for ResNets)."""
        if unlocked_groups != 0:
            raise ValueError("partial locking (unlocked_groups > 0) is not supported for ResNet towers")
        for param in self.parameters():
            param.requires_grad = False
        if freeze_bn_stats:
            freeze_batch_norm_2d(self)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Accepted for API compatibility; ResNet towers do not checkpoint."""

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Three 3x3 convolutions, then 2x2 average pooling."""
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.act3(self.bn3(self.conv3(x)))
        return self.avgpool(x)

    def tower_intermediates(
        self, x: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``forward_intermediates`` of the ResNet: feature maps of the stem and the four stages (5 positions).

        ``stop_early``, ``normalize`` and ``extra_tokens`` are accepted for the common signature: the pooled
        features need every stage (stages after the last selected one are skipped only with ``request.only``), a
        ResNet has no final norm and no extra tokens.

        Args:
            x: Images (B, 3, H, W).
            request: The call's options; indices count the stem as 0 and layer1..layer4 as 1..4.

        Returns:
            ``image_intermediates`` ((B, C, H, W) each) and, unless ``request.only``, ``image_features``.

        Raises:
            IntermediatesError: out-of-range indices.
        """
        blocks: list[Callable[[torch.Tensor], torch.Tensor]] = [self.stem, *self.stages()]
        take, max_index = feature_take_indices(len(blocks), request.indices)
        if request.only:
            blocks = blocks[: max_index + 1]
        intermediates = []
        for i, block in enumerate(blocks):
            x = block(x)
            if i in take:
                intermediates.append(x)
        output: dict[str, torch.Tensor | list[torch.Tensor]] = {"image_intermediates": intermediates}
        if not request.only:
            output["image_features"] = self.attnpool(x) if self.attnpool is not None else x
        return output

    def prune_blocks(self, indices: int | list[int], prune_norm: bool, prune_head: bool) -> list[int]:
        """``prune_intermediate_layers``: stages after the last selected position become identities.

        Args:
            indices: The positions still needed (0 = stem, 1..4 = layer1..layer4).
            prune_norm: Accepted for the common signature (a ResNet has no final norm).
            prune_head: Drop the attention pool (``forward`` then returns the last feature map).

        Returns:
            The absolute positions ``indices`` selects.

        Raises:
            IntermediatesError: ``indices`` selects no block or one that does not exist.
        """
        take, max_index = feature_take_indices(5, indices)
        for index in range(max_index + 1, 5):
            setattr(self, f"layer{index}", nn.Identity())
        if prune_head:
            self.attnpool = None
        return take

    def forward(self, x: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        """Encode images ``x`` (open_clip's name) to (B, output_dim) features (the last feature map once the head is
        pruned).

        Raises:
            ValueError: ``interpolate_pos_encoding=True``: the ResNet's pool has no patch grid to resize.
        """
        if interpolate_pos_encoding:
            raise ValueError(
                "interpolate_pos_encoding=True is for ViT image towers; a ModifiedResNet takes another size only "
                "when built for it (force_image_size)"
            )
        if self.attnpool is not None:  # its position table is the one thing fixed to the size
            check_image_size(x, (self.image_size, self.image_size), 0, False)
        x = self.stem(x)
        x = self.layer4(
            self.layer3(self.layer2(self.layer1(x)))
        )  # spelled out: TorchScript has no list of modules
        return self.attnpool(x) if self.attnpool is not None else x


def freeze_batch_norm_2d(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d inside ``module`` by torchvision's FrozenBatchNorm2d (same state-dict keys)."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    if isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        if module.affine:
            frozen.weight.copy_(module.weight.detach())
            frozen.bias.copy_(module.bias.detach())
        frozen.running_mean.copy_(module.running_mean)
        frozen.running_var.copy_(module.running_var)
        return frozen
    for name, child in module.named_children():
        replacement = freeze_batch_norm_2d(child)
        if replacement is not child:
            setattr(module, name, replacement)
    return module

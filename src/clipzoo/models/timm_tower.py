"""Image tower around a timm trunk: the trunk from ``timm.create_model`` plus a small pooling/projection head.

The module layout (``trunk.*`` from timm, ``head.*`` for the adapter layers) and the numerics follow
open_clip's ``TimmModel``, so its checkpoints load with ``strict=True``. timm is imported lazily: it costs
~10 s and only configs with ``timm_model_name`` need it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from clipzoo.registry.config import VisionCfg
from clipzoo.sizes import to_hw

from .intermediates import FeatureTower, IntermediatesRequest
from .layers import BufferOwner, owns_buffers
from .pos_interp import check_image_size

# Pooling the adapter owns itself (an attention pool ending in a projection); any other value is a timm
# ``global_pool`` name handed to the trunk.
_ATTN_POOLS = ("abs_attn", "rot_attn")
# Projection heads the adapter adds after pooling. Otherwise timm's own classifier is the projection
# (None or ""), or there is no projection at all ("none").
_HEAD_PROJS = ("linear", "mlp")
_KNOWN_PROJS = (None, "", "none", *_HEAD_PROJS)


def _trunk_kwargs(vision_cfg: VisionCfg) -> dict[str, Any]:
    """Optional timm keyword arguments; omitted when unset so every timm model accepts the call."""
    kwargs: dict[str, Any] = {}
    if vision_cfg.timm_drop_path is not None:
        kwargs["drop_path_rate"] = vision_cfg.timm_drop_path
    if vision_cfg.patch_dropout > 0:
        kwargs["patch_drop_rate"] = vision_cfg.patch_dropout
    # A trunk built from explicit numbers (e.g. a transformers SigLIP tower of any size): the kwargs override
    # the named model's defaults; a norm eps comes as norm_kwargs, since JSON cannot hold timm's norm callable.
    kwargs.update(vision_cfg.timm_model_kwargs or {})
    if vision_cfg.norm_kwargs:
        from functools import partial

        kwargs["norm_layer"] = partial(nn.LayerNorm, **vision_cfg.norm_kwargs)
    return kwargs


def trunk_member(trunk: nn.Module, name: str, missing: str = "") -> Any:
    """A timm model's own attribute or method (timm types its models as plain ``nn.Module``, so these are untyped);
    NotImplementedError saying what the model cannot do (``missing``) when it has none."""
    member = getattr(trunk, name, None)
    if member is None:
        raise NotImplementedError(f"timm model {type(trunk).__name__} {missing or f'has no {name}'}")
    return member


def _check_head_options(vision_cfg: VisionCfg) -> None:
    if vision_cfg.timm_proj not in _KNOWN_PROJS:
        raise ValueError(
            f"vision_cfg.timm_proj={vision_cfg.timm_proj!r} is not supported; use one of 'linear', 'mlp', 'none'"
        )


def _build_attn_pool(pool: str, in_chs: int, embed_dim: int, feat_size: Any) -> nn.Module:
    from timm.layers import AttentionPool2d, RotAttentionPool2d

    if pool == "abs_attn":
        return AttentionPool2d(in_chs, feat_size=feat_size, out_features=embed_dim)
    return RotAttentionPool2d(in_chs, out_features=embed_dim)


def _build_proj(
    proj: str, in_chs: int, embed_dim: int, drop: float, bias: bool
) -> OrderedDict[str, nn.Module]:
    from timm.layers import Mlp

    if proj == "linear":
        return OrderedDict(drop=nn.Dropout(drop), proj=nn.Linear(in_chs, embed_dim, bias=bias))
    # The MLP's hidden layer always has a bias; ``bias`` only controls the output layer.
    return OrderedDict(mlp=Mlp(in_chs, 2 * embed_dim, embed_dim, drop=(drop, 0), bias=(True, bias)))


def _build_trunk_and_head(
    vision_cfg: VisionCfg, embed_dim: int, pretrained: bool
) -> tuple[nn.Module, nn.Sequential]:
    """The timm trunk and the adapter head, laid out as open_clip's TimmModel lays them out."""
    import timm

    name, pool, proj = vision_cfg.timm_model_name, vision_cfg.timm_pool, vision_cfg.timm_proj
    assert name, "TimmTower checks timm_model_name"
    create_kwargs = dict(pretrained=pretrained, **_trunk_kwargs(vision_cfg))
    attn_pool = pool in _ATTN_POOLS
    if proj not in _HEAD_PROJS and not attn_pool:
        # No adapter head: timm's own classifier is the projection (or is dropped for "none").
        num_classes = 0 if proj == "none" else embed_dim
        trunk = timm.create_model(name, num_classes=num_classes, global_pool=pool, **create_kwargs)
        return trunk, nn.Sequential()
    trunk = timm.create_model(name, **create_kwargs)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_chs = int(trunk_member(trunk, "num_features"))
    if attn_pool:
        feat_size = trunk_member(trunk, "default_cfg").get("pool_size", None)
        if not feat_size:
            raise ValueError(
                f"timm_pool={pool!r} needs a trunk with a 2D feature map; {name!r} has no pool_size in its default_cfg"
            )
        trunk_member(trunk, "reset_classifier")(0, global_pool="")
        layers["pool"] = _build_attn_pool(pool, in_chs, embed_dim, feat_size)
        in_chs = embed_dim
    else:
        # An empty pool keeps the trunk's default pooling.
        trunk_member(trunk, "reset_classifier")(0, **({"global_pool": pool} if pool else {}))
    if proj in _HEAD_PROJS:
        layers.update(_build_proj(proj, in_chs, embed_dim, vision_cfg.timm_drop, vision_cfg.timm_proj_bias))
    return trunk, nn.Sequential(layers)


class TimmTower(FeatureTower, nn.Module):
    """A timm model as a CLIP image tower: ``trunk`` (timm) followed by ``head`` (pool and/or projection)."""

    intermediate_formats = None  # timm's forward_intermediates checks output_fmt itself
    if TYPE_CHECKING:
        image_seq_len: int  # NaFlex towers: set by the builder from the config (open_clip main's attribute)

    def __init__(
        self,
        vision_cfg: VisionCfg,
        embed_dim: int,
        *,
        image_size: int | tuple[int, int] | None = None,
        pretrained: bool | None = None,
    ) -> None:
        """Build the trunk and head; ``pretrained`` overrides ``vision_cfg.timm_model_pretrained``.

        ``image_size`` is the recorded input size (default ``vision_cfg.image_size``); the trunk keeps the
        size its timm name implies, so checkpoints load unchanged. Call ``set_input_size`` after loading
        weights to run at another size.
        """
        super().__init__()
        if not vision_cfg.timm_model_name:
            raise ValueError("TimmTower needs vision_cfg.timm_model_name (a timm model name), got none")
        _check_head_options(vision_cfg)
        self.image_size = to_hw(vision_cfg.image_size if image_size is None else image_size)
        use_pretrained = vision_cfg.timm_model_pretrained if pretrained is None else pretrained
        self.trunk, self.head = _build_trunk_and_head(vision_cfg, embed_dim, use_pretrained)
        # A meta-device build leaves computed (non-checkpointed) buffers such as RoPE tables empty, and a
        # checkpoint cannot fill them: recompute them once loading has made the weights real.
        _check_computed_buffers_can_be_rebuilt(self)
        self.register_load_state_dict_post_hook(_rebuild_computed_buffers_after_load)
        self.fixed_input = _fixed_input(self.trunk)
        self.token_budget = int(vision_cfg.image_seq_len or 0)  # NaFlex towers: patches per image at most

    def forward(
        self, x: torch.Tensor | dict[str, torch.Tensor], interpolate_pos_encoding: bool = False
    ) -> torch.Tensor:
        """Pooled, projected image features of images (B, 3, H, W), or of a NaFlex patch dict (NaFlexVit trunks).

        Raises:
            ValueError: ``interpolate_pos_encoding=True`` with a trunk that has no learned position grid.
        """
        if isinstance(x, dict):
            from .naflex import check_naflex_batch

            check_naflex_batch(x, self.trunk, self.token_budget)
        elif interpolate_pos_encoding:
            from .pos_interp import timm_vit_forward_interpolated

            return self.head(timm_vit_forward_interpolated(self.trunk, x))
        elif self.fixed_input[2] > 0:
            check_image_size(x, (self.fixed_input[0], self.fixed_input[1]), self.fixed_input[2], False)
        return self.head(self.trunk(x))

    def lock(self, unlocked_groups: int = 0, freeze_bn_stats: bool = False) -> None:
        """Freeze the trunk except its last ``unlocked_groups`` layer groups (timm's group_matcher)."""
        if not unlocked_groups:
            for param in self.trunk.parameters():
                param.requires_grad = False
            if freeze_bn_stats:
                _freeze_batch_norm(self.trunk, None)
            return
        from timm.models import group_modules, group_parameters

        matcher = trunk_member(self.trunk, "group_matcher")()
        param_groups = group_parameters(self.trunk, matcher)
        last_locked = max(param_groups.keys()) - unlocked_groups
        for group_id in range(last_locked + 1):
            for name in param_groups[group_id]:
                self.trunk.get_parameter(name).requires_grad = False
        if freeze_bn_stats:
            module_groups = group_modules(self.trunk, matcher, reverse=True)
            _freeze_batch_norm(self.trunk, {n for n, g in module_groups.items() if g <= last_locked})

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Turn activation checkpointing in the trunk on or off."""
        trunk_member(self.trunk, "set_grad_checkpointing", "does not support gradient checkpointing")(enable)

    def set_input_size(self, image_size: int | tuple[int, int]) -> None:
        """Run at a new input size (resamples the trunk's position embeddings); call after loading weights."""
        trunk_member(self.trunk, "set_input_size", "cannot change its input size")(image_size)
        self.image_size = to_hw(image_size)
        self.fixed_input = _fixed_input(self.trunk)

    def tower_intermediates(self, x: torch.Tensor, request: IntermediatesRequest) -> dict[str, Any]:
        """``forward_intermediates`` through the trunk's own (timm checks the indices and format).

        Args:
            x: Images (B, 3, H, W).
            request: The call's options; ``normalize`` is timm's ``norm``, ``extra_tokens`` its
                ``return_prefix_tokens``.

        Returns:
            ``image_intermediates``, optionally ``image_intermediates_prefix``, and unless ``request.only``
            ``image_features``.
        """
        extra = {"return_prefix_tokens": True} if request.extra_tokens else {}
        trunk_out = trunk_member(self.trunk, "forward_intermediates")(
            x,
            indices=request.indices,
            intermediates_only=request.only,
            norm=request.normalize,
            stop_early=request.stop_early,
            output_fmt=request.output_fmt,
            **extra,
        )
        intermediates = trunk_out if request.only else trunk_out[1]
        out: dict[str, Any] = {}
        # With prefix tokens requested, ViT-like trunks return (spatial, prefix) pairs per block.
        if request.extra_tokens and intermediates and isinstance(intermediates[0], tuple):
            out["image_intermediates_prefix"] = [pair[1] for pair in intermediates]
            intermediates = [pair[0] for pair in intermediates]
        out["image_intermediates"] = intermediates
        if not request.only:
            out["image_features"] = self.head(trunk_member(self.trunk, "forward_head")(trunk_out[0]))
        return out

    def prune_blocks(self, indices: int | list[int], prune_norm: bool, prune_head: bool) -> list[int]:
        """``prune_intermediate_layers`` through timm's: the trunk's norm and head, and the adapter head.

        Args:
            indices: The blocks still needed.
            prune_norm: Drop the trunk's final norm.
            prune_head: Drop the trunk's head and the adapter head.

        Returns:
            The absolute positions ``indices`` selects.

        Raises:
            NotImplementedError: the timm trunk has no ``prune_intermediate_layers``.
        """
        prune = trunk_member(self.trunk, "prune_intermediate_layers")
        take = prune(indices, prune_norm=prune_norm, prune_head=prune_head)
        if prune_head:
            self.head = nn.Sequential()
        return take


def _fixed_input(trunk: nn.Module) -> tuple[int, int, int]:
    """(height, width, patch) a ViT trunk takes exactly (timm's strict PatchEmbed), or (0, 0, 0) for any size."""
    embed = getattr(trunk, "patch_embed", None)
    size, patch = getattr(embed, "img_size", None), getattr(embed, "patch_size", None)
    if not getattr(embed, "strict_img_size", False) or size is None or patch is None:
        return 0, 0, 0
    return int(size[0]), int(size[1]), int(min(patch))


def _freeze_batch_norm(module: nn.Module, names: set[str] | None) -> None:
    """Swap BatchNorm2d layers (all, or those named in ``names``) for frozen copies, in place."""
    from timm.layers import freeze_batch_norm_2d

    targets = [
        (name, child)
        for name, child in module.named_modules()
        if name and isinstance(child, (nn.BatchNorm2d, nn.SyncBatchNorm)) and (names is None or name in names)
    ]
    for name, child in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, attr, freeze_batch_norm_2d(child))


def _empty_computed_buffers(module: nn.Module) -> Iterator[tuple[str, nn.Module, list[str]]]:
    """(name, module, buffer names) for every submodule whose non-persistent buffers are still on meta."""
    for name, child in module.named_modules():
        empty = [b for b in child._non_persistent_buffers_set if _is_meta(child._buffers.get(b))]
        if empty:
            yield name, child, empty


def _check_computed_buffers_can_be_rebuilt(module: nn.Module) -> None:
    for name, child, empty in _empty_computed_buffers(module):
        if not owns_buffers(child):
            raise NotImplementedError(
                f"timm module {name!r} ({type(child).__name__}) has computed buffers {empty} that cannot be "
                "rebuilt after a meta-device build; build this model on a real device instead"
            )


def _rebuild_computed_buffers_after_load(tower: nn.Module, incompatible_keys: Any) -> None:
    """Load hook: once every weight is real, recompute meta buffers on the weights' device with timm's code."""
    params = list(tower.parameters())
    if not params or any(p.is_meta for p in params):
        return  # weights not (all) loaded yet: a later load_state_dict call lands here again
    device = params[0].device
    owners: list[BufferOwner] = []
    for _, child, empty in _empty_computed_buffers(tower):
        for buffer_name in empty:
            buffer = child._buffers[buffer_name]
            assert buffer is not None  # listed because it is a meta tensor
            child._buffers[buffer_name] = torch.empty_like(buffer, device=device)
        assert owns_buffers(child)  # checked when the tower was built
        owners.append(child)
    # Some initialisers create helper tensors without a device argument: keep those off any meta context.
    with torch.device(device):
        for owner in owners:
            owner.init_non_persistent_buffers()


def _is_meta(tensor: torch.Tensor | None) -> bool:
    return tensor is not None and tensor.is_meta

"""Contrastive image-text models: ``CLIP`` (text modules at the top level) and ``CustomTextCLIP`` (under ``text.``)."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Protocol, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

from ..registry.config import TextCfg, VisionCfg
from .intermediates import (
    IntermediatesError,
    IntermediatesRequest,
    has_intermediates,
    is_prunable,
    prune_transformer_tower,
)
from .layers import owns_buffers
from .text import TextEncoderMixin, TextTransformer, lock_text_modules, set_text_attributes
from .towers import ImageTower, TextTower, build_text_tower, build_vision_tower
from .transformer import causal_mask, rebuild_meta_mask_after_load

DEFAULT_LOGIT_SCALE = math.log(1 / 0.07)


def init_tower_buffers(model: nn.Module) -> None:
    """Rebuild the non-persistent buffers of every submodule of ``model`` that has them (not of ``model``)."""
    for module in model.modules():
        if module is not model and owns_buffers(module):
            module.init_non_persistent_buffers()


class DecayExempt(Protocol):
    """A tower that names the parameters optimizers should not decay."""

    def no_weight_decay(self) -> set[str]: ...


def names_decay_exempt(tower: object) -> TypeGuard[DecayExempt]:
    """Whether ``tower`` has ``no_weight_decay`` (a duck-typed check, as hasattr)."""
    return hasattr(tower, "no_weight_decay")


class LogitHead:
    """The logit scale and bias of a contrastive model, its scaled logits and its forward outputs (CLIP's, CoCa's
    and CLAP's)."""

    if TYPE_CHECKING:  # what the models that mix this in define (TorchScript must not see class annotations)
        output_dict: bool
        logit_scale: nn.Parameter
        logit_bias: nn.Parameter | None

    def _init_logit_params(
        self, init_logit_scale: float | None, init_logit_bias: float | None, nonscalar: bool
    ) -> None:
        shape = [1] if nonscalar else []
        scale = DEFAULT_LOGIT_SCALE if init_logit_scale is None else init_logit_scale
        self.init_logit_scale = float(scale)  # what a checkpoint without a logit scale starts from (TIPSv2's)
        self.logit_scale = nn.Parameter(torch.ones(shape) * scale)
        self.logit_bias = (
            nn.Parameter(torch.ones(shape) * init_logit_bias) if init_logit_bias is not None else None
        )

    def _image_logits(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Image-to-text logits of normalized features: scaled, plus the bias where the model has one."""
        logits = self.logit_scale.exp() * image_features @ text_features.T
        if self.logit_bias is not None:
            logits = logits + self.logit_bias
        return logits

    def _outputs(
        self, features_key: str, features: torch.Tensor | None, text_features: torch.Tensor | None
    ):
        """``(features, text_features, logit_scale)`` (exponentiated), plus ``logit_bias`` where the model has one;
        a dict with those keys (``features`` under ``features_key``) when the model has ``output_dict``."""
        scale = self.logit_scale.exp()
        if self.output_dict:
            out = {features_key: features, "text_features": text_features, "logit_scale": scale}
            if self.logit_bias is not None:
                out["logit_bias"] = self.logit_bias
            return out
        if self.logit_bias is not None:
            return features, text_features, scale, self.logit_bias
        return features, text_features, scale


class ContrastiveHeadMixin(LogitHead):
    """Normalized image features, image-text logits and the forward outputs shared by CLIP-like models."""

    if TYPE_CHECKING:  # what the models that mix this in define
        visual: ImageTower
        text: TextTower  # CustomTextCLIP and CoCa; CLIP keeps its text modules at the top level

        def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor: ...

    def encode_image(
        self, image: torch.Tensor, normalize: bool = False, interpolate_pos_encoding: bool = False
    ) -> torch.Tensor:
        """Images (B, 3, H, W) -> features (B, embed_dim), L2-normalized when ``normalize``.

        Args:
            image: Preprocessed images (the model's eval transform), in its dtype and on its device; for a NaFlex
                tower also the patch dict of its NaFlex eval transform (``patches``, ``patch_coord``,
                ``patch_valid``, batched by ``default_collate``).
            normalize: L2-normalize each feature vector (cosine similarities need it).
            interpolate_pos_encoding: Run a ViT tower on images of another size than it was trained at (any
                multiple of the patch size): its position grid is resized per call as transformers'
                ``interpolate_pos_encoding=True`` resizes it.

        Returns:
            The image features [B, embed_dim].
        """
        features = self.visual(image, interpolate_pos_encoding)
        return F.normalize(features, dim=-1) if normalize else features

    def get_logits(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(image-to-text logits, text-to-image logits), scaled and biased."""
        image_features = self.encode_image(image, normalize=True)
        text_features = self.encode_text(text, normalize=True)
        image_logits = self._image_logits(image_features, text_features)
        return image_logits, image_logits.T

    def forward(
        self,
        image: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
    ):
        """Normalized features and the logit scale (and bias): a tuple, or a dict when ``output_dict``.

        Args:
            image: Preprocessed images (B, 3, H, W), or None to skip the image tower.
            text: Token ids (B, context_length), or None to skip the text tower.
            interpolate_pos_encoding: Images of another size than the trained one (see ``encode_image``).

        Returns:
            ``(image_features, text_features, logit_scale)``, plus ``logit_bias`` for models that have one
            (SigLIP): L2-normalized features (None for a skipped input) and the exponentiated scale. A dict with
            those keys when the model was built with ``output_dict=True``.
        """
        image_features = (
            self.encode_image(image, normalize=True, interpolate_pos_encoding=interpolate_pos_encoding)
            if image is not None
            else None
        )
        text_features = self.encode_text(text, normalize=True) if text is not None else None
        return self._outputs("image_features", image_features, text_features)

    def lock_image_tower(self, unlocked_groups: int = 0, freeze_bn_stats: bool = False) -> None:
        """Freeze the image tower (LiT), keeping the last ``unlocked_groups`` groups trainable."""
        self.visual.lock(unlocked_groups=unlocked_groups, freeze_bn_stats=freeze_bn_stats)

    def forward_intermediates(
        self,
        image: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        image_indices: int | list[int] | None = None,
        text_indices: int | list[int] | None = None,
        stop_early: bool = False,
        normalize: bool = True,
        normalize_intermediates: bool = False,
        intermediates_only: bool = False,
        image_output_fmt: str = "NCHW",
        image_output_extra_tokens: bool = False,
        text_output_fmt: str = "NLC",
        text_output_extra_tokens: bool = False,
        output_logits: bool = False,
        output_logit_scale_bias: bool = False,
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Intermediate block outputs of both towers next to the final features (open_clip's feature API).

        Args:
            image: Images (B, 3, H, W), or None to skip the image tower.
            text: Token ids (B, L), or None to skip the text tower.
            image_indices: Image blocks to return: last n for an int, those positions for a list, all for None.
            text_indices: Text blocks to return, chosen the same way.
            stop_early: Stop each tower after its last selected block (features then pool that block's output;
                the CLIP layout's text tower always runs every block, as open_clip's does).
            normalize: L2-normalize ``image_features`` and ``text_features``.
            normalize_intermediates: Apply each tower's final norm to its intermediates.
            intermediates_only: Return only intermediates (no features, no logits, no normalization).
            image_output_fmt: 'NCHW' feature maps or 'NLC' tokens for ViT towers (ResNets give 'NCHW' only).
            image_output_extra_tokens: Also return the class token of each image block
                (``image_intermediates_prefix``).
            text_output_fmt: 'NLC' (the only text layout).
            text_output_extra_tokens: Also return CoCa's appended class token per block
                (``text_intermediates_suffix``).
            output_logits: Add ``image_logits`` (B_img, B_txt) and ``text_logits`` (its transpose); needs both inputs.
            output_logit_scale_bias: Add ``logit_scale`` (exponentiated) and, when the model has one, ``logit_bias``.

        Returns:
            A dict with ``image_intermediates`` / ``text_intermediates`` (lists of tensors), the optional extra
            token lists, ``image_features`` / ``text_features`` and the optional logits and scale/bias.

        Raises:
            IntermediatesError: logits without both inputs, unknown formats, out-of-range indices, or a text tower
                without intermediates (Hugging Face).
        """
        if intermediates_only:  # open_clip: no final features, so nothing to normalize or compare
            normalize, output_logits = False, False
        if output_logits and (image is None or text is None):
            raise IntermediatesError("output_logits=True needs both image and text inputs")
        output: dict[str, torch.Tensor | list[torch.Tensor]] = {}
        options = (stop_early, normalize_intermediates, intermediates_only)
        if image is not None:
            request = IntermediatesRequest(
                image_indices, *options, image_output_fmt, image_output_extra_tokens
            )
            output.update(request.apply_to(self.visual, image))
        if text is not None:
            request = IntermediatesRequest(text_indices, *options, text_output_fmt, text_output_extra_tokens)
            output.update(self._text_tower_intermediates(text, request))
        if normalize:
            for key in ("image_features", "text_features"):
                if key in output:
                    features = output[key]
                    assert isinstance(features, torch.Tensor)  # the features, not a list of intermediates
                    output[key] = F.normalize(features, dim=-1)
        if output_logits:
            image_features, text_features = output["image_features"], output["text_features"]
            assert isinstance(image_features, torch.Tensor) and isinstance(text_features, torch.Tensor)
            logits = self._image_logits(image_features, text_features)
            output["image_logits"], output["text_logits"] = logits, logits.T
        if output_logit_scale_bias:
            output["logit_scale"] = self.logit_scale.exp()
            if self.logit_bias is not None:
                output["logit_bias"] = self.logit_bias
        return output

    def prune_intermediate_layers(
        self,
        image_indices: int | list[int] | None = None,
        text_indices: int | list[int] | None = None,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> dict[str, list[int]]:
        """Prune each tower whose indices are given, as its own ``prune_intermediate_layers`` does.

        open_clip 3.3.0 has this only on the towers (``model.visual``, ``model.text``, ``model.transformer``); this
        is the same per tower, for both at once.

        Args:
            image_indices: Image blocks still needed (last n for an int, positions for a list); None keeps the tower.
            text_indices: Text blocks still needed, the same way; None keeps the tower.
            prune_norm: Also drop each pruned tower's final norm.
            prune_head: Also drop each pruned tower's projection (features are then the tower's width).

        Returns:
            ``{"image": positions, "text": positions}`` for the towers pruned.

        Raises:
            IntermediatesError: out-of-range indices, or a tower that cannot be pruned (Hugging Face text).
        """
        taken: dict[str, list[int]] = {}
        if image_indices is not None:
            taken["image"] = self.visual.prune_intermediate_layers(image_indices, prune_norm, prune_head)
        if text_indices is not None:
            taken["text"] = self._prune_text(text_indices, prune_norm, prune_head)
        return taken

    def _prune_text(self, indices: int | list[int], prune_norm: bool, prune_head: bool) -> list[int]:
        if not is_prunable(self.text):
            raise IntermediatesError(f"the {type(self.text).__name__} text tower cannot be pruned")
        return self.text.prune_intermediate_layers(indices, prune_norm, prune_head)

    def _text_tower_intermediates(
        self, text: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """The text tower's ``forward_intermediates`` output (towers under ``self.text``)."""
        if not has_intermediates(self.text):
            raise IntermediatesError(
                f"the {type(self.text).__name__} text tower has no intermediate features; pass text=None"
            )
        return request.apply_to(self.text, text)


class TwoTowerModel(ContrastiveHeadMixin, nn.Module):
    """The constructor CLIP and CustomTextCLIP share: image tower, text tower (placed by ``set_text_tower``), logit
    scale and bias, in that state-dict order."""

    def __init__(
        self,
        embed_dim: int,
        vision_cfg: VisionCfg | dict,
        text_cfg: TextCfg | dict,
        quick_gelu: bool = False,
        init_logit_scale: float | None = DEFAULT_LOGIT_SCALE,
        init_logit_bias: float | None = None,
        nonscalar_logit_scale: bool = False,
        cast_dtype: torch.dtype | None = None,
        output_dict: bool = False,
    ) -> None:
        """Build both towers from their configs.

        Args:
            embed_dim: Width of the shared image-text embedding space.
            vision_cfg: The image tower's config (a ``VisionCfg`` or its dict): a native ViT, a ModifiedResNet
                (``layers`` a list of 4) or a timm model (``timm_model_name``).
            text_cfg: The text tower's config (a ``TextCfg`` or its dict): clipzoo's text transformer or (for
                CustomTextCLIP only) a Hugging Face model (``hf_model_name``).
            quick_gelu: Use QuickGELU activations (what OpenAI's original weights were trained with).
            init_logit_scale: Initial ``logit_scale``, a log (default log(1/0.07)); None means the default.
            init_logit_bias: Initial logit bias; None for no bias (CLIP), a number (e.g. -10) for SigLIP-style
                sigmoid training.
            nonscalar_logit_scale: Give ``logit_scale`` and ``logit_bias`` shape [1] instead of [].
            cast_dtype: ``torch.float16``/``torch.bfloat16`` for mixed precision: LayerNorms then compute in
                float32 (see ``convert_weights_to_lp``); None for float32.
            output_dict: Make ``forward`` return a dict instead of a tuple.

        Raises:
            ValueError: a CLIP's ``text_cfg`` describes a Hugging Face text model.
        """
        super().__init__()
        self.output_dict = output_dict
        self.visual = build_vision_tower(embed_dim, vision_cfg, quick_gelu, cast_dtype)
        self.set_text_tower(build_text_tower(embed_dim, text_cfg, quick_gelu, cast_dtype))
        self._init_logit_params(init_logit_scale, init_logit_bias, nonscalar_logit_scale)

    def set_text_tower(self, text: TextTower) -> None:
        """Attach the text tower built from ``text_cfg`` (each model's own layout).

        Args:
            text: The text tower.
        """
        raise NotImplementedError


# The text tower's modules and settings CLIP keeps at its top level (open_clip's layout), in state-dict order.
_ADOPTED_TEXT_ATTRIBUTES = (
    "transformer", "context_length", "vocab_size", "token_embedding", "positional_embedding", "ln_final",
    "text_projection", "text_options",
)  # fmt: skip


class CLIP(TwoTowerModel, TextEncoderMixin):
    """OpenAI CLIP layout: ``visual.*`` plus the text modules at the top level (``transformer``, ...).

    Usually built by ``create_model``, which picks this class, :class:`CustomTextCLIP` or ``CoCa`` from the
    config; the constructor's arguments are :class:`TwoTowerModel`'s (the text tower must be clipzoo's own).
    """

    __constants__ = ["output_dict"]  # TorchScript compiles only the output layout the flag selects

    def set_text_tower(self, text: TextTower) -> None:
        """Adopt the text tower's modules at the top level (the order fixes the state-dict order).

        Args:
            text: The text tower.

        Raises:
            ValueError: ``text`` is not clipzoo's text transformer (a Hugging Face model needs CustomTextCLIP).
        """
        if not isinstance(text, TextTransformer):
            raise ValueError(
                "CLIP needs the native text tower; a Hugging Face text model needs CustomTextCLIP"
            )
        for name in _ADOPTED_TEXT_ATTRIBUTES:
            setattr(self, name, getattr(text, name))
        set_text_attributes(self, text.text_options)
        self.cls_emb = None  # the CLIP layout has no text class token (CoCa's text tower does)
        self.text_pool_type = text.pool_type
        self.text_eos_id = text.eos_id
        self.register_buffer("attn_mask", text.attn_mask, persistent=False)
        self.register_load_state_dict_post_hook(rebuild_meta_mask_after_load)

    def init_non_persistent_buffers(self) -> None:
        """Rebuild non-persistent buffers (causal mask, tower tables) on the parameters' device.

        Called automatically by ``load_state_dict`` for masks still on the meta device."""
        if self.attn_mask is not None:
            # the same size on the weights' device (the position table may be None: fixed sinusoidal positions)
            self.attn_mask = causal_mask(self.attn_mask.shape[-1], self.token_embedding.weight.device)
        init_tower_buffers(self)

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Token ids (B, context_length) -> features (B, embed_dim), L2-normalized when ``normalize``.

        Args:
            text: Token ids from the model's tokenizer (``get_tokenizer``), at most ``context_length`` per row.
            normalize: L2-normalize each feature vector (cosine similarities need it).

        Returns:
            The text features [B, embed_dim].

        Raises:
            ValueError: the rows are longer than the model's context length.
        """
        features, _ = self.encode_text_tokens(text)
        return F.normalize(features, dim=-1) if normalize else features

    def _text_tower_intermediates(
        self, text: torch.Tensor, request: IntermediatesRequest
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        # open_clip's CLIP runs every text block and ignores the text format / extra-token options (no class token)
        return self._text_intermediates(
            text, dataclasses.replace(request, stop_early=False, extra_tokens=False)
        )

    def _prune_text(self, indices: int | list[int], prune_norm: bool, prune_head: bool) -> list[int]:
        # the text modules live at the top level: what TextTransformer.prune_intermediate_layers does, here
        return prune_transformer_tower(self, indices, prune_norm, prune_head, "ln_final", "text_projection")

    def lock_text_tower(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the text modules, keeping the last ``unlocked_layers`` groups trainable."""
        if not freeze_layer_norm:
            raise ValueError(
                "freeze_layer_norm=False is not supported: LayerNorms are locked like other weights"
            )
        lock_text_modules(self, unlocked_layers)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable activation checkpointing in both towers."""
        self.visual.set_grad_checkpointing(enable)
        self.transformer.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        """Parameters that optimizers should not decay."""
        names = {"positional_embedding"}
        if names_decay_exempt(self.visual):
            names |= {f"visual.{n}" for n in self.visual.no_weight_decay()}
        return names


class CustomTextCLIP(TwoTowerModel):
    """Image tower under ``visual.``, any text tower (native, SigLIP-style or Hugging Face) under ``text.``.

    The constructor's arguments are :class:`TwoTowerModel`'s.
    """

    __constants__ = ["output_dict"]  # TorchScript compiles only the output layout the flag selects

    def set_text_tower(self, text: TextTower) -> None:
        """Keep the text tower under ``text.``.

        Args:
            text: The text tower.
        """
        self.text = text
        self.context_length = text.context_length
        self.vocab_size = text.vocab_size

    def init_non_persistent_buffers(self) -> None:
        """Rebuild non-persistent buffers (causal masks, tower tables) on the parameters' device."""
        init_tower_buffers(self)

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Token ids -> features (B, embed_dim), L2-normalized when ``normalize``.

        Args:
            text: Token ids (B, context_length) from the model's tokenizer (``get_tokenizer``).
            normalize: L2-normalize each feature vector (cosine similarities need it).

        Returns:
            The text features [B, embed_dim].
        """
        features = self.text(text)
        return F.normalize(features, dim=-1) if normalize else features

    def lock_text_tower(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the text tower, keeping the last ``unlocked_layers`` groups trainable."""
        self.text.lock(unlocked_layers, freeze_layer_norm)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Enable activation checkpointing in both towers."""
        self.visual.set_grad_checkpointing(enable)
        self.text.set_grad_checkpointing(enable)

    def no_weight_decay(self) -> set[str]:
        """Parameters that optimizers should not decay."""
        names: set[str] = set()
        for prefix in ("visual", "text"):
            tower = getattr(self, prefix)
            if hasattr(tower, "no_weight_decay"):
                names |= {f"{prefix}.{n}" for n in tower.no_weight_decay()}
        return names

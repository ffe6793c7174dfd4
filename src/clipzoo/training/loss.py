"""Contrastive (CLIP), sigmoid (SigLIP), captioning (CoCa) and distillation losses, open_clip-compatible.

Class names, constructor arguments, ``forward`` signatures and return values match open_clip 3.3.0, so a
training loop written for ``open_clip.loss`` works unchanged. Multi-process training runs on plain
``torch.distributed`` (see ``clipzoo.training.distributed``); Horovod is not supported.

How per-rank losses relate to the loss over the global batch (all ranks' rows, B rows per rank):

* ``ClipLoss`` without ``local_loss``: every rank computes the full global loss.
* ``ClipLoss`` with ``local_loss``: each rank scores its own rows against all columns; the mean over ranks is
  the global loss.
* ``SigLipLoss`` (every ``dist_impl``): each rank sums the pairwise terms of its image rows against all
  texts and divides by its local B; the mean over ranks is the global loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from clipzoo.training import distributed as cz_dist

from ..errors import choice_error

_HOROVOD_ERROR = (
    "use_horovod=True is not supported by clipzoo; launch with torch.distributed (torchrun) and pass "
    "use_horovod=False"
)


def _reject_horovod(use_horovod: bool) -> None:
    """Raise when Horovod is requested; clipzoo only speaks torch.distributed."""
    if use_horovod:
        raise ValueError(_HOROVOD_ERROR)


def gather_features(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    local_loss: bool = False,
    gather_with_grad: bool = False,
    rank: int = 0,
    world_size: int = 1,
    use_horovod: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate image and text features of all ranks along the batch dimension.

    With ``gather_with_grad`` the gradients of every rank's loss reach every rank's features. Without it,
    only this rank's slice keeps its graph (unless ``local_loss``, whose local rows already carry it).
    """
    _reject_horovod(use_horovod)
    cz_dist.require_initialized(world_size)
    if gather_with_grad:
        return cz_dist.all_gather_with_grad(image_features), cz_dist.all_gather_with_grad(text_features)
    image_chunks = cz_dist.all_gather_no_grad(image_features)
    text_chunks = cz_dist.all_gather_no_grad(text_features)
    if not local_loss:
        # Put our own (graph-carrying) tensors back so this rank's features still receive gradients.
        image_chunks[rank] = image_features
        text_chunks[rank] = text_features
    return torch.cat(image_chunks, dim=0), torch.cat(text_chunks, dim=0)


def _contrastive_loss(
    logits_per_image: torch.Tensor, logits_per_text: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE: mean of the image->text and text->image cross-entropies."""
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


class ClipLoss(nn.Module):
    """CLIP's symmetric contrastive loss, optionally over the batch gathered from all ranks.

    The arguments are documented at ``__init__``, which :class:`DistillClipLoss` shares.
    """

    def __init__(
        self,
        local_loss: bool = False,
        gather_with_grad: bool = False,
        cache_labels: bool = False,
        rank: int = 0,
        world_size: int = 1,
        use_horovod: bool = False,
    ) -> None:
        """Configure the loss; the arguments are open_clip's.

        Args:
            local_loss: Each rank scores only its own rows against the columns of all ranks (less memory; the
                mean over ranks is the global loss). False: every rank computes the full global loss.
            gather_with_grad: Gather features with gradients, so every rank's loss reaches every rank's
                features; False keeps the graph of this rank's slice only.
            cache_labels: Reuse the label tensor while the number of logits stays the same.
            rank: This process's rank in the group.
            world_size: Number of processes; above 1, features are gathered over ``torch.distributed``.
            use_horovod: Must be False: Horovod is not supported (launch with torchrun).

        Raises:
            ValueError: ``use_horovod`` is True.
        """
        super().__init__()
        _reject_horovod(use_horovod)
        self.local_loss = local_loss
        self.gather_with_grad = gather_with_grad
        self.cache_labels = cache_labels
        self.rank = rank
        self.world_size = world_size
        self.use_horovod = use_horovod
        # Label cache (same attribute names as open_clip): valid while the number of logits is unchanged.
        self.prev_num_logits = 0
        self.labels: dict[torch.device, torch.Tensor] = {}

    def get_ground_truth(self, device: torch.device, num_logits: int) -> torch.Tensor:
        """Index of the matching column for each row (offset by this rank's rows when ``local_loss``)."""
        if self.prev_num_logits == num_logits and device in self.labels:
            return self.labels[device]
        labels = torch.arange(num_logits, device=device, dtype=torch.long)
        if self.world_size > 1 and self.local_loss:
            labels = labels + num_logits * self.rank
        if self.cache_labels:
            self.labels[device] = labels
            self.prev_num_logits = num_logits
        return labels

    def get_logits(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits_per_image, logits_per_text) over the local or gathered batch."""
        if self.world_size > 1:
            all_image, all_text = gather_features(
                image_features,
                text_features,
                local_loss=self.local_loss,
                gather_with_grad=self.gather_with_grad,
                rank=self.rank,
                world_size=self.world_size,
            )
            if self.local_loss:
                logits_per_image = logit_scale * image_features @ all_text.T
                logits_per_text = logit_scale * text_features @ all_image.T
            else:
                logits_per_image = logit_scale * all_image @ all_text.T
                logits_per_text = logits_per_image.T
        else:
            # One matmul: the text->image logits are the transpose (open_clip computes both).
            logits_per_image = logit_scale * image_features @ text_features.T
            logits_per_text = logits_per_image.T
        if logit_bias is not None:
            # Out of place: logits_per_text may be a view of logits_per_image.
            logits_per_image = logits_per_image + logit_bias
            logits_per_text = logits_per_text + logit_bias
        return logits_per_image, logits_per_text

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None = None,
        output_dict: bool = False,
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Contrastive loss; ``{"contrastive_loss": loss}`` when ``output_dict``.

        Args:
            image_features: [B, D] image embeddings (normalized, as the models' ``forward`` returns them).
            text_features: [B, D] text embeddings; row i is the caption of image i.
            logit_scale: The exponentiated scale (the models' ``forward`` output), multiplied into the logits.
            logit_bias: Added to the logits when given.
            output_dict: Return a dict instead of the tensor.

        Returns:
            The scalar mean of the image-to-text and text-to-image cross-entropies, or
            ``{"contrastive_loss": loss}``.

        Raises:
            RuntimeError: ``world_size > 1`` but ``torch.distributed`` is not initialized.
        """
        total_loss = self._contrastive(image_features, text_features, logit_scale, logit_bias)
        return {"contrastive_loss": total_loss} if output_dict else total_loss

    def _contrastive(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None,
    ) -> torch.Tensor:
        logits_per_image, logits_per_text = self.get_logits(
            image_features, text_features, logit_scale, logit_bias=logit_bias
        )
        labels = self.get_ground_truth(image_features.device, logits_per_image.shape[0])
        return _contrastive_loss(logits_per_image, logits_per_text, labels)


class CoCaLoss(ClipLoss):
    """CoCa: weighted contrastive loss plus weighted captioning cross-entropy (padding ignored).

    Args:
        caption_loss_weight: Factor of the captioning cross-entropy (open_clip_train uses 2.0).
        clip_loss_weight: Factor of the contrastive loss (open_clip_train uses 1.0); 0 skips computing it.
        pad_id: Label id ignored by the captioning loss (the tokenizer's padding).
        local_loss: As in :class:`ClipLoss`.
        gather_with_grad: As in :class:`ClipLoss`.
        cache_labels: As in :class:`ClipLoss`.
        rank: As in :class:`ClipLoss`.
        world_size: As in :class:`ClipLoss`.
        use_horovod: As in :class:`ClipLoss`.

    Raises:
        ValueError: ``use_horovod`` is True.
    """

    def __init__(
        self,
        caption_loss_weight: float,
        clip_loss_weight: float,
        pad_id: int = 0,
        local_loss: bool = False,
        gather_with_grad: bool = False,
        cache_labels: bool = False,
        rank: int = 0,
        world_size: int = 1,
        use_horovod: bool = False,
    ) -> None:
        super().__init__(local_loss, gather_with_grad, cache_labels, rank, world_size, use_horovod)
        self.clip_loss_weight = clip_loss_weight
        self.caption_loss_weight = caption_loss_weight
        self.caption_loss = nn.CrossEntropyLoss(ignore_index=pad_id)

    # open_clip's CoCaLoss takes its own forward arguments (the keys of CoCa's output), unlike ClipLoss
    def forward(  # type: ignore[override]
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logits: torch.Tensor,
        labels: torch.Tensor,
        logit_scale: torch.Tensor,
        output_dict: bool = False,
        logit_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]:
        """Return (contrastive, caption) losses; ``logits`` is [B, T, vocab], ``labels`` is [B, T].

        ``loss(**model(image, text))`` works: the arguments are the keys of CoCa's ``forward`` output.

        Args:
            image_features: [B, D] image embeddings.
            text_features: [B, D] text embeddings; row i is the caption of image i.
            logits: [B, T, vocab] caption logits (position t predicts ``labels[:, t]``).
            labels: [B, T] caption token ids; ``pad_id`` entries are ignored.
            logit_scale: The exponentiated contrastive scale.
            output_dict: Return a dict instead of the tuple.
            logit_bias: Added to the contrastive logits when given (not in open_clip: it lets a CoCa model
                with a bias pass its output as is).

        Returns:
            ``(contrastive_loss, caption_loss)``, each already multiplied by its weight, or the dict
            ``{"contrastive_loss": ..., "caption_loss": ...}``.

        Raises:
            RuntimeError: ``world_size > 1`` but ``torch.distributed`` is not initialized.
        """
        if self.clip_loss_weight:
            clip_loss = self.clip_loss_weight * self._contrastive(
                image_features, text_features, logit_scale, logit_bias
            )
        else:
            clip_loss = logits.new_zeros(())
        # CrossEntropyLoss wants the class dimension second: [B, vocab, T].
        caption_loss = self.caption_loss(logits.permute(0, 2, 1), labels) * self.caption_loss_weight
        if output_dict:
            return {"contrastive_loss": clip_loss, "caption_loss": caption_loss}
        return clip_loss, caption_loss


class DistillClipLoss(ClipLoss):
    """Contrastive loss plus cross-entropy between teacher and student similarity distributions.

    Its constructor is :class:`ClipLoss`'s (same arguments, documented there).
    """

    def dist_loss(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
        """Soft-target cross-entropy, averaged over rows."""
        teacher_probs = teacher_logits.softmax(dim=1)
        return -(teacher_probs * student_logits.log_softmax(dim=1)).sum(dim=1).mean(dim=0)

    # open_clip's DistillClipLoss takes the teacher's outputs too, unlike ClipLoss
    def forward(  # type: ignore[override]
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        dist_image_features: torch.Tensor,
        dist_text_features: torch.Tensor,
        dist_logit_scale: torch.Tensor,
        output_dict: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]:
        """Return (contrastive, distill) losses for the student against the teacher (``dist_*``).

        Args:
            image_features: [B, D] image embeddings of the student.
            text_features: [B, D] text embeddings of the student; row i is the caption of image i.
            logit_scale: The student's exponentiated scale.
            dist_image_features: [B, D'] image embeddings of the teacher.
            dist_text_features: [B, D'] text embeddings of the teacher.
            dist_logit_scale: The teacher's exponentiated scale.
            output_dict: Return a dict instead of the tuple.

        Returns:
            ``(contrastive_loss, distill_loss)`` (the distill loss is the soft-target cross-entropy averaged
            over both directions), or ``{"contrastive_loss": ..., "distill_loss": ...}``.

        Raises:
            RuntimeError: ``world_size > 1`` but ``torch.distributed`` is not initialized.
        """
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        teacher_per_image, teacher_per_text = self.get_logits(
            dist_image_features, dist_text_features, dist_logit_scale
        )
        labels = self.get_ground_truth(image_features.device, logits_per_image.shape[0])
        contrastive_loss = _contrastive_loss(logits_per_image, logits_per_text, labels)
        distill_loss = (
            self.dist_loss(teacher_per_image, logits_per_image)
            + self.dist_loss(teacher_per_text, logits_per_text)
        ) / 2
        if output_dict:
            return {"contrastive_loss": contrastive_loss, "distill_loss": distill_loss}
        return contrastive_loss, distill_loss


class SigLipLoss(nn.Module):
    """Sigmoid loss for language-image pre-training (Zhai et al., 2023, arXiv:2303.15343).

    With ``world_size > 1`` each rank scores its image rows against the texts of every rank; ``dist_impl``
    picks how the texts travel: ``bidir`` (ring, both directions at once; the default), ``shift`` (ring, one
    direction), ``reduce`` (one all-reduce per rank) or ``gather`` (one all-gather). All give the same value
    and gradients.

    Args:
        cache_labels: Accepted for open_clip compatibility; changes nothing (labels are cheap to build).
        rank: This process's rank in the group.
        world_size: Number of processes; above 1, the texts of the other ranks are exchanged over
            ``torch.distributed``.
        dist_impl: ``'bidir'`` (None means it), ``'shift'``, ``'reduce'`` or ``'gather'``, as above.

    Raises:
        ValueError: ``dist_impl`` is not one of those (the message lists close matches).
    """

    def __init__(
        self,
        cache_labels: bool = False,
        rank: int = 0,
        world_size: int = 1,
        dist_impl: str | None = None,
    ) -> None:
        super().__init__()
        self.cache_labels = cache_labels  # accepted for open_clip compatibility; labels are cheap to build
        self.rank = rank
        self.world_size = world_size
        self.dist_impl = dist_impl or "bidir"
        if self.dist_impl not in _SIGLIP_NEGATIVES:
            raise choice_error("dist_impl", self.dist_impl, list(_SIGLIP_NEGATIVES))
        self.prev_num_logits = 0
        self.labels: dict[torch.device, torch.Tensor] = {}

    def get_ground_truth(
        self, device: torch.device, dtype: torch.dtype, num_logits: int, negative_only: bool = False
    ) -> torch.Tensor:
        """Sign matrix: +1 on the diagonal (matching pairs), -1 elsewhere; all -1 when ``negative_only``."""
        labels = -torch.ones((num_logits, num_logits), device=device, dtype=dtype)
        if not negative_only:
            labels = labels + 2 * torch.eye(num_logits, device=device, dtype=dtype)
        return labels

    def get_logits(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pairwise logits ``scale * img @ txt.T + bias``."""
        logits = logit_scale * image_features @ text_features.T
        return logits if logit_bias is None else logits + logit_bias

    def _loss(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None = None,
        negative_only: bool = False,
    ) -> torch.Tensor:
        """Sum of -log sigmoid(sign * logit) over one block of pairs, divided by the local batch size.

        The sign is +1 for matching pairs (the diagonal, unless ``negative_only``) and -1 elsewhere. A block of
        negatives needs no sign matrix: -log sigmoid(-x) is softplus(x), just as exact and stable.
        """
        logits = self.get_logits(image_features, text_features, logit_scale, logit_bias)
        if negative_only:
            return F.softplus(logits).sum() / image_features.shape[0]
        signs = self.get_ground_truth(image_features.device, image_features.dtype, image_features.shape[0])
        return -F.logsigmoid(signs * logits).sum() / image_features.shape[0]

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_bias: torch.Tensor | None,
        output_dict: bool = False,
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Loss of this rank's images against all texts; ``{"contrastive_loss": loss}`` when ``output_dict``.

        Args:
            image_features: [B, D] image embeddings (normalized).
            text_features: [B, D] text embeddings; row i is the caption of image i.
            logit_scale: The exponentiated scale (the models' ``forward`` output).
            logit_bias: The learned bias added to every logit (SigLIP models have one); None adds nothing.
            output_dict: Return a dict instead of the tensor.

        Returns:
            The scalar sum of ``-log sigmoid(sign * logit)`` over all pairs (sign +1 for matching pairs, -1
            otherwise) divided by the local batch size, or ``{"contrastive_loss": loss}``.

        Raises:
            RuntimeError: ``world_size > 1`` but ``torch.distributed`` is not initialized.
        """
        loss = self._loss(image_features, text_features, logit_scale, logit_bias)
        if self.world_size > 1:
            cz_dist.require_initialized(self.world_size)
            for other_text, weight in _SIGLIP_NEGATIVES[self.dist_impl](self, text_features):
                term = self._loss(image_features, other_text, logit_scale, logit_bias, negative_only=True)
                loss = loss + (term if weight == 1.0 else weight * term)
        return {"contrastive_loss": loss} if output_dict else loss

    # Each strategy yields (text features, weight) for every other rank exactly once, all autograd-aware, in
    # the same order as open_clip so that the floating-point sum matches too. A weight of 0.0 keeps a
    # received tensor in the graph without counting it (see _texts_reduce).

    def _ring_neighbours(self) -> tuple[int, int]:
        return (self.rank - 1) % self.world_size, (self.rank + 1) % self.world_size

    def _texts_bidir(self, text_features: torch.Tensor):
        left, right = self._ring_neighbours()
        to_left = to_right = text_features
        num_bidir, remainder = divmod(self.world_size - 1, 2)
        for _ in range(num_bidir):
            from_right, from_left = cz_dist.neighbour_exchange_bidir_with_grad(left, right, to_left, to_right)
            yield from_right, 1.0
            yield from_left, 1.0
            to_left, to_right = from_right, from_left
        if remainder:
            # Odd number of other ranks: the one farthest away arrives in a final one-way step.
            yield cz_dist.neighbour_exchange_with_grad(left, right, to_right), 1.0

    def _texts_shift(self, text_features: torch.Tensor):
        left, right = self._ring_neighbours()
        for _ in range(self.world_size - 1):
            text_features = cz_dist.neighbour_exchange_with_grad(left, right, text_features)
            yield text_features, 1.0

    def _texts_reduce(self, text_features: torch.Tensor):
        for owner in range(self.world_size):
            # Every rank joins each all-reduce, and again in backward: the own turn must stay in the graph
            # (weight 0) or this rank would skip a collective that the others run.
            received = cz_dist.all_reduce_sum_with_grad(text_features * (self.rank == owner))
            yield received, float(owner != self.rank)

    def _texts_gather(self, text_features: torch.Tensor):
        chunks = cz_dist.all_gather_with_grad(text_features).chunk(self.world_size, dim=0)
        yield from ((chunk, 1.0) for owner, chunk in enumerate(chunks) if owner != self.rank)


_SIGLIP_NEGATIVES = {
    "bidir": SigLipLoss._texts_bidir,
    "shift": SigLipLoss._texts_shift,
    "reduce": SigLipLoss._texts_reduce,
    "gather": SigLipLoss._texts_gather,
}


# Training-argument fields read by create_loss, with the defaults of open_clip_train's argument parser.
LOSS_ARG_DEFAULTS: dict[str, Any] = {
    "distill": False,
    "siglip": False,
    "local_loss": False,
    "gather_with_grad": False,
    "rank": 0,
    "world_size": 1,
    "horovod": False,
    "loss_dist_impl": None,
    "coca_caption_loss_weight": 2.0,
    "coca_contrastive_loss_weight": 1.0,
}


def _model_has_text_decoder(model_name: str) -> bool:
    """True when the registered architecture has a captioning decoder (``multimodal_cfg``), i.e. CoCa."""
    from clipzoo.registry.architectures import get_model_config, unknown_model

    cfg = get_model_config(model_name)
    if cfg is None:
        # The loss is chosen from the architecture's config, never from its name, so it must be registered.
        raise unknown_model(model_name)
    return "multimodal_cfg" in cfg


def create_loss(args: Any) -> nn.Module:
    """Build the training loss from an argparse-like namespace, as open_clip_train does.

    Priority: ``args.distill`` -> DistillClipLoss; an architecture with a text decoder (``multimodal_cfg``
    in its registered config, i.e. CoCa) -> CoCaLoss; ``args.siglip`` -> SigLipLoss; else ClipLoss.
    Missing fields take open_clip_train's defaults; ``args.model`` is required unless distilling.

    Args:
        args: An object with open_clip_train's fields: ``model`` (a registered architecture), ``distill``,
            ``siglip``, ``local_loss``, ``gather_with_grad``, ``rank``, ``world_size``, ``horovod``,
            ``loss_dist_impl``, ``coca_caption_loss_weight`` (2.0), ``coca_contrastive_loss_weight`` (1.0).

    Returns:
        The loss module (with ``cache_labels=True`` for the contrastive ones, as open_clip_train does).

    Raises:
        UnknownModelError: ``args.model`` is not a registered architecture.
        AttributeError: ``args`` has no ``model`` and ``distill`` is not set.
        ValueError: ``args.horovod`` is set, or ``args.loss_dist_impl`` is unknown.
    """
    opt = {name: getattr(args, name, default) for name, default in LOSS_ARG_DEFAULTS.items()}
    dist_kwargs = {
        "local_loss": opt["local_loss"],
        "gather_with_grad": opt["gather_with_grad"],
        "cache_labels": True,
        "rank": opt["rank"],
        "world_size": opt["world_size"],
        "use_horovod": opt["horovod"],
    }
    if opt["distill"]:
        return DistillClipLoss(**dist_kwargs)
    if _model_has_text_decoder(args.model):
        return CoCaLoss(
            caption_loss_weight=opt["coca_caption_loss_weight"],
            clip_loss_weight=opt["coca_contrastive_loss_weight"],
            **dist_kwargs,
        )
    if opt["siglip"]:
        _reject_horovod(opt["horovod"])
        return SigLipLoss(rank=opt["rank"], world_size=opt["world_size"], dist_impl=opt["loss_dist_impl"])
    return ClipLoss(**dist_kwargs)

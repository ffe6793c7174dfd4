"""The model side of corpus embedding: one encoder per process (the driver, each Ray actor), chosen by a table.

``torch``: any model ``create_model`` builds (registry name, ``hf-hub:``, ``local-dir:``). On the CPU it goes
through ``optimize_for_inference`` (``precision="auto"`` picks bf16, int8 or fp32 from the CPU's flags; ``fp32``,
``bf16``, ``int8`` choose); on CUDA the forward runs under autocast (bf16 where supported, else fp16; ``fp32``
turns it off). ``onnx``: an ONNX export folder on onnxruntime. Both take preprocessed float32 pixels and texts
and return float32, L2-normalized rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import EmbedOptionError, InputError, MissingWeightsError, unknown_choice_message

__all__ = [
    "EmbedOptionError",
    "EncoderRequest",
    "MissingWeightsError",
    "check_choice",
    "auto_batch_size",
    "build_encoder",
    "check_request",
]

CPU_PRECISIONS = ("auto", "bf16", "int8", "fp32")
CUDA_PRECISIONS = {
    "auto": None,
    "bf16": "bfloat16",
    "fp16": "float16",
    "fp32": "fp32",
}  # None: bf16 if supported
# device type -> images per batch when the caller gives none: a CPU saturates its GEMMs at a few dozen
# 224 px images; a GPU wants hundreds to stay busy.
AUTO_BATCH = {"cpu": 32, "cuda": 256}
RANDOM_WEIGHTS_SEED = 0


def check_choice(what: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise :class:`EmbedOptionError` (close matches, known values) unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise EmbedOptionError(unknown_choice_message(what, value, list(choices)))


@dataclass(frozen=True)
class EncoderRequest:
    """Which model to encode with, and how (picklable: Ray actors build their own encoder from it)."""

    model: str | None
    pretrained: str | None = None
    onnx: str | None = None
    precision: str = "auto"
    device: str = "cpu"
    cache_dir: str | None = None

    def describe(self) -> dict[str, Any]:
        """The request as a plain dict (for the manifest)."""
        return asdict(self)

    def model_name(self) -> str:
        """The model to build: a request without an ONNX folder names one."""
        if self.model is None:
            raise ValueError("an encoder request names a model or an ONNX folder; it has neither")
        return self.model


def check_request(request: EncoderRequest, random_weights: bool) -> None:
    """Check the model, tag, weights and precision without building anything (torch-free), before any work.

    Raises:
        InputError: neither or both of ``model`` and ``onnx``, or an ONNX folder that is not one.
        MissingWeightsError: no weights and not ``random_weights``.
        UnknownNameError: an unknown model or tag (close matches in the message).
        EmbedOptionError: a precision the device has no path for.
    """
    cuda = str(request.device).startswith("cuda")
    check_choice("precision", request.precision, tuple(CUDA_PRECISIONS) if cuda else CPU_PRECISIONS)
    if (request.model is None) == (request.onnx is None):
        raise InputError(
            "give a model (model=/--model) or an ONNX folder (onnx=/--onnx), exactly one of them"
        )
    if request.onnx is not None:
        from ..onnx.manifest import read_manifest

        read_manifest(os.path.expanduser(request.onnx))  # raises on a folder that is not an ONNX export
        return
    from ..factory.resolve import require_weights

    require_weights(
        request.model_name(),
        request.pretrained,
        random_weights,
        request.cache_dir,
        tag_usage="pretrained=TAG (--pretrained)",
        random_usage="random_weights=True (--random-weights)",
    )


def auto_batch_size(request: EncoderRequest) -> int:
    """The batch size used when none is given, by device type (see ``AUTO_BATCH``)."""
    return AUTO_BATCH.get(str(request.device).split(":")[0], AUTO_BATCH["cpu"])


class TorchEncoder:
    """A clipzoo model on the CPU (``optimize_for_inference``) or a GPU (autocast)."""

    def __init__(self, request: EncoderRequest) -> None:
        import torch

        from ..factory.create import create_model_and_transforms
        from ..factory.preprocess_cfg import get_model_preprocess_cfg
        from ..factory.tokenizer import get_tokenizer

        self.device = torch.device(request.device)
        # a model without weights is drawn from a fixed seed, so every process (Ray actors, a resumed run,
        # a search) builds the same one and the embeddings agree
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_WEIGHTS_SEED)
            model, _, _ = create_model_and_transforms(
                request.model_name(), pretrained=request.pretrained, device=self.device, cache_dir=request.cache_dir
            )
        self.preprocess_cfg = get_model_preprocess_cfg(model)
        self.tokenizer = get_tokenizer(request.model_name(), cache_dir=request.cache_dir)
        self.autocast: Any = None
        if self.device.type == "cpu":
            from ..inference.optimize import optimize_for_inference

            model = optimize_for_inference(model, request.precision)
            self.path = model.inference_report.path
        else:
            self.path = self._cuda_path(request.precision)
        self.model = model.eval().requires_grad_(False)
        self.embed_dim = int(self.encode_texts(["a"]).shape[1])

    def _cuda_path(self, precision: str) -> str:
        import torch

        name = CUDA_PRECISIONS[precision] or ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        if name != "fp32":
            self.autocast = getattr(torch, name)
        return name

    def _run(self, fn: Any, data: Any) -> np.ndarray:
        import torch

        with torch.inference_mode():
            if self.autocast is not None:
                with torch.autocast(self.device.type, dtype=self.autocast):
                    out = fn(data.to(self.device), normalize=True)
            else:
                out = fn(data.to(self.device), normalize=True)
        # normalize again in float32: under autocast the division ran in half precision
        out = out.float()
        return torch.nn.functional.normalize(out, dim=-1).cpu().numpy()

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        """Normalized image embeddings [N, dim] of preprocessed pixels [N, 3, H, W]."""
        import torch

        return self._run(self.model.encode_image, torch.from_numpy(np.ascontiguousarray(pixels)))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Normalized text embeddings [N, dim]."""
        return self._run(self.model.encode_text, self.tokenizer(texts))


class OnnxEncoder:
    """An ONNX export folder on onnxruntime (no torch in the forward)."""

    def __init__(self, request: EncoderRequest) -> None:
        from ..onnx.runtime import OnnxModel

        self.model = OnnxModel(os.path.expanduser(request.onnx or ""))
        self.preprocess_cfg = dict(self.model.preprocess_cfg)
        self.path = "onnx"
        self.embed_dim = self.model.embed_dim

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        """Normalized image embeddings [N, dim] of preprocessed pixels [N, 3, H, W]."""
        return self.model.encode_image(pixels, batch_size=max(len(pixels), 1))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Normalized text embeddings [N, dim]."""
        return self.model.encode_text(texts)


ENCODERS: dict[str, Callable[[EncoderRequest], TorchEncoder | OnnxEncoder]] = {
    "torch": TorchEncoder,
    "onnx": OnnxEncoder,
}


def build_encoder(request: EncoderRequest) -> TorchEncoder | OnnxEncoder:
    """The encoder for ``request``: an ONNX folder on onnxruntime, else a torch model."""
    return ENCODERS["onnx" if request.onnx else "torch"](request)

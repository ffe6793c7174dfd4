"""The torch-free runtime of an ONNX folder: onnxruntime, numpy, PIL and clipzoo's tokenizers only.

``OnnxModel(DIR)`` reads ``clipzoo_onnx.json``; ``encode_image`` preprocesses exactly like clipzoo's eval
transform (:mod:`clipzoo.onnx.preprocess`), ``encode_text`` tokenizes with the same tokenizer as
``clipzoo.get_tokenizer`` (rebuilt from the folder's files) and ``classify`` scores like
``clipzoo.zero_shot_classify``: softmax over labels for CLIP, an independent sigmoid per label when the
model has a ``logit_bias`` (SigLIP). Nothing here imports torch (tests/test_onnx.py checks ``sys.modules``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clipzoo.constants import EXTRA_INSTALL_HINT
from clipzoo.zero_shot.imagenet import OPENAI_IMAGENET_TEMPLATES, SIGLIP_TEMPLATES
from clipzoo.zero_shot.prompts import TEMPLATE_SETS, check_labels, check_templates, read_template_lines

from ..errors import OnnxInputError, OnnxRuntimeMissingError
from .manifest import OnnxFolderError, read_manifest
from .preprocess import ImagePreprocessor, ImageSource

EXTRA_HINT = EXTRA_INSTALL_HINT.format(extra="onnx")


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise OnnxRuntimeMissingError(
            f"the ONNX runtime needs the onnxruntime package, which is not installed: {EXTRA_HINT}"
        ) from err
    return onnxruntime


def build_tokenizer(folder: str | os.PathLike, entry: dict[str, Any] | None, context_length: int) -> Any:
    """The tokenizer described by a manifest's ``tokenizer`` entry, from the folder's own files.

    Args:
        folder: the ONNX folder.
        entry: ``manifest["tokenizer"]`` (None: the folder was exported without tokenizer files).
        context_length: token ids per text.

    Returns:
        A clipzoo tokenizer (SimpleTokenizer, SigLipTokenizer or HFTokenizer) with ``tokenize_numpy``.

    Raises:
        OnnxFolderError: no tokenizer in the folder, or an unknown tokenizer type.
    """
    folder = Path(folder)
    if entry is None:
        raise OnnxFolderError(
            f"{folder} was exported without tokenizer files; pass token ids to encode_tokens(), or "
            "re-export with the tokenizer"
        )
    kind = entry.get("type")
    if kind == "clip_bpe":
        from clipzoo.tokenizers.bpe import SimpleTokenizer

        return SimpleTokenizer(folder / entry["bpe_file"], context_length=context_length, **entry["kwargs"])
    if kind == "hf":
        from clipzoo.tokenizers import build_hf_tokenizer

        return build_hf_tokenizer(
            folder / entry["dir"],
            context_length=context_length,
            tokenizer_mode=entry.get("mode"),
            **entry["kwargs"],
        )
    raise OnnxFolderError(f"{folder}: unknown tokenizer type {kind!r}; expected 'clip_bpe' or 'hf'")


def read_templates_file(path: str | os.PathLike) -> list[str]:
    """Templates from a text file, one per line with a ``{}`` slot; blank and ``#`` lines are skipped.

    Raises:
        OnnxInputError: the file does not exist or holds no template.
    """
    return read_template_lines(path, OnnxInputError)


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    # Like torch.nn.functional.normalize: divide by max(norm, eps).
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _check_labels(labels: Sequence[str]) -> list[str]:
    return check_labels(labels, OnnxInputError)


class OnnxModel:
    """A clipzoo ONNX folder as a model: ``encode_image``, ``encode_text``, ``classify``.

    Example::

        model = OnnxModel("exported-onnx")
        model.classify(["cat.jpg"], ["cat", "dog"])   # [[("cat", 0.98), ("dog", 0.02)]]
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        intra_op_num_threads: int | None = None,
        providers: Sequence[str] | None = None,
        session_options: Any = None,
    ) -> None:
        """Open an ONNX folder written by ``export_model(..., format="onnx")``.

        Args:
            folder: the folder (it holds ``clipzoo_onnx.json``).
            intra_op_num_threads: threads per onnxruntime session (default: onnxruntime's choice).
            providers: onnxruntime execution providers (default: CPU).
            session_options: an ``onnxruntime.SessionOptions`` to use as is (overrides the thread count).

        Raises:
            OnnxRuntimeMissingError: onnxruntime is not installed.
            OnnxFolderError: the folder is not a valid ONNX export.
        """
        self._ort = _import_onnxruntime()
        self.folder = Path(folder).expanduser()
        self.manifest = read_manifest(self.folder)
        preprocess_path = self.folder / self.manifest["preprocess_file"]
        self.preprocess_cfg = json.loads(preprocess_path.read_text(encoding="utf-8"))
        self.preprocessor = ImagePreprocessor(self.preprocess_cfg)
        self.embed_dim = int(self.manifest["embed_dim"])
        self.context_length = int(self.manifest["context_length"])
        self.logit_scale = float(self.manifest["logit_scale"])
        bias = self.manifest["logit_bias"]
        self.logit_bias = None if bias is None else float(bias)
        self._providers = list(providers or ["CPUExecutionProvider"])
        if session_options is None:
            session_options = self._ort.SessionOptions()
            if intra_op_num_threads is not None:
                session_options.intra_op_num_threads = int(intra_op_num_threads)
        self._session_options = session_options
        self._sessions: dict[str, Any] = {}
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        quant = (self.manifest["quantization"] or {}).get("weight_type", "fp32")
        return f"OnnxModel({str(self.folder)!r}, model={self.manifest['model']!r}, {quant})"

    @property
    def is_sigmoid(self) -> bool:
        """True when labels are scored with an independent sigmoid (the model has a logit_bias)."""
        return self.logit_bias is not None

    def _session(self, tower: str) -> Any:
        session = self._sessions.get(tower)
        if session is None:
            path = self.folder / self.manifest[tower]["file"]
            try:
                session = self._ort.InferenceSession(
                    str(path), sess_options=self._session_options, providers=self._providers
                )
            except Exception as err:  # onnxruntime's own types (InvalidProtobuf, Fail, ...): a bad file
                if "onnxruntime" not in type(err).__module__:
                    raise
                first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                raise OnnxFolderError(
                    f"{path}: onnxruntime cannot load this {tower} graph ({type(err).__name__}: {first[:300]}); "
                    "the file is damaged or not an ONNX model: export the folder again"
                ) from err
            self._sessions[tower] = session
        return session

    @property
    def tokenizer(self) -> Any:
        """The folder's tokenizer (built on first use)."""
        if self._tokenizer is None:
            self._tokenizer = build_tokenizer(self.folder, self.manifest["tokenizer"], self.context_length)
        return self._tokenizer

    # -- images --------------------------------------------------------------------------------------

    def preprocess(self, images: Sequence[ImageSource] | ImageSource) -> np.ndarray:
        """Preprocess images exactly as clipzoo's eval transform does (bit-identical values).

        Args:
            images: one or several PIL images, paths or binary file objects.

        Returns:
            float32 array [N, 3, H, W].

        Raises:
            TypeError: an unsupported type.
            clipzoo.preprocess.images.ImageReadError: an unreadable file (the message names it).
        """
        return self.preprocessor.batch(_as_list(images))

    def encode_image(
        self,
        images: Sequence[ImageSource] | ImageSource | np.ndarray,
        normalize: bool = True,
        batch_size: int = 32,
    ) -> np.ndarray:
        """Image features [N, embed_dim] (L2-normalized unless ``normalize=False``).

        Args:
            images: PIL images, paths or binary files (one or a list), or a preprocessed float32 [N, 3, H, W].
            normalize: L2-normalize the features.
            batch_size: images per onnxruntime call.

        Returns:
            float32 features [N, embed_dim], one row per image in input order.

        Raises:
            clipzoo.preprocess.images.ImageReadError: an image file is missing or cannot be decoded (the message
                names it).
        """
        if isinstance(images, np.ndarray):
            pixels: Iterable[np.ndarray] = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
        else:
            items = _as_list(images)
            pixels = (
                self.preprocessor.batch(items[i : i + batch_size]) for i in range(0, len(items), batch_size)
            )
        features = self._run_batches("image", (np.ascontiguousarray(p, dtype=np.float32) for p in pixels))
        return _l2_normalize(features) if normalize else features

    # -- texts ---------------------------------------------------------------------------------------

    def tokenize(self, texts: str | Sequence[str]) -> np.ndarray:
        """Token ids identical to ``clipzoo.get_tokenizer(model)(texts)``, without torch.

        Args:
            texts: one text or a list of texts.

        Returns:
            int64 array [N, context_length].

        Raises:
            OnnxFolderError: the folder was exported without tokenizer files.
        """
        return self.tokenizer.tokenize_numpy(texts, self.context_length)

    def encode_tokens(self, ids: np.ndarray, normalize: bool = True, batch_size: int = 256) -> np.ndarray:
        """Text features of token ids (e.g. from :meth:`tokenize`).

        Args:
            ids: int64 token ids [N, context_length].
            normalize: L2-normalize the features.
            batch_size: texts per onnxruntime call.

        Returns:
            float32 array [N, embed_dim].

        Raises:
            OnnxInputError: ids of another shape.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] != self.context_length:
            raise OnnxInputError(f"token ids must be [N, {self.context_length}], got {list(ids.shape)}")
        chunks = (self._trim(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size))
        features = self._run_batches("text", chunks)
        return _l2_normalize(features) if normalize else features

    def encode_text(
        self, texts: str | Sequence[str], normalize: bool = True, batch_size: int = 256
    ) -> np.ndarray:
        """Text features [N, embed_dim] (L2-normalized unless ``normalize=False``).

        Args:
            texts: One string or a list of strings, tokenized with the folder's tokenizer (:meth:`tokenize`).
            normalize: L2-normalize the features.
            batch_size: texts per onnxruntime call.

        Returns:
            float32 features [N, embed_dim], one row per text in input order.

        Raises:
            OnnxInputError: the tokenizer gave ids of another shape than the graph takes.
        """
        return self.encode_tokens(self.tokenize(texts), normalize=normalize, batch_size=batch_size)

    def _trim(self, ids: np.ndarray) -> np.ndarray:
        """Drop the columns after the last pooled position (causal towers only: they cannot change it)."""
        prefix = self.manifest["text"].get("prefix_pooling")
        if not prefix or not len(ids):
            return ids
        if prefix["pool_type"] == "argmax":
            last = int(ids.argmax(axis=-1).max())
        elif prefix["pool_type"] == "eos":
            last = int((ids == prefix["eos_id"]).argmax(axis=-1).max())
        else:  # first
            last = 0
        return np.ascontiguousarray(ids[:, : max(last + 1, 2)])

    def _run_batches(self, tower: str, batches: Any) -> np.ndarray:
        session = self._session(tower)
        name = self.manifest[tower]["input"]
        outputs = [session.run(None, {name: batch})[0] for batch in batches]
        if not outputs:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        return np.concatenate(outputs).astype(np.float32, copy=False)

    # -- zero-shot -----------------------------------------------------------------------------------

    def zero_shot_classifier(
        self, labels: Sequence[str], templates: Sequence[str | Callable[[str], str]] | str | None = None
    ) -> np.ndarray:
        """The zero-shot classifier matrix of ``clipzoo.build_zero_shot_classifier``.

        Args:
            labels: distinct class names.
            templates: a set name (``openai``, ``simple``, ``siglip``), ``{}`` strings or callables; None: the
                family default.

        Returns:
            float32 array [embed_dim, len(labels)]: per label, the normalized mean of its normalized prompt
            features.

        Raises:
            OnnxInputError: bad labels or templates.
        """
        labels = _check_labels(labels)
        templates = self._templates(templates)
        prompts = [t.format(label) if isinstance(t, str) else t(label) for label in labels for t in templates]
        features = self.encode_text(prompts).reshape(len(labels), len(templates), -1).mean(axis=1)
        return _l2_normalize(features).T

    def _templates(self, templates: Any) -> Sequence[Any]:
        if templates is None:
            return SIGLIP_TEMPLATES if self.is_sigmoid else OPENAI_IMAGENET_TEMPLATES
        if isinstance(templates, str):
            if templates not in TEMPLATE_SETS:
                raise OnnxInputError(f"unknown template set {templates!r}; known: {', '.join(TEMPLATE_SETS)}")
            return TEMPLATE_SETS[templates]
        return check_templates(templates, OnnxInputError)

    def label_probabilities(self, image_features: np.ndarray, classifier: np.ndarray) -> np.ndarray:
        """Label probabilities of image features against a classifier matrix.

        Args:
            image_features: [N, embed_dim] (normalized here).
            classifier: [embed_dim, num_labels] from :meth:`zero_shot_classifier`.

        Returns:
            [N, num_labels]: softmax of scaled cosines (CLIP), or sigmoid(scaled cosine + bias) (SigLIP).
        """
        logits = np.float32(np.exp(self.logit_scale)) * (_l2_normalize(image_features) @ classifier)
        if self.is_sigmoid:
            return 1.0 / (1.0 + np.exp(-(logits + np.float32(self.logit_bias))))
        return _softmax(logits)

    def classify(
        self,
        images: Sequence[ImageSource] | ImageSource,
        labels: Sequence[str],
        templates: Sequence[str | Callable[[str], str]] | str | None = None,
        top_k: int = 5,
        *,
        classifier: np.ndarray | None = None,
        batch_size: int = 32,
    ) -> list[list[tuple[str, float]]]:
        """Top-k ``(label, probability)`` pairs per image, best first (as ``clipzoo.zero_shot_classify``).

        Args:
            images: PIL images, paths or binary files.
            labels: distinct class names, put into every template.
            templates: a set name (``openai``, ``simple``, ``siglip``), ``{}`` strings or callables; None: the
                family default (OpenAI's 80 prompts for CLIP, "This is a photo of {}." for SigLIP).
            top_k: predictions per image (at most the number of labels).
            classifier: a precomputed [embed_dim, len(labels)] matrix from :meth:`zero_shot_classifier`.
            batch_size: images per onnxruntime call.

        Returns:
            One list per image, in input order, of up to ``top_k`` ``(label, probability)`` pairs, most probable
            first (softmax over the labels for CLIP-style models, independent sigmoids for SigLIP-style ones).

        Raises:
            OnnxInputError: bad labels, templates, top_k or classifier shape.
        """
        labels = _check_labels(labels)
        if top_k < 1:
            raise OnnxInputError(f"top_k must be at least 1, got {top_k}")
        if classifier is None:
            classifier = self.zero_shot_classifier(labels, templates)
        if classifier.shape != (self.embed_dim, len(labels)):
            raise OnnxInputError(
                f"classifier must be [{self.embed_dim}, {len(labels)}], got {list(classifier.shape)}"
            )
        probs = self.label_probabilities(self.encode_image(images, batch_size=batch_size), classifier)
        k = min(top_k, len(labels))
        order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        return [[(labels[i], float(row[i])) for i in idx] for row, idx in zip(probs, order)]


def _as_list(images: Any) -> list:
    if isinstance(images, (str, os.PathLike)) or hasattr(images, "read") or hasattr(images, "getbands"):
        return [images]
    return list(images)

"""Which model to choose: published results per (model, tag), cost per architecture, and a ranking.

Two data files next to the tag registry, read lazily on first use (no torch, numpy or PIL):

- ``pretrained_results.json``: open_clip 3.3.0's published zero-shot and retrieval results for 121 (model, tag)
  pairs (written by ``scripts/build_results.py``). Metric ids are clip_benchmark's dataset names
  (``imagenet1k``, ``imagenetv2``, ``imagenet-a``, ``cars``, ``cifar10``, ...), ``average`` for the mean over
  38 datasets, ``average_classification`` / ``average_retrieval`` for the two sub-tables, and
  ``dataset/metric`` ids for retrieval details (``flickr30k/image_retrieval_recall@5``). See
  :func:`list_metrics`.
- ``model_profiles.json``: parameters and GFLOPs of every built-in architecture, for the image tower, the text
  tower and the whole model (written by ``scripts/profile_models.py``), each number marked ``computed`` or
  ``published``. FLOPs are counted as open_clip's profile counts them (torch's FlopCounterMode, a
  multiply-add is two FLOPs; one image, one text of ``context_length`` tokens).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProfileNotFoundError, UnknownMetricError
from . import architectures as registry
from . import tags

_DATA_DIR = Path(__file__).resolve().parent
_RESULTS_FILE = _DATA_DIR / "pretrained_results.json"
_PROFILES_FILE = _DATA_DIR / "model_profiles.json"
DEFAULT_METRIC = "imagenet1k"

# model family for display (plot colours, records): first matching pattern on the architecture name wins
FAMILIES: tuple[tuple[str, str], ...] = (
    (r"^coca_", "CoCa"),
    (r"roberta|^mt5-|^nllb-", "multilingual text (HF)"),
    (r"SigLIP2", "SigLIP 2"),
    (r"SigLIP", "SigLIP"),
    (r"^EVA", "EVA"),
    (r"^convnext_", "ConvNeXt"),
    (r"^RN\d", "ResNet"),
    (r"^MobileCLIP", "MobileCLIP"),
    (r"^ViTamin", "ViTamin"),
    (r"^PE-Core", "PE-Core"),
    (r"CLIPA", "CLIPA"),
    (r"^ViT-", "ViT"),
)
OTHER_FAMILY = "other"


def model_family(model: str) -> str:
    """Display family of an architecture (``ViT``, ``ResNet``, ``ConvNeXt``, ``SigLIP``, ``EVA``, ``CoCa``, ...).

    Args:
        model: An architecture name; it need not be registered (the family is read from the name, for display
            only: plot colours and ranking rows).

    Returns:
        The first family of :data:`FAMILIES` whose pattern matches the name, else ``'other'``.
    """
    for pattern, family in FAMILIES:
        if re.search(pattern, model):
            return family
    return OTHER_FAMILY


class _Store:
    """Both data files, parsed on first use."""

    def __init__(self, results_file: Path = _RESULTS_FILE, profiles_file: Path = _PROFILES_FILE) -> None:
        self._results_file, self._profiles_file = results_file, profiles_file
        self._metrics: dict[str, dict] | None = None
        self._rows: dict[str, dict[str, dict[str, float]]] | None = None
        self._profiles: dict[str, dict] | None = None

    def _read_results(self) -> tuple[dict[str, dict], dict[str, dict[str, dict[str, float]]]]:
        data = json.loads(self._results_file.read_text(encoding="utf-8"))
        metrics = data["metrics"]
        rows: dict[str, dict[str, dict[str, float]]] = {}
        for model, by_tag in data["results"].items():
            for tag, values in by_tag.items():
                if len(values) != len(metrics):
                    raise ValueError(
                        f"{self._results_file}: {model}:{tag} has {len(values)} values, not {len(metrics)}"
                    )
                rows.setdefault(model, {})[tags.normalize_tag(tag)] = dict(zip(metrics, values))
        for model, by_tag in data["inherited"].items():
            for tag, base in by_tag.items():
                rows.setdefault(model, {})[tags.normalize_tag(tag)] = rows[base][tags.normalize_tag(tag)]
        return metrics, rows

    def metrics(self) -> dict[str, dict]:
        if self._metrics is None:
            self._metrics, self._rows = self._read_results()
        return self._metrics

    def row(self, model: str, tag: str) -> dict[str, float] | None:
        if self._rows is None:
            self._metrics, self._rows = self._read_results()
        return self._rows.get(model, {}).get(tags.normalize_tag(tag))

    def profiles(self) -> dict[str, dict]:
        if self._profiles is None:
            self._profiles = json.loads(self._profiles_file.read_text(encoding="utf-8"))["models"]
        return self._profiles


_STORE = _Store()


def reset_results(results_file: Path = _RESULTS_FILE, profiles_file: Path = _PROFILES_FILE) -> None:
    """Read the data files again (for tests, or after regenerating them)."""
    global _STORE
    _STORE = _Store(results_file, profiles_file)


def stored_profiles() -> dict[str, dict]:
    """The raw entries of ``model_profiles.json`` by architecture (a copy)."""
    return json.loads(json.dumps(_STORE.profiles()))


def list_metrics() -> dict[str, dict[str, str]]:
    """Every metric id with its source (open_clip file and column) and clip_benchmark dataset name.

    Returns:
        A new dict ``{metric id: {"file": ..., "column": ...}}``, plus ``clip_benchmark`` (the dataset name)
        where clip_benchmark has the dataset and ``about`` where the column needs explaining (averages, ...).
    """
    return {metric: dict(entry) for metric, entry in _STORE.metrics().items()}


def _check_pair(model: str, tag: str) -> str:
    if registry.get_model_config(model) is None and not tags.list_pretrained_tags_by_model(model):
        raise registry.unknown_model(model)
    return tags.get_typed_pretrained_cfg(model, tag).tag


def get_pretrained_results(model: str, tag: str) -> dict[str, float]:
    """Published results of (model, tag), ``{metric: value}`` (values in [0, 1]); ``{}`` when none published.

    Args:
        model: Architecture name, e.g. ``"ViT-B-32"``.
        tag: Pretrained tag, case- and separator-insensitive (normalized as everywhere).

    Returns:
        A new dict keyed by metric id (see :func:`list_metrics`).

    Raises:
        UnknownModelError: ``model`` is not an architecture.
        UnknownTagError: ``model`` has no tag ``tag``.
    """
    canonical = _check_pair(model, tag)
    return dict(_STORE.row(model, canonical) or {})


@dataclass(frozen=True)
class ModelProfile:
    """Cost of one architecture: parameters (millions) and GFLOPs per tower, each marked computed/published.

    ``source`` maps each of the six numbers' field names to ``"computed"`` or ``"published"``; ``params`` holds
    the exact computed parameter counts per tower (``visual``, ``text``, ``text_decoder``, ``other``,
    ``total``, those that were computed); ``published`` holds open_clip's profile row when it has one.
    """

    model: str
    image_size: tuple[int, int]
    context_length: int
    image_params_m: float
    text_params_m: float
    params_m: float
    image_gflops: float
    text_gflops: float
    gflops: float
    source: dict[str, str] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    published: dict[str, float] | None = None
    note: str = ""
    # NaFlex towers: image-tower GFLOPs at each token budget (patches per image, padding included)
    image_gflops_by_token_budget: dict[int, float] = field(default_factory=dict)
    # audio-text (CLAP) models: the clip length the audio tower was counted on; the image_* fields then hold the
    # audio tower's numbers (parameters, GFLOPs per clip of this length) and image_size is (0, 0)
    audio_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = dict(self.__dict__)
        out["image_size"] = list(self.image_size)
        out["source"], out["params"] = dict(self.source), dict(self.params)
        out["image_gflops_by_token_budget"] = {str(k): v for k, v in self.image_gflops_by_token_budget.items()}
        return out


# profile field -> (computed section, key, scale, published key)
_PROFILE_FIELDS = {
    "image_params_m": ("params", "visual", 1e6, "image_mparams"),
    "text_params_m": ("params", "text", 1e6, "text_mparams"),
    "params_m": ("params", "total", 1e6, "mparams"),
    "image_gflops": ("flops", "image", 1e9, "image_gflops"),
    "text_gflops": ("flops", "text", 1e9, "text_gflops"),
    "gflops": ("flops", "total", 1e9, "gflops"),
}


def get_model_profile(model: str) -> ModelProfile:
    """Parameters and GFLOPs of an architecture at its config's image size (no torch: stored data).

    Computed numbers are preferred; where a tower cannot be built offline (a Hugging Face text tower) the number
    is open_clip's published one, as ``source`` and ``note`` say.

    Args:
        model: Architecture name.

    Returns:
        The architecture's :class:`ModelProfile`.

    Raises:
        UnknownModelError: ``model`` is not an architecture.
        ProfileNotFoundError: a registered architecture that is not built in (no stored profile).
        ValueError: the stored profile lacks a number (a damaged ``model_profiles.json``).
    """
    source_file = registry.get_config_source(model)
    if source_file is None:
        raise registry.unknown_model(model)
    entry = _STORE.profiles().get(model)
    if entry is None or source_file.parent != registry.builtin_config_dir():  # a user's config: not profiled
        raise ProfileNotFoundError(model)
    computed, published = entry["computed"], entry.get("published")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    audio = entry.get("audio_seconds")
    for name, (section, key, scale, published_key) in _PROFILE_FIELDS.items():
        if audio is not None and key in ("visual", "image"):
            key = "audio"  # an audio-text model: its audio tower stands where the image tower would
        if key in computed[section]:
            values[name], sources[name] = computed[section][key] / scale, "computed"
        elif published is not None:
            values[name], sources[name] = published[published_key], "published"
        else:
            raise ValueError(f"{_PROFILES_FILE}: {model} has neither a computed nor a published {name}")
    height, width = entry.get("image_size", (0, 0))
    return ModelProfile(
        model=model,
        image_size=(height, width),
        context_length=entry["context_length"],
        source=sources,
        params=dict(computed["params"]),
        published=dict(published) if published else None,
        note=entry.get("note", ""),
        image_gflops_by_token_budget={
            int(k): v / 1e9
            for k, v in sorted(entry.get("image_flops_by_token_budget", {}).items(), key=lambda kv: int(kv[0]))
        },
        audio_seconds=audio,
        **values,
    )


@dataclass(frozen=True)
class RankedPair:
    """One row of :func:`rank_pretrained`: a (model, tag) pair, its metric value and its cost."""

    model: str
    tag: str
    metric: str
    value: float
    params_m: float | None
    gflops: float | None
    family: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


class Ranking(list):
    """The records of :func:`rank_pretrained`, best first, plus what was left out.

    Attributes:
        metric: The metric ranked by.
        missing: Registry pairs (within the pattern) without a published value for the metric (left out).
        missing_pairs: Those pairs, as ``(model, tag)`` in registry order.
        filtered: Pairs within the pattern, with a value, that the cost limits excluded.
    """

    def __init__(
        self, records: list[RankedPair], metric: str, missing_pairs: list[tuple[str, str]], filtered: int
    ) -> None:
        super().__init__(records)
        self.metric, self.missing_pairs, self.filtered = metric, list(missing_pairs), filtered
        self.missing = len(self.missing_pairs)


def _cost(model: str) -> tuple[float | None, float | None]:
    try:
        profile = get_model_profile(model)
    except ProfileNotFoundError:
        return None, None
    return profile.params_m, profile.gflops


def _within(value: float | None, limit: float | None) -> bool:
    return limit is None or (value is not None and value <= limit)


def rank_pretrained(
    metric: str = DEFAULT_METRIC,
    *,
    max_gflops: float | None = None,
    max_params: float | None = None,
    pattern: str | None = None,
    top: int | None = None,
) -> Ranking:
    """Pretrained (model, tag) pairs ranked by a published metric, best first, with their cost.

    Args:
        metric: Metric id (see :func:`list_metrics`), e.g. ``"imagenet1k"`` or ``"average"``.
        max_gflops: Keep pairs whose whole-model GFLOPs are at most this.
        max_params: Keep pairs whose whole-model parameters (millions) are at most this.
        pattern: Glob on the model name, or on ``model:tag`` when it contains ``:`` (case-insensitive).
        top: Return only the first ``top`` records.

    Returns:
        A :class:`Ranking` (a list of :class:`RankedPair`); ``.missing`` counts the pairs within the pattern
        left out because they have no published value for ``metric`` (``.missing_pairs`` lists them),
        ``.filtered`` those the cost limits excluded.
        Ties are broken by fewer GFLOPs, then by name.

    Raises:
        UnknownMetricError: ``metric`` is not a published metric (the message lists close matches).
        ValueError: a negative limit or ``top``.
    """
    known = list(_STORE.metrics())
    if metric not in known:
        raise UnknownMetricError(metric, known)
    for name, limit in (("max_gflops", max_gflops), ("max_params", max_params), ("top", top)):
        if limit is not None and not limit >= 0:  # also NaN, which no value is below
            raise ValueError(f"{name} must be a number >= 0, got {limit}")
    records, missing, filtered = [], [], 0
    for model, tag in tags.list_pretrained():
        subject = f"{model}:{tag}" if pattern and ":" in pattern else model
        if pattern is not None and not fnmatch.fnmatch(subject.lower(), pattern.lower()):
            continue  # outside the pattern: not counted anywhere
        value = (_STORE.row(model, tag) or {}).get(metric)
        if value is None:
            missing.append((model, tag))
            continue
        params_m, gflops = _cost(model)
        if not (_within(gflops, max_gflops) and _within(params_m, max_params)):
            filtered += 1
            continue
        records.append(RankedPair(model, tag, metric, value, params_m, gflops, model_family(model)))
    records.sort(key=lambda r: (-r.value, r.gflops if r.gflops is not None else float("inf"), r.model, r.tag))
    return Ranking(records[:top] if top is not None else records, metric, missing, filtered)

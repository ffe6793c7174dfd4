"""Load: fetch the spec's weights (packaged file, local path, URL or Hub) and load them into the built model."""

from __future__ import annotations

import logging
from pathlib import Path

from .resolve import ModelSpec, WeightsSource

logger = logging.getLogger("clipzoo")




def fetch_weights(source: WeightsSource, cache_dir: str | None = None) -> Path:
    """A local path for the weights: the file itself, the packaged file, or a download."""
    if source.kind == "file":
        return Path(source.path)
    if source.kind == "tag" and source.record is not None and source.record.file:
        return Path(source.record.to_dict()["file"])
    from ..hub.pretrained import download_pretrained

    if source.kind == "hf-hub":
        return _fetch_hub_weights(source, cache_dir)
    record = source.record
    assert record is not None, "a 'tag' weights source carries its pretrained record"
    return Path(
        download_pretrained(record.to_dict(), cache_dir=cache_dir, model_name=record.model, tag=record.tag)
    )


def _fetch_hub_weights(source: WeightsSource, cache_dir: str | None) -> Path:
    from ..hub.errors import NotFoundError
    from ..hub.hf import download_pretrained_from_hf

    label = f"hf-hub:{source.repo}"
    missing = []
    for filename in source.files or (None,):
        try:
            return Path(
                download_pretrained_from_hf(source.repo, filename, cache_dir=cache_dir, model_name=label)
            )
        except NotFoundError as err:
            missing.append(str(err))
    raise NotFoundError(f"{label}: no weights file ({'; '.join(missing)})")


def load(model, spec: ModelSpec, cache_dir: str | None = None, weights_only: bool = True) -> None:
    """Fetch, read, convert, adapt and assign the spec's weights into ``model`` (strict)."""
    from ..checkpoint import load as checkpoint

    assert spec.weights is not None, "load() is called only for a spec with weights"
    path = fetch_weights(spec.weights, cache_dir)
    checkpoint.load_checkpoint(model, path, strict=True, weights_only=weights_only, assign=True)



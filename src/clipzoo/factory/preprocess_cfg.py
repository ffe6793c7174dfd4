"""The preprocessing config a model carries, where open_clip keeps it (``model.visual.preprocess_cfg``)."""

from __future__ import annotations

import copy
from typing import Any


def set_model_preprocess_cfg(model, preprocess_cfg: dict[str, Any]) -> None:
    """Attach the preprocess cfg where open_clip keeps it (``model.visual.preprocess_cfg``).

    Also sets ``image_mean`` and ``image_std`` there, as open_clip does.

    Args:
        model: The model; the settings go on its image tower ``model.visual`` (on the model itself when it
            has none).
        preprocess_cfg: PreprocessCfg fields (``size``, ``mean``, ``std``, ``interpolation``, ...); a copy is
            stored.

    Raises:
        KeyError: ``preprocess_cfg`` has no ``mean`` or no ``std``.
    """
    module = getattr(model, "visual", model)
    module.image_mean = preprocess_cfg["mean"]
    module.image_std = preprocess_cfg["std"]
    module.preprocess_cfg = copy.deepcopy(preprocess_cfg)


def get_model_preprocess_cfg(model) -> dict[str, Any]:
    """The preprocess cfg a model carries (falls back to legacy image_size/mean/std attributes).

    Args:
        model: A model from ``create_model`` (or open_clip): read from ``model.visual``, or from the model
            itself when it has no ``visual``.

    Returns:
        A new dict of the PreprocessCfg fields it carries (``size``, ``mean``, ``std``, ``interpolation``,
        ``resize_mode``, ...); from ``image_size``/``image_mean``/``image_std`` when it carries no cfg; ``{}``
        when it has neither.
    """
    module = getattr(model, "visual", model)
    cfg = dict(getattr(module, "preprocess_cfg", {}) or {})
    if not cfg:
        for attr, key in (("image_size", "size"), ("image_mean", "mean"), ("image_std", "std")):
            if getattr(module, attr, None) is not None:
                cfg[key] = getattr(module, attr)
    return cfg


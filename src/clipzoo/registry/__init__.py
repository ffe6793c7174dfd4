"""What exists, torch-free: architectures (the JSON configs in ``model_configs/``, validated into typed
dataclasses), pretrained tags (``pretrained_tags.json``), published results and cost profiles, the ranking
and its plot.

Modules: ``architectures`` (config registry), ``config`` (the typed schema), ``tags`` (tag registry, one
``normalize_tag``), ``results`` (results, profiles, ranking), ``plot`` (matplotlib, optional), ``naflex``
(NaFlex token budgets and ``force_naflex_vision`` on a config).
May import: the standard library, :mod:`clipzoo.errors`, :mod:`clipzoo.constants`. Never torch (``plot`` imports
matplotlib when called); the import-linter contracts in ``pyproject.toml`` check it.
"""

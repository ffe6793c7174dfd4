"""Publish a model to the Hugging Face Hub in open_clip's repository layout (open_clip's function names).

The folder holds ``open_clip_config.json`` (``model_cfg`` + ``preprocess_cfg``), the weights as
``open_clip_model.safetensors`` and/or ``open_clip_pytorch_model.bin``, the tokenizer's files when it has
``save_pretrained``, and a generated ``README.md`` model card when the repository has none. It is uploaded with
huggingface_hub's ``create_repo`` + ``upload_folder`` (so ``HF_ENDPOINT``/``token`` choose where), and loads
back with ``create_model("hf-hub:<repo_id>")`` in clipzoo and open_clip alike.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from ...constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

__all__ = [
    "generate_readme",
    "push_pretrained_to_hf_hub",
    "push_to_hf_hub",
    "save_config_for_hf",
    "save_for_hf",
]

_SERIALIZATIONS = (True, False, "both")


def save_config_for_hf(model: Any, config_path: str, model_config: dict | None) -> None:
    """Write ``open_clip_config.json``: the architecture and the model's preprocessing.

    Args:
        model: A CLIP-family model (its ``visual.image_mean``/``image_std`` and, when set, the interpolation
            and resize mode of ``visual.preprocess_cfg`` are recorded).
        config_path: The file to write.
        model_config: The architecture dict (``get_model_config(name)``), written as ``model_cfg``.
    """
    visual = model.visual
    preprocess_cfg = {"mean": visual.image_mean, "std": visual.image_std}
    extra = getattr(visual, "preprocess_cfg", {}) or {}
    for key in ("interpolation", "resize_mode"):
        if key in extra:
            preprocess_cfg[key] = extra[key]
    config = {"model_cfg": model_config, "preprocess_cfg": preprocess_cfg}
    Path(config_path).write_text(json.dumps(config, indent=2, default=list))


def save_for_hf(
    model: Any,
    tokenizer: Any,
    model_config: dict | None,
    save_directory: str,
    safe_serialization: bool | str = "both",
    skip_weights: bool = False,
) -> None:
    """Write the repository folder: weights, the tokenizer's files and the config.

    Args:
        model: The model whose ``state_dict`` is saved.
        tokenizer: Its tokenizer; its files are written when it has ``save_pretrained`` (HF tokenizers).
        model_config: The architecture dict for ``open_clip_config.json``.
        save_directory: The folder (created if needed).
        safe_serialization: ``True`` writes ``open_clip_model.safetensors``, ``False`` the pickle
            ``open_clip_pytorch_model.bin``, ``'both'`` both.
        skip_weights: Write only the tokenizer and the config.

    Raises:
        ValueError: ``safe_serialization`` is not True, False or 'both'.
    """
    if safe_serialization not in _SERIALIZATIONS:
        raise ValueError(f"safe_serialization must be True, False or 'both', got {safe_serialization!r}")
    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    if not skip_weights:
        import torch

        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        if safe_serialization in (True, "both"):
            from safetensors.torch import save_file

            save_file(tensors, str(folder / HF_SAFE_WEIGHTS_NAME))
        if safe_serialization in (False, "both"):
            torch.save(tensors, folder / HF_WEIGHTS_NAME)
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(folder)
    save_config_for_hf(model, str(folder / HF_CONFIG_NAME), model_config=model_config)


def _has_readme(repo_id: str, revision: str | None, token: str | None) -> bool:
    from huggingface_hub import file_exists

    return file_exists(repo_id, "README.md", revision=revision, token=token)


def push_to_hf_hub(
    model: Any,
    tokenizer: Any,
    model_config: dict | None,
    repo_id: str,
    commit_message: str = "Add model",
    token: str | None = None,
    revision: str | None = None,
    private: bool = False,
    create_pr: bool = False,
    model_card: dict | None = None,
    safe_serialization: bool | str = "both",
) -> Any:
    """Create ``repo_id`` if needed and upload the model folder (see :func:`save_for_hf`) as one commit.

    A README model card (:func:`generate_readme` of ``model_card``) is added when the repository has none.

    Args:
        model: The model to upload.
        tokenizer: Its tokenizer (files uploaded when it has ``save_pretrained``).
        model_config: The architecture dict for ``open_clip_config.json``.
        repo_id: ``owner/name`` (or ``name`` for the token's user).
        commit_message: The commit's summary.
        token: Hub token (huggingface_hub's default login when None).
        revision: Branch to commit to (the default branch when None).
        private: Create the repository private.
        create_pr: Open a pull request instead of committing to the branch.
        model_card: Fields for the README (``description``, ``details``, ``usage``, ``citation``, ...).
        safe_serialization: As in :func:`save_for_hf`.

    Returns:
        huggingface_hub's ``CommitInfo`` of the upload.
    """
    from huggingface_hub import create_repo, upload_folder

    repo_url = create_repo(repo_id, token=token, private=private, exist_ok=True)
    repo_id = repo_url.repo_id  # the full "owner/name" when the owner was implicit
    has_readme = _has_readme(repo_id, revision, token)
    with TemporaryDirectory() as folder:
        save_for_hf(model, tokenizer, model_config, folder, safe_serialization=safe_serialization)
        if not has_readme:
            readme = generate_readme(dict(model_card or {}), repo_id.split("/")[-1])
            (Path(folder) / "README.md").write_text(readme)
        return upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            create_pr=create_pr,
            commit_message=commit_message,
            token=token,
        )


def push_pretrained_to_hf_hub(
    model_name: str,
    pretrained: str,
    repo_id: str,
    precision: str = "fp32",
    image_mean: tuple[float, ...] | None = None,
    image_std: tuple[float, ...] | None = None,
    image_interpolation: str | None = None,
    image_resize_mode: str | None = None,
    commit_message: str = "Add model",
    token: str | None = None,
    revision: str | None = None,
    private: bool = False,
    create_pr: bool = False,
    model_card: dict | None = None,
    hf_tokenizer_self: bool = False,
    **kwargs: Any,
) -> Any:
    """Create ``model_name`` with ``pretrained`` weights and push it to ``repo_id`` (see :func:`push_to_hf_hub`).

    ``hf_tokenizer_self`` points the uploaded config's ``hf_tokenizer_name`` at ``repo_id`` itself; the
    ``openai`` tag records ``quick_gelu`` in the config, as those weights need it.

    Args:
        model_name: Architecture name (or ``hf-hub:``/``local-dir:`` source).
        pretrained: Weights tag or file.
        repo_id: Target repository.
        precision: ``create_model`` precision.
        image_mean: Override of the preprocessing mean.
        image_std: Override of the preprocessing std.
        image_interpolation: Override of the resize interpolation.
        image_resize_mode: Override of the resize mode.
        commit_message: The commit's summary.
        token: Hub token.
        revision: Branch to commit to.
        private: Create the repository private.
        create_pr: Open a pull request instead.
        model_card: README fields.
        hf_tokenizer_self: Point ``text_cfg.hf_tokenizer_name`` at ``repo_id``.
        **kwargs: Further ``create_model_from_pretrained`` options.

    Returns:
        huggingface_hub's ``CommitInfo`` of the upload.
    """
    from ...factory.create import create_model_from_pretrained
    from ...factory.tokenizer import get_tokenizer
    from ...registry.architectures import get_model_config

    given = dict(locals())  # a snapshot: the names assigned below are not passed on
    loaded = create_model_from_pretrained(model_name, **_passed_on(given, create_model_from_pretrained), **kwargs)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    model_config = get_model_config(model_name)
    if model_config is not None:  # None: not a registry name (nothing to adjust)
        if pretrained == "openai":
            model_config["quick_gelu"] = True
        if hf_tokenizer_self:
            model_config["text_cfg"]["hf_tokenizer_name"] = repo_id
    upload = _passed_on(given, push_to_hf_hub)  # repo_id and the commit options
    tokenizer = get_tokenizer(model_name)
    return push_to_hf_hub(model, tokenizer, model_config, safe_serialization="both", **upload)


def _passed_on(given: dict[str, Any], callee: Any) -> dict[str, Any]:
    """The arguments (``given``: the caller's locals) that ``callee`` takes by the same name, but the first."""
    names = list(inspect.signature(callee).parameters)[1:]
    return {name: given[name] for name in names if name in given}


def _items(name: str, value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [f"- **{name}:**", *(f"  - {v}" for v in value)]
    if isinstance(value, dict):
        return [f"- **{name}:**", *(f"  - {k}: {v}" for k, v in value.items())]
    return [f"- **{name}:** {value}"]


def generate_readme(model_card: dict, model_name: str) -> str:
    """A model card: YAML front matter (tags, ``library_name: open_clip``, pipeline tag, license, dataset) and
    the card's description, details, usage, comparison and citation sections.

    ``tags`` and ``pipeline_tag`` are taken out of ``model_card`` (as open_clip does).

    Args:
        model_card: ``tags``, ``pipeline_tag``, ``license``, ``description``, ``details`` (a ``Dataset`` entry
            is listed in the front matter), ``usage``, ``comparison``, ``citation`` (one or a list).
        model_name: The name in the card's title.

    Returns:
        The README text.
    """
    tags = model_card.pop("tags", ("clip",))
    pipeline_tag = model_card.pop("pipeline_tag", "zero-shot-image-classification")
    lines = ["---"]
    if tags:
        lines += ["tags:", *(f"- {t}" for t in tags)]
    lines += [
        "library_name: open_clip",
        f"pipeline_tag: {pipeline_tag}",
        f"license: {model_card.get('license', 'mit')}",
    ]
    details = model_card.get("details")
    if details and "Dataset" in details:
        lines += ["datasets:", f"- {details['Dataset'].lower()}"]
    lines += ["---", f"# Model card for {model_name}"]
    if "description" in model_card:
        lines += ["", model_card["description"]]
    if details:
        lines += ["", "## Model Details", *(line for k, v in details.items() for line in _items(k, v))]
    for key, title in (("usage", "Model Usage"), ("comparison", "Model Comparison")):
        if key in model_card:
            lines += ["", f"## {title}", model_card[key]]
    if "citation" in model_card:
        citations = model_card["citation"]
        citations = citations if isinstance(citations, (list, tuple)) else [citations]
        lines += ["", "## Citation", *(f"```bibtex\n{c}\n```" for c in citations)]
    return "\n".join(lines) + "\n"

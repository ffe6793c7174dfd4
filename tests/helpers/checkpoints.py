"""Weights files for tests: a model (or state dict) saved as safetensors."""

from __future__ import annotations

from pathlib import Path


def save_weights(model_or_state, path: Path) -> Path:
    """Save a module's state dict (or a state dict) as a safetensors file; returns the path."""
    from safetensors.torch import save_file

    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def seeded_model(name: str, seed: int = 0, **kwargs):
    """``clipzoo.create_model(name, **kwargs)`` with random weights from ``torch.manual_seed(seed)``."""
    import torch

    import clipzoo

    torch.manual_seed(seed)
    return clipzoo.create_model(name, **kwargs)


def seeded_checkpoint(name: str, path: Path, seed: int = 0, **kwargs):
    """A seeded random model and its weights saved at ``path``: ``(model, path)``."""
    model = seeded_model(name, seed, **kwargs)
    return model, save_weights(model, path)


def randomize_(model, seed: int) -> None:
    """Overwrite every weight with fan-in-scaled noise (norm scales near 1), keeping logit scale and bias."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or name.split(".")[-1] in ("logit_scale", "logit_bias"):
                continue
            if name.endswith("running_var"):
                tensor.uniform_(0.8, 1.2)
            elif tensor.ndim >= 2:
                tensor.normal_(0.0, tensor[0].numel() ** -0.5)
            elif name.endswith("weight"):
                tensor.normal_(1.0, 0.1)
            else:
                tensor.normal_(0.0, 0.1)


def tiny_clip_checkpoint(folder: Path):
    """tiny-vit (conftest's tiny_configs registers it) with QuickGELU, as transformers' CLIP computes it, seeded
    random weights in eval mode, saved as ``folder/tiny.safetensors``: (model, path)."""
    model, path = seeded_checkpoint("tiny-vit", folder / "tiny.safetensors", force_quick_gelu=True)
    return model.eval(), path

"""The embedded default: a tiny CLIP trained by clipzoo on scikit-learn's handwritten digits.

The weights (``weights/tiny-digits-sklearn_digits.safetensors``) and the held-out images it never trained on
(``weights/digits_heldout.npz``, 8x8 grey levels 0..16 and labels) ship inside the package, so the model,
its zero-shot accuracy and the demo work with no network and without scikit-learn installed.
"""

from __future__ import annotations

from pathlib import Path

DIGIT_CLASSNAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Captions used for training and as zero-shot prompts; "{}" is a digit word, "{n}" the numeral.
DIGIT_TEMPLATES = (
    "a photo of the digit {}.",
    "a handwritten {}.",
    "the number {n}.",
    "a scan of a handwritten digit {n}.",
    "a blurry photo of the number {}.",
    "the digit {n}, written by hand.",
)
MODEL_NAME = "tiny-digits"
TAG = "sklearn_digits"
IMAGE_UPSCALE = 4  # 8x8 digits are shown to the model as 32x32 images
_DATA_DIR = Path(__file__).resolve().parents[1] / "weights"
HELDOUT_FILE = _DATA_DIR / "digits_heldout.npz"


def render_prompt(template: str, label: int) -> str:
    """Fill a template with the class word and numeral of ``label``."""
    return template.replace("{n}", str(label)).format(DIGIT_CLASSNAMES[label])


def digit_image(pixels, scale: int = IMAGE_UPSCALE):
    """An 8x8 array of grey levels 0..16 as an RGB PIL image, upscaled ``scale`` times (nearest)."""
    import numpy as np
    from PIL import Image

    grey = np.clip(np.asarray(pixels, dtype=np.float32) * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    image = Image.fromarray(grey, mode="L").resize((8 * scale, 8 * scale), Image.Resampling.NEAREST)
    return image.convert("RGB")


def load_heldout() -> tuple[list, list[int]]:
    """The held-out digits shipped with the package: (RGB PIL images, labels)."""
    import numpy as np

    with np.load(HELDOUT_FILE) as data:
        images, labels = data["images"], data["labels"]
    return [digit_image(img) for img in images], [int(y) for y in labels]

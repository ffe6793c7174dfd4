"""Image factories: solid PNG files, random photos, held-out digits written as files."""

from __future__ import annotations

from pathlib import Path


def solid_png(path: Path, size: tuple[int, int] = (40, 30), color="red", mode: str = "RGB") -> Path:
    """A one-colour image file (format from the suffix); returns the path."""
    from PIL import Image

    Image.new(mode, size, color).save(path)
    return path


def random_photos(sizes, seed: int = 0, high: int = 255) -> list:
    """RGB PIL images of the given (height, width) sizes with uniform random pixels in [0, high)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, high, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


def digit_pngs(folder: Path, count: int) -> tuple[list[str], list[int]]:
    """The first ``count`` held-out demo digits saved as PNG files: (paths, labels)."""
    from clipzoo.demo.digits import load_heldout

    images, labels = load_heldout()
    paths = []
    for i in range(count):
        paths.append(str(folder / f"digit{i}.png"))
        images[i].save(paths[-1])
    return paths, [int(y) for y in labels[:count]]

"""clipzoo.demo.tour: the PNG grid written atomically and the digit templates (the command: test_cli_demo.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from clipzoo.demo import digits
from clipzoo.demo import tour as demo


def test_write_png_replaces_atomically_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "out.png"
    demo.write_png(Image.new("RGB", (4, 4), "red"), target)
    demo.write_png(Image.new("RGB", (6, 6), "blue"), target)
    with Image.open(target) as img:
        assert img.size == (6, 6)

    class Broken:
        def save(self, handle, format):
            handle.write(b"half a png")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        demo.write_png(Broken(), target)
    with Image.open(target) as img:
        assert img.size == (6, 6)  # the previous file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_templates_fill_the_numeral():
    prompts = {template("seven") for template in demo.digit_templates()}
    assert "the number 7." in prompts and "a photo of the digit seven." in prompts
    assert len(prompts) == len(digits.DIGIT_TEMPLATES)

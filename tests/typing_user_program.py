"""A user's program, type-checked by `make lint` (mypy runs over src/clipzoo and this file: [tool.mypy] files).

Never run: mypy proves that the public API has real types, not ``Any``. ``assert_type`` fails on any other type
(``Any`` included); a ``type: ignore`` that mypy finds unneeded fails too (``warn_unused_ignores``), so the ignored
bad calls prove that the signatures are checked. tests/test_package_typing.py keeps this file in the checked files.
"""

from collections.abc import Callable
from typing import Any

import torch
from PIL.Image import Image
from typing_extensions import assert_type

import clipzoo
from clipzoo.models.clip import CLIP, CustomTextCLIP
from clipzoo.models.coca import CoCa
from clipzoo.tokenizers.bpe import SimpleTokenizer
from clipzoo.tokenizers.hf import HFTokenizer
from clipzoo.tokenizers.sentencepiece import SigLipTokenizer


def user_program(image: Image) -> None:
    """What a README reader writes first."""
    model, _, preprocess = clipzoo.create_model_and_transforms("ViT-B-32", pretrained="openai")
    assert_type(model, CLIP | CustomTextCLIP | CoCa)
    assert_type(preprocess, Callable[..., Any])  # train and eval transforms take any image type
    tokenizer = clipzoo.get_tokenizer("ViT-B-32")
    assert_type(tokenizer, SimpleTokenizer | SigLipTokenizer | HFTokenizer)
    features = model.encode_image(preprocess(image))
    assert_type(features, torch.Tensor)
    assert_type(clipzoo.list_pretrained(), list[tuple[str, str]])
    assert_type(clipzoo.create_model("RN50"), CLIP | CustomTextCLIP | CoCa)
    # real signatures: a wrong value type is an error (unknown keywords are not: open_clip's **model_kwargs)
    clipzoo.create_model_and_transforms(32)  # type: ignore[arg-type]
    clipzoo.create_model_and_transforms("ViT-B-32", pretrained=1)  # type: ignore[arg-type]
    clipzoo.create_model_and_transforms("ViT-B-32", precision=16)  # type: ignore[arg-type]
    clipzoo.get_tokenizer("ViT-B-32", context_length="77")  # type: ignore[arg-type]

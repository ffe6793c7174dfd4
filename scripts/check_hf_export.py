"""Full-size check of the transformers export (run in .venv-hf5): registry architectures with random weights.

    .venv-hf5/bin/python scripts/check_hf_export.py ViT-B-32-quickgelu ViT-B-16 ViT-B-16-SigLIP ViT-B-16-SigLIP2

For each architecture: build it (random weights, the tag's preprocessing), export it with format="transformers"
(without tokenizer files: the SigLIP tokenizers live on the Hub), load the folder with transformers' AutoModel and
AutoImageProcessor, and print the largest feature differences and the largest pixel difference (in 1/255) on
scikit-image's photos. The tests in tests/hf5/ check the same on small twins of these architectures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TAGS = {"ViT-B-32-quickgelu": "openai", "ViT-B-16": "laion2b_s34b_b88k", "ViT-B-16-SigLIP": "webli",
        "ViT-B-16-SigLIP2": "webli"}  # fmt: skip
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def check(name: str, tag: str) -> str:
    import skimage.data
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel

    import clipzoo
    from clipzoo.export.transformers import write_transformers_folder
    from clipzoo.factory.resolve import resolve

    record = clipzoo.get_pretrained_cfg(name, tag)
    pp = {k: record[k] for k in ("mean", "std", "interpolation", "resize_mode")}
    start = time.perf_counter()
    torch.manual_seed(0)
    model, _, transform = clipzoo.create_model_and_transforms(name, **{f"image_{k}": v for k, v in pp.items()})
    model.eval()
    spec = resolve(name, force_preprocess_cfg=pp)
    folder = Path(tempfile.mkdtemp(prefix="hf-export-"))
    with_tokenizer = not spec.model_cfg.text_cfg.hf_tokenizer_name  # the CLIP BPE ships with clipzoo
    write_transformers_folder(folder, model, spec, include_tokenizer=with_tokenizer)
    hf = AutoModel.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    photos = [Image.fromarray(getattr(skimage.data, p)()).convert("RGB") for p in PHOTOS]
    pixels = torch.stack([transform(p) for p in photos[:2]])
    context = spec.model_cfg.text_cfg.context_length
    ids = torch.randint(1, 1000, (2, context), generator=torch.Generator().manual_seed(0))
    if spec.model_cfg.text_cfg.pool_type == "argmax":  # valid CLIP sequences: one end token (the largest id)
        ids[:, 10], ids[:, 11:] = spec.model_cfg.text_cfg.vocab_size - 1, 0
    with torch.no_grad():
        image = hf.get_image_features(pixel_values=pixels)
        text = hf.get_text_features(input_ids=ids)
        d_image = (model.encode_image(pixels) - getattr(image, "pooler_output", image)).abs().max().item()
        d_text = (model.encode_text(ids) - getattr(text, "pooler_output", text)).abs().max().item()
    std = torch.tensor(pp["std"]).view(3, 1, 1)
    worst = []
    for photo in photos:
        theirs = processor(images=photo, return_tensors="pt")["pixel_values"][0]
        worst.append(round(((theirs - transform(photo)).abs() * std).max().item() * 255, 3))
    extra = ""
    if with_tokenizer:
        from transformers import AutoProcessor, pipeline

        texts = ["a photo of a cat.", "A PHOTO of the Dog!", "snake_case, tabs\tand 'quotes'", "zebra " * 100]
        tokenizer = clipzoo.get_tokenizer(name)
        theirs = AutoProcessor.from_pretrained(folder)(
            text=texts, padding="max_length", max_length=context, truncation=True, return_tensors="pt"
        )["input_ids"]
        labels = ["cat", "dog", "astronaut", "rocket", "coffee"]
        classify = pipeline("zero-shot-image-classification", model=str(folder))
        same = []
        for photo in photos[:4]:
            ranked = [row["label"] for row in classify(photo, candidate_labels=labels)]
            ours = clipzoo.zero_shot_classify(
                model, [photo], labels, tokenizer, transform, templates=["This is a photo of {}."], top_k=5
            )[0]
            same.append(ranked == [label for label, _ in ours])
        extra = f", ids equal {torch.equal(theirs, tokenizer(texts))}, pipeline ranking equal {same}"
    return (
        f"{name} ({type(hf).__name__}): image {d_image:.2e}, text {d_text:.2e}, pixels (1/255) {worst}"
        f"{extra}, {time.perf_counter() - start:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(TAGS))
    args = parser.parse_args(argv)
    for name in args.models:
        print(check(name, TAGS.get(name, "")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Normalization constants and file names shared across clipzoo (pure data, no heavy imports)."""

OPENAI_DATASET_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_DATASET_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

# File names used by open_clip-compatible Hub repos and exported folders.
HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"
HF_CONFIG_NAME = "open_clip_config.json"

DEFAULT_CONTEXT_LENGTH = 77
EOT_TOKEN = "<end_of_text>"
SOT_TOKEN = "<start_of_text>"

# precision -> (dtype of every weight, dtype the matmul/conv weights are cast to after, or None); names of torch
# dtypes, so that the table needs no torch. fp16/bf16 keep an fp32 master copy of norms (open_clip's scheme).
PRECISION_DTYPES: dict[str, tuple[str, str | None]] = {
    "fp32": ("float32", None),
    "fp16": ("float32", "float16"),
    "bf16": ("float32", "bfloat16"),
    "amp": ("float32", None),
    "amp_bf16": ("float32", None),
    "amp_bfloat16": ("float32", None),
    "pure_fp16": ("float16", None),
    "pure_bf16": ("bfloat16", None),
}
PRECISIONS = tuple(PRECISION_DTYPES)

# How to install an optional extra: uv (environments made by uv have no pip) or, in a checkout, make install.
EXTRA_INSTALL_HINT = (
    "uv pip install 'clipzoo[{extra}]' (in a clipzoo checkout, `make install` includes every extra)"
)

"""Zero-shot classification: classifiers from prompts, top-k predictions, prompt templates (one
validator) and the ImageNet metadata (data).

``prompts`` and ``imagenet`` are torch-free (the ONNX runtime uses them). May import: preprocess, errors.
"""

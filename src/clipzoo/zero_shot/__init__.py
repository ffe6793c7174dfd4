"""Zero-shot classification: classifiers from prompts and top-k predictions (``classifier``), the template
sets, the template-file reader and the one validator of templates and labels (``prompts``), and the ImageNet
class names and templates (``imagenet``, data).

``prompts`` and ``imagenet`` are torch-free (the ONNX runtime uses them). May import: preprocess, errors.
"""

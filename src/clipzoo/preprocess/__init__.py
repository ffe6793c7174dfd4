"""Images in, tensors out: the eval preprocessing config (torch-free), the one image loader, the PIL
geometry of resize/crop/pad (torch-free), torchvision-compatible eval/train transforms and the threaded batch.

Modules: ``config`` (``PreprocessCfg``), ``images`` (``load_image``, one error family), ``geometry``,
``transforms``, ``batch``.
May import: errors, constants, and each other in that order; ``config``, ``images`` and ``geometry`` never import
torch (the ONNX runtime uses them).
"""

"""Images in, tensors out: the eval preprocessing config (torch-free), the one image loader and its one error
family, the PIL geometry of resize/crop/pad (torch-free), the eval/train transforms, open_clip's torchvision
ops, the NaFlex (patch-dict) transform and the threaded batch.

Modules: ``config`` (``PreprocessCfg``), ``images`` (``load_image``, ``ImageReadError``), ``geometry``,
``eval_steps`` (``EvalTransform``, open_clip's eval steps), ``transforms``,
``eval_compose`` (the eval transform as a torchvision ``Compose``), ``torchvision_ops``,
``naflex``, ``batch``.
May import: errors, constants, sizes, registry, and each other; ``config``, ``images`` and ``geometry`` never
import torch (the ONNX runtime uses them). Never models or the factory.
"""

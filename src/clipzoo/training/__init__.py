"""Training pieces: contrastive, sigmoid, captioning and distillation losses, and the collectives they use on
plain ``torch.distributed``. May import: registry, errors.
"""

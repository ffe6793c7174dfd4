"""Foreign checkpoint and folder layouts, each described once and read in both directions where clipzoo
writes it too.

Modules: ``keys`` (clipzoo's block layouts and the rule mapper that reads a table either way), ``transformers``
(CLIPModel, SiglipModel and Siglip2Model weights as rule tables), ``transformers_config`` (``config.json`` and
``preprocessor_config.json`` to clipzoo's configs, and the tables the exporters invert), ``torchscript``
(OpenAI's archives, read without running their code), ``big_vision`` (``.npz`` SigLIP checkpoints).

May import: registry, errors, constants, sizes. Never the factory, checkpoint loading or export (the
import-linter contracts check it).
"""

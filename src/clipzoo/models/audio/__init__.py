"""Audio-text models: ``CLAP`` (``clap``) and its audio towers, HTSAT (``htsat``, Swin stages in ``swin``) and the
Whisper encoder (``whisper``). The mel arithmetic they share with the audio transform is :mod:`clipzoo.melscale`.
"""

from .clap import CLAP, AudioInputError, AudioTower

__all__ = ["CLAP", "AudioInputError", "AudioTower"]

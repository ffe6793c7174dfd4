"""Put on PYTHONPATH by ``clipzoo run`` so that the Python processes a program starts (multiprocessing's
spawn, subprocesses) also serve ``import open_clip`` from clipzoo.

It installs the alias when ``CLIPZOO_OPEN_CLIP_ALIAS=1``, then runs the ``sitecustomize`` it shadows, if the
environment has one.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _install() -> None:
    if os.environ.get("CLIPZOO_OPEN_CLIP_ALIAS") == "1":
        from clipzoo.compat.open_clip.alias import install_as_open_clip

        install_as_open_clip()


def _chain_to_shadowed() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_install()
_chain_to_shadowed()

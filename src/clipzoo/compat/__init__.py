"""Compatibility layers that exist only so that code written for another library runs unchanged.

Nothing in clipzoo imports this package except the CLI (``clipzoo run``) and the lazy top-level names
(``install_as_open_clip``); the import-linter contracts check it.
"""

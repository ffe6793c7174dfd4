"""File and folder modes that follow the process umask (stdlib only).

``tempfile.mkstemp`` creates files 0600 and ``mkdtemp`` folders 0700, whatever the umask: a file or folder that
is created that way and then renamed into place (a cached download, an exported model folder) would stay private
to its creator although everything else the user writes is shared by their umask. These helpers give such paths
the modes ``open()`` and ``mkdir()`` would have given them.
"""

from __future__ import annotations

import os
import threading

__all__ = ["dir_mode", "file_mode", "fix_tree_modes", "umask"]

_LOCK = threading.Lock()


def umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _LOCK:  # elsewhere the only way to read it is to set it; keep the window as short as possible
        current = os.umask(0o022)
        os.umask(current)
    return current


def file_mode() -> int:
    """The mode ``open(path, 'w')`` gives a new file: 0o666 less the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode ``os.mkdir(path)`` gives a new folder: 0o777 less the umask."""
    return 0o777 & ~umask()


def fix_tree_modes(root: str | os.PathLike) -> None:
    """Give ``root`` (a folder this process just wrote) and everything below it the umask's modes.

    Symbolic links are left alone (their targets may lie elsewhere).
    """
    files, dirs = file_mode(), dir_mode()
    os.chmod(root, dirs)
    for folder, subdirs, names in os.walk(root):
        for name in subdirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, dirs)
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, files)

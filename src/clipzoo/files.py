"""Writing files and folders that other processes may read or write at the same time (stdlib; filelock when locking).

Modes: ``tempfile.mkstemp`` creates files 0600 and ``mkdtemp`` folders 0700, whatever the umask: a file or folder
created that way and then renamed into place (a cached download, an exported model folder) would stay private to
its creator although everything else the user writes is shared by their umask. :func:`file_mode`,
:func:`dir_mode` and :func:`fix_tree_modes` give such paths the modes ``open()`` and ``mkdir()`` would have given.

Atomic targets: :class:`AtomicTarget` is the one way clipzoo replaces a file or folder that another process may
be writing too (the URL cache, verified Hub blobs, exported model folders): under a lock beside the target, the
new content is written under a staging name beside it and renamed into place, so a reader sees the old content
or the new one and a failed or killed writer leaves nothing half-written at the target.

Replacing folders: :func:`check_replaceable` is the one rule for what ``overwrite`` may replace (only a folder
holding a manifest clipzoo writes; never the current or home folder, an ancestor of either, a file, a link or a
foreign folder). :func:`stale_staging` and :func:`remove_stale_staging` find and remove what killed writers left
beside their targets (``clipzoo cache`` reports and clears them).

Output files: :func:`check_output_file` checks, before the work, that a command can write the file it was asked
for (folder, file in the way, format), and says so with the path the user gave.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import LockBusyError, OutputPathError, UnsafeTargetError

__all__ = [
    "AtomicTarget",
    "LockBusyError",
    "UnsafeTargetError",
    "check_replaceable",
    "dir_mode",
    "file_mode",
    "fix_tree_modes",
    "remove_stale_staging",
    "stale_staging",
    "umask",
    "write_file_atomically",
]

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


def fix_tree_modes(root: str | os.PathLike[str]) -> None:
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


_WRITE_MARK = ".write-"  # write_file_atomically's temporary files: ".NAME.write-XXXXXXXX.part"


def unfinished_writes(folder: str | os.PathLike) -> list[Path]:
    """The temporary files that :func:`write_file_atomically` calls killed before their rename left in ``folder``
    and its subfolders, sorted. Live writers' files look the same: remove them only while no writer can run.

    Args:
        folder: The folder to look in; a missing folder has none.

    Returns:
        Their paths.
    """
    return sorted(Path(folder).rglob(f".*{_WRITE_MARK}*.part"))


def write_file_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it onto ``path`` (umask modes, no lock).

    For small records that any writer may replace whole (a last writer wins); readers never see a torn file.

    Args:
        path: The file to replace.
        data: Its new content.

    Raises:
        OSError: the folder cannot be written.
    """
    folder, name = os.path.split(os.fspath(path))
    # not ".NAME.tmp-": these writers hold no lock, so the sweep of staging leftovers must not take their files
    fd, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}{_WRITE_MARK}", suffix=".part")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class _PidLock:
    """filelock's lock on ``path``, holding the holder's pid while held and removing its file on release.

    The file is removed while the lock is still held, and only when the path still names the file locked: a
    process that opened it meanwhile then finds it unlinked once it gets the lock and starts over on a new file
    (filelock checks the link count after locking), so mutual exclusion holds and no lock file stays behind.
    """

    def __init__(self, path: Path) -> None:
        from filelock import FileLock  # imported here so that importing clipzoo needs no third-party package

        self.path = path
        self._identity: tuple[int, int] | None = None
        try:
            self._lock = FileLock(path, on_acquired=self._acquired)
        except TypeError:  # filelock < 4 has no acquisition hook: no holder pid, and the lock file stays
            self._lock = FileLock(path)

    def _acquired(self, fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        stat = os.fstat(fd)
        self._identity = (stat.st_dev, stat.st_ino)

    def acquire(self, timeout: float | None) -> None:
        self._lock.acquire(timeout=-1 if timeout is None else timeout)

    def holder(self) -> str:
        try:
            pid = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""
        return f"pid {pid}" if pid.isdigit() else ""

    def release(self) -> None:
        if self._identity is not None:
            # Windows cannot remove an open file; filelock's Windows lock removes it on release there
            with contextlib.suppress(OSError):
                stat = os.stat(self.path)
                if (stat.st_dev, stat.st_ino) == self._identity:
                    os.unlink(self.path)
            self._identity = None
        self._lock.release()


def _state(path: Path) -> tuple[int, int, int] | None:
    """Identity of what is at ``path`` now (device, inode, mtime), or None when nothing is."""
    try:
        stat = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class AtomicTarget:
    """A file or folder replaced in one rename while the lock ``.NAME.lock`` beside it is held.

    Entering takes the lock (waiting up to ``timeout`` seconds; None waits as long as it takes), which names the
    holder's pid while held and is removed on release, then removes what killed writers left: staging copies
    ``.NAME.tmp-*`` and a replaced folder put aside as ``.NAME.old-*`` (moved back when the target is missing).
    Every writer of the target holds the lock, so anything of that kind found under it belongs to a dead process.
    :meth:`staging` then gives a fresh staging file or folder that is renamed onto the target when its block
    ends without an error and removed when it fails.

    Example::

        with AtomicTarget(path) as target, target.staging() as part:
            part.write_bytes(data)

    Args:
        target: The file or folder to write; its parent folder must exist.
        timeout: Seconds to wait for another writer; None waits without limit.
        sweep_parent: Also remove the leftovers of killed writers of every other target in the same folder
            whose lock no live process holds (:func:`remove_stale_staging`); for folders where every staging
            name belongs to a locked writer (exports), not shared caches.

    Raises:
        LockBusyError: on entering, another process held the lock for ``timeout`` seconds.
        OSError: on entering, the parent folder is missing or not a folder, or the lock file cannot be written.
    """

    def __init__(
        self, target: str | os.PathLike, timeout: float | None = None, *, sweep_parent: bool = False
    ) -> None:
        self.path = Path(target)
        self.sweep_parent = sweep_parent
        self.lock_path = self.path.parent / f".{self.path.name}.lock"
        self.timeout = timeout
        #: Whether another writer held the lock on entry and what it left at the target changed meanwhile.
        self.changed_while_waiting = False
        self._lock: _PidLock | None = None

    def __enter__(self) -> AtomicTarget:
        from filelock import Timeout

        parent = self.path.parent
        if (
            not parent.is_dir()
        ):  # checked here: filelock would create missing folders, or fail on a file oddly
            code = errno.ENOTDIR if parent.exists() else errno.ENOENT
            raise OSError(code, os.strerror(code), str(parent))
        # filelock retries a lock file it cannot create until the timeout (/proc: 30 s, then "busy"): create it
        # here first, so that a folder nothing can be written in fails at once with its own cause
        os.close(os.open(self.lock_path, os.O_RDWR | os.O_CREAT, file_mode()))
        before = _state(self.path)
        lock = _PidLock(self.lock_path)
        try:
            lock.acquire(0)
            waited = False
        except Timeout:
            waited = True
            try:
                lock.acquire(self.timeout)
            except Timeout as err:
                raise LockBusyError(self.path, self.lock_path, lock.holder(), self.timeout or 0.0) from err
        self._lock = lock
        try:
            self._remove_leftovers()
            if self.sweep_parent:
                remove_stale_staging(parent, skip=(self.path.name,))
        except BaseException:
            self.release()
            raise
        self.changed_while_waiting = waited and _state(self.path) != before
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        """Release the lock (and remove its file); entering the target again takes it anew."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _remove_leftovers(self) -> None:
        for entry in _staging_entries(self.path.parent).get(self.path.name, []):
            previous = entry / "previous"
            if _kind(entry) == "old" and os.path.lexists(previous) and not os.path.lexists(self.path):
                os.replace(previous, self.path)  # a replacement killed between its two renames: roll it back
            _remove(entry)

    @contextlib.contextmanager
    def staging(self, *, folder: bool = False) -> Iterator[Path]:
        """A new empty staging file (``.NAME.tmp-*.part``) or folder beside the target, published when the block ends.

        Args:
            folder: Stage a folder instead of a file.

        Yields:
            The staging path; when the block raises, it is removed and the target is left as it was.

        Raises:
            RuntimeError: the lock is not held (use the target in a ``with`` block).
        """
        self._check_held()
        parent, prefix = self.path.parent, f".{self.path.name}.tmp-"
        if folder:
            staged = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=parent)
            os.close(fd)
            staged = Path(name)
        try:
            yield staged
            self.publish(staged)
        except BaseException:
            _remove(staged)
            raise

    def publish(self, staged: str | os.PathLike) -> Path:
        """Give ``staged`` the umask's modes and rename it onto the target (on the same file system).

        A target folder (or a target replaced by a folder) is first renamed aside as ``.NAME.old-*``, and the
        aside copy is removed once the new one is in place; a writer killed in between is rolled back by the next.

        Args:
            staged: The finished file or folder, e.g. from :meth:`staging`.

        Returns:
            The target path.

        Raises:
            RuntimeError: the lock is not held (use the target in a ``with`` block).
        """
        self._check_held()
        staged, target = Path(staged), self.path
        if staged.is_dir():
            fix_tree_modes(staged)  # mkdtemp made it 0700; the writers may have used mkstemp (0600)
        else:
            os.chmod(staged, file_mode())
        if os.path.lexists(target) and (staged.is_dir() or (target.is_dir() and not target.is_symlink())):
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            try:
                os.replace(target, aside / "previous")
            except BaseException:
                aside.rmdir()  # still empty: nothing of a refused replacement stays behind
                raise
            try:
                os.replace(staged, target)
            except BaseException:
                os.replace(aside / "previous", target)  # (if this fails too, the next writer rolls it back)
                aside.rmdir()
                raise
            shutil.rmtree(aside)
        else:
            os.replace(staged, target)
        return target

    def _check_held(self) -> None:
        if self._lock is None:
            raise RuntimeError(f"{self.path}: write it inside `with AtomicTarget(...)`, which holds its lock")


# ------------------------------------------------------------------------------------------ staging leftovers
# A writer killed mid-write (SIGKILL, power loss) leaves its staging copy ``.NAME.tmp-XXXXXXXX`` (``.part`` for
# files) or a replaced folder put aside, ``.NAME.old-XXXXXXXX``; the 8 characters are exactly tempfile's, so
# ".out.tmp-abc.tmp-12345678" belongs to "out.tmp-abc". Every such writer holds ``.NAME.lock``: a leftover whose
# lock can be taken at once belongs to a dead process.

_STAGING = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old)-[a-z0-9_]{8}(\.part)?")


def _kind(entry: Path) -> str:
    found = _STAGING.fullmatch(entry.name)
    return found.group("kind") if found else ""


def _staging_entries(folder: Path) -> dict[str, list[Path]]:
    """Staging copies in ``folder`` by the name of the target they belong to (live writers' included)."""
    found: dict[str, list[Path]] = {}
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in sorted(folder.iterdir()):
            match = _STAGING.fullmatch(entry.name)
            if match:
                found.setdefault(match.group("name"), []).append(entry)
    return found


def _is_held(lock_path: Path) -> bool:
    """Whether a live process holds the lock (True too when it cannot be checked: then leave things alone)."""
    from filelock import Timeout

    lock = _PidLock(lock_path)
    try:
        lock.acquire(0)
    except (Timeout, OSError):
        return True
    lock.release()
    return False


def stale_staging(folder: str | os.PathLike) -> list[Path]:
    """The staging copies in ``folder`` that killed writers left (their target's lock is free), sorted.

    Args:
        folder: The folder to look in (not below it); a missing folder has none.

    Returns:
        Their paths; a live writer's staging copy is never among them.
    """
    folder = Path(folder)
    return [
        entry
        for name, entries in _staging_entries(folder).items()
        if not _is_held(folder / f".{name}.lock")
        for entry in entries
    ]


def remove_stale_staging(folder: str | os.PathLike, *, skip: Iterable[str] = ()) -> list[Path]:
    """Remove what killed writers left in ``folder`` (see :func:`stale_staging`), each under its target's lock.

    A replacement killed between its two renames is rolled back (the old folder moved back to its name).

    Args:
        folder: The folder to clean (not below it).
        skip: Target names to leave alone (the caller's own, already handled under its lock).

    Returns:
        The paths removed; staging copies of live writers, or of locks that cannot be taken, are kept.
    """
    folder, removed = Path(folder), []
    for name, entries in _staging_entries(folder).items():
        if name in set(skip):
            continue
        try:
            with AtomicTarget(folder / name, timeout=0):  # entering removes them, under the lock
                pass
        except (LockBusyError, OSError):
            continue
        removed.extend(entries)
    return removed


# ---------------------------------------------------------------------------------- what overwrite may replace


def _protected(path: Path) -> str:
    """Why the resolved ``path`` must never be replaced as a whole, or ``""``."""
    cwd = Path.cwd().resolve()
    try:
        home: Path | None = Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        home = None
    if path == path.parent:
        return "the root folder"
    if path == cwd:
        return "the current folder"
    if cwd.is_relative_to(path):
        return f"an ancestor of the current folder {cwd}"
    if home is not None and path == home:
        return "your home folder"
    if home is not None and home.is_relative_to(path):
        return f"an ancestor of your home folder {home}"
    return ""


def check_replaceable(
    target: str | os.PathLike,
    manifests: Iterable[str],
    *,
    overwrite: bool = True,
    flag: str = "overwrite=True / --overwrite",
) -> Path:
    """Check that clipzoo may write the folder ``target`` as a whole, replacing it only if clipzoo wrote it.

    The rule (one for every command that writes a folder: ``export``, ``embed``): a target that does not exist
    or is an empty folder may be written; a folder holding one of ``manifests`` (the files that prove clipzoo
    wrote it) may be replaced with ``overwrite``; nothing else is ever replaced: not an empty path (an unset
    shell variable), the root, the current folder or an ancestor of it, the home folder or an ancestor of it,
    a symbolic link, a file, a non-empty folder without a manifest, or a folder the user cannot write. Call it
    before any work (and again under the target's lock, where the state may have changed meanwhile).

    Args:
        target: The folder to write, as the user gave it (``~`` is expanded; a relative path is taken from the
            current folder).
        manifests: File names of which at least one marks a folder clipzoo wrote (e.g. ``clipzoo_export.json``).
        overwrite: The user asked to replace an existing folder.
        flag: How the user asks for ``overwrite``, for the message.

    Returns:
        The target as an absolute path (``~`` expanded; symbolic links on the way kept).

    Raises:
        UnsafeTargetError: the target must not be written; the message names the path and why.
    """
    if not str(target).strip():
        raise UnsafeTargetError(
            f"the target folder is an empty path ({str(target)!r}: an unset shell variable?); name the folder "
            "to write"
        )
    path = Path(target).expanduser().absolute()
    real = path.resolve()
    why = _protected(real)
    if why:
        shown = f"{target} ({real})" if str(real) != str(target) else str(real)
        raise UnsafeTargetError(f"refusing to write {shown}: it is {why}; name a new folder below it")
    if path.is_symlink():
        raise UnsafeTargetError(
            f"{path} is a symbolic link (to {os.readlink(path)}); name a folder, not a link, as the target"
        )
    if not path.exists() or _is_empty_dir(path):
        return path
    names = list(manifests)
    if not path.is_dir():
        raise UnsafeTargetError(
            f"{path} is a file, not a folder clipzoo wrote; not replacing it: remove it yourself or name another "
            "target"
        )
    if not any((path / name).is_file() for name in names):
        raise UnsafeTargetError(
            f"{path} is not empty and holds no {' or '.join(names)}: clipzoo did not write it, so it is never "
            "replaced; name a new or empty folder, or remove it yourself"
        )
    if not overwrite:
        raise UnsafeTargetError(f"{path} already exists (written by clipzoo); pass {flag} to replace it")
    if not os.access(path, os.W_OK | os.X_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        raise UnsafeTargetError(
            f"cannot replace {path}: permission denied (it or its folder is read-only); name a target you can write"
        )
    return path


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


# ---------------------------------------------------------------------------------------------------- output files
# A plot or a demo picture is written at the end of its work; a folder that does not exist, a path through a file,
# or a format nothing can write would otherwise fail only then, with an error about a temporary file.


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output_file(
    path: str | os.PathLike,
    formats: Iterable[str] | None = None,
    *,
    create_parents: bool = False,
    what: str = "output file",
) -> Path:
    """Check that ``path`` can be written as a file of one of ``formats`` (suffixes without the dot).

    Args:
        path: The file to write.
        formats: The suffixes the writer supports (lowercase, without the dot); None accepts any.
        create_parents: The writer creates missing folders; then only an existing ancestor has to be a
            writable folder.
        what: What the file is, for the message (e.g. ``"--plot file"``).

    Returns:
        ``path`` as a Path, ``~`` expanded.

    Raises:
        OutputPathError: the path is a folder, a folder on the way is a file or is missing (without
            ``create_parents``) or not writable, or the suffix is not one of ``formats``.
    """
    path = Path(path).expanduser()
    if formats is not None:
        formats = sorted(set(formats))
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in formats:
            got = f"'.{suffix}'" if suffix else "no suffix"
            raise OutputPathError(f"{what} {str(path)!r}: {got} is not a format it can write; use one of "
                                  f"{', '.join('.' + f for f in formats)}")  # fmt: skip
    if path.is_dir():
        raise OutputPathError(f"{what} {str(path)!r} is a folder; give a file name inside it")
    parent = path.absolute().parent
    existing = _nearest_existing(parent)
    if not existing.is_dir():
        raise OutputPathError(f"{what} {str(path)!r}: {str(existing)!r} is a file, not a folder")
    if existing != parent and not create_parents:
        raise OutputPathError(
            f"{what} {str(path)!r}: the folder {str(parent)!r} does not exist; create it first"
        )
    if not os.access(existing, os.W_OK):
        raise OutputPathError(f"{what} {str(path)!r}: no permission to write in {str(existing)!r}")
    return path

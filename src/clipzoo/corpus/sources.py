"""Reading a corpus: what ``clipzoo embed SOURCE...`` accepts, as one ordered stream of items (stdlib + pyarrow).

A source is one of:

- a **folder** of images, walked recursively in sorted order (``.jpg .jpeg .png .webp .bmp .gif .tif .tiff``);
  a ``NAME.txt`` beside ``NAME.jpg`` is its caption (clip-retrieval's folder convention);
- a **glob** (``photos/*.jpg``, ``shards/*.tar``) or a **brace range** (``shards/{00000..00099}.tar``),
  expanded in sorted (glob) or written (brace) order, each match read by its kind;
- an **image file**;
- a **list file** (``.txt``: one image path per line; ``.csv``/``.tsv``/``.parquet``: a table with an image
  column, an optional caption column and extra columns carried into the metadata); relative paths are
  relative to the list file's folder. A table without the image column but with the caption column, or any
  list with ``text_only``, is **caption-only**: text embeddings, no images;
- a **WebDataset / img2dataset tar shard** (``.tar``): members grouped by key (the name up to its first dot),
  ``jpg``/``jpeg``/``png``/``webp`` the image, ``txt`` the caption, ``json`` extra columns.

Every item gets its position in the stream; the stream is the same on every run with the same arguments, which
is what resume relies on (part ``k`` is always items ``k * part_size`` to ``(k + 1) * part_size - 1``).
Images are not opened here: an item names its bytes (a file, or an offset and size inside a tar), and the
workers read and decode them, so a broken image is a failure of its item, never of the source.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceError

__all__ = [
    "IMAGE_SUFFIXES",
    "Item",
    "SourceError",
    "SourceOptions",
    "check_sources",
    "count_items",
    "iter_items",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
TAR_IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
_BRACE = re.compile(r"\{(\d+)\.\.(\d+)\}")


@dataclass(frozen=True)
class Item:
    """One corpus item: where its image bytes are (if any), its caption (if any) and extra metadata columns.

    Attributes:
        image_path: What the metadata's ``image_path`` says (a file, or ``SHARD/MEMBER`` inside a tar); None for
            caption-only items.
        file: The file holding the image bytes; None for caption-only items.
        offset: Where the bytes start in ``file`` (tar members); None: the whole file.
        size: How many bytes (tar members); None: the whole file.
        caption: The caption, or None.
        extra: Extra metadata columns (from a table's other columns or a shard's json).
    """

    image_path: str | None
    file: str | None = None
    offset: int | None = None
    size: int | None = None
    caption: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceOptions:
    """How list files are read: the image and caption column names, and whether lists hold captions only."""

    image_column: str = "image_path"
    caption_column: str = "caption"
    text_only: bool = False


def expand_braces(pattern: str) -> list[str]:
    """``shards/{00000..00002}.tar`` -> the three names, zero-padded as written (nested ranges multiply)."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    first, last = match.group(1), match.group(2)
    width = len(first) if first.startswith("0") else 0
    head, tail = pattern[: match.start()], pattern[match.end() :]
    names = []
    for number in range(int(first), int(last) + 1):
        names.extend(expand_braces(f"{head}{str(number).zfill(width)}{tail}"))
    return names


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_source(source: str | os.PathLike) -> list[Path]:
    """The files and folders one SOURCE argument names, in stream order.

    Raises:
        SourceError: a path does not exist, or a glob matches nothing.
    """
    text = os.path.expanduser(os.fspath(source))
    paths: list[Path] = []
    for name in expand_braces(text):
        if _is_glob(name):
            found = sorted(glob.glob(name, recursive=True))
            if not found:
                raise SourceError(f"source {name!r} matches no file")
            paths.extend(Path(f) for f in found)
        elif not os.path.exists(name):
            raise SourceError(f"source {name!r} does not exist")
        else:
            paths.append(Path(name))
    return paths


def _kind(path: Path) -> str:
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".tar":
        return "tar"
    if suffix in TABLE_SUFFIXES or suffix == ".txt":
        return "list"
    raise SourceError(
        f"source {str(path)!r}: cannot tell what it holds from '{suffix or 'no suffix'}'; give a folder, an "
        f"image ({', '.join(IMAGE_SUFFIXES)}), a list (.txt, .csv, .tsv, .parquet) or a tar shard (.tar)"
    )


def check_sources(sources: Sequence[str | os.PathLike], options: SourceOptions) -> list[tuple[str, Path]]:
    """Expand every SOURCE and check it can be read (exists, known kind, list columns present), before any work.

    Returns:
        ``(kind, path)`` for every file or folder, in stream order.

    Raises:
        SourceError: no sources, a missing path, an empty glob, an unknown kind, or a table without the named
            columns.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if not sources:
        raise SourceError("no SOURCE given: name folders, image files, lists or tar shards to embed")
    found = [(_kind(path), path) for source in sources for path in expand_source(source)]
    for kind, path in found:
        if kind == "list":
            _table_columns(path, options)  # raises on a table without the columns
    return found


# ---------------------------------------------------------------------------------------------------- per kind


def _folder_items(folder: Path) -> Iterator[Item]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        names = set(files)
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() not in IMAGE_SUFFIXES:
                continue
            path = os.path.join(root, name)
            caption = None
            if f"{stem}.txt" in names:
                caption = Path(root, f"{stem}.txt").read_text(encoding="utf-8", errors="replace").strip()
            yield Item(image_path=path, file=path, caption=caption)


def _table_columns(path: Path, options: SourceOptions) -> tuple[str | None, str | None]:
    """(image column, caption column) of a list file, None where absent; checks the columns exist."""
    if path.suffix.lower() == ".txt":
        return (None, "caption") if options.text_only else ("image_path", None)
    names = _read_table_names(path)
    image = options.image_column if options.image_column in names and not options.text_only else None
    caption = options.caption_column if options.caption_column in names else None
    if image is None and caption is None:
        raise SourceError(
            f"list {str(path)!r} has neither an image column {options.image_column!r} nor a caption column "
            f"{options.caption_column!r}; its columns: {', '.join(names)} (choose with --image-column, "
            "--caption-column)"
        )
    return image, caption


def _read_table_names(path: Path) -> list[str]:
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle, delimiter=_delimiter(path)), [])
    except (OSError, ValueError) as err:
        raise SourceError(f"cannot read the list {str(path)!r}: {err}") from err


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _table_rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    elif suffix == ".txt":
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield {"line": line.rstrip("\r\n")}
    else:
        with open(path, newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle, delimiter=_delimiter(path))


def _list_items(path: Path, options: SourceOptions) -> Iterator[Item]:
    image_col, caption_col = _table_columns(path, options)
    base, line_column = path.parent, image_col or caption_col or ""  # a .txt list has exactly one column
    for row in _table_rows(path):
        if "line" in row and path.suffix.lower() == ".txt":
            row = {line_column: row["line"]}
        extra = {k: v for k, v in row.items() if k not in (image_col, caption_col)}
        caption = None if caption_col is None or row.get(caption_col) is None else str(row[caption_col])
        if image_col is None:
            yield Item(image_path=None, caption=caption, extra=extra)
            continue
        image = str(row.get(image_col) or "")
        file = image if os.path.isabs(image) else str(base / image)
        yield Item(image_path=image, file=file, caption=caption, extra=extra)


def _tar_items(path: Path) -> Iterator[Item]:
    """Samples of a WebDataset shard: members grouped by key, in the shard's order."""
    try:
        with tarfile.open(path, "r:") as tar:
            key: str | None = None
            members: dict[str, tarfile.TarInfo] = {}
            for member in tar:
                if not member.isfile():
                    continue
                folder, name = os.path.split(member.name)
                stem, _, ext = name.partition(".")
                member_key = os.path.join(folder, stem)
                if member_key != key and members:
                    yield _tar_sample(path, tar, members)
                    members = {}
                key = member_key
                members[ext.lower()] = member
            if members:
                yield _tar_sample(path, tar, members)
    except (tarfile.TarError, OSError) as err:
        raise SourceError(f"cannot read the tar shard {str(path)!r}: {err}") from err


def _tar_sample(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> Item:
    def text(ext: str) -> str | None:
        member = members.get(ext)
        if member is None:
            return None
        handle = tar.extractfile(member)
        return handle.read().decode("utf-8", errors="replace") if handle else None

    caption = text("txt")
    extra: dict[str, Any] = {}
    meta = text("json")
    if meta:
        try:
            loaded = json.loads(meta)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            extra = {k: v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)
                     for k, v in loaded.items() if k not in ("image_path", "caption")}  # fmt: skip
    image = next((members[e] for e in TAR_IMAGE_KEYS if e in members), None)
    if image is None:
        return Item(image_path=None, caption=caption.strip() if caption else caption, extra=extra)
    return Item(
        image_path=f"{path}/{image.name}",
        file=str(path),
        offset=image.offset_data,
        size=image.size,
        caption=caption.strip() if caption else caption,
        extra=extra,
    )


def _image_items(path: Path, options: SourceOptions) -> Iterator[Item]:
    yield Item(image_path=str(path), file=str(path))


# kind -> reader(path, options) of its items, in stream order
READERS = {
    "folder": lambda path, options: _folder_items(path),
    "image": _image_items,
    "tar": lambda path, options: _tar_items(path),
    "list": _list_items,
}


def iter_items(found: Sequence[tuple[str, Path]], options: SourceOptions) -> Iterator[Item]:
    """Every item of the checked sources (:func:`check_sources`), in stream order."""
    for kind, path in found:
        yield from READERS[kind](path, options)


def count_items(found: Sequence[tuple[str, Path]], options: SourceOptions) -> tuple[int, bool, bool]:
    """(items, any image, any caption) over the stream, without keeping the items (memory stays flat)."""
    total, images, captions = 0, False, False
    for item in iter_items(found, options):
        total += 1
        images = images or item.file is not None
        captions = captions or item.caption is not None
    return total, images, captions

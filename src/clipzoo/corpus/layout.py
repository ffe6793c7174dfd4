"""The output folder: clip-retrieval's layout, written one atomic part at a time, and the manifest that resumes it.

::

    OUT/img_emb/img_emb_{k}.npy          float16 (or float32), L2-normalized, [rows, dim]
    OUT/text_emb/text_emb_{k}.npy        same, for the captions (when the corpus has captions)
    OUT/metadata/metadata_{k}.parquet    image_path, caption, extra columns; the embeddings' row order
    OUT/clipzoo_embed.json               model, tag, preprocessing, dtype, options, finished parts, failures
    OUT/failures.parquet                 part, image_path, reason: every item skipped

``k`` is zero-padded to ``int(log10(parts)) + 1`` digits, as clip-retrieval 2.45's writer pads it, so its
``index`` step (autofaiss, embedding-reader) and its back-end read the folder as their own.

Why a run survives SIGKILL: each part file is written under a temporary name and renamed into place, and a part
counts as done only once the manifest, itself replaced in one rename, lists it. A run started again with the
same arguments redoes every part the manifest does not list (replacing any files a killed run left for it) and
skips the others; the stream of items is the same on every run (:mod:`clipzoo.corpus.sources`), so the folder
ends equal to an uninterrupted run's.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ForeignOutputError
from ..files import check_replaceable, write_file_atomically

__all__ = [
    "FAILURES_FILE",
    "MANIFEST_FILE",
    "ForeignOutputError",
    "Manifest",
    "PartResult",
    "open_output",
    "part_files",
    "write_part",
]

MANIFEST_FILE = "clipzoo_embed.json"
FAILURES_FILE = "failures.parquet"
FORMAT = "clipzoo_embed"
VERSION = 1
# what -> (folder, file name pattern); the names clip-retrieval's writer uses
PART_FILES = {
    "image": ("img_emb", "img_emb_{k}.npy"),
    "text": ("text_emb", "text_emb_{k}.npy"),
    "metadata": ("metadata", "metadata_{k}.parquet"),
}
OUTPUT_DTYPES = {"float16": np.float16, "float32": np.float32}


def part_width(n_parts: int) -> int:
    """Digits of a part number: clip-retrieval's ``int(log10(parts)) + 1``."""
    return int(math.log10(max(n_parts, 1))) + 1


def part_files(out: Path, k: int, n_parts: int) -> dict[str, Path]:
    """The three files of part ``k`` (``image``, ``text``, ``metadata``) of a run of ``n_parts`` parts."""
    number = str(k).zfill(part_width(n_parts))
    return {what: out / folder / name.format(k=number) for what, (folder, name) in PART_FILES.items()}


@dataclass
class PartResult:
    """One finished part: its embeddings, metadata rows (same order) and the items it skipped."""

    k: int
    rows: list[dict[str, Any]]
    image: np.ndarray | None = None
    text: np.ndarray | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _parquet_bytes(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(dict.fromkeys([*columns, *(k for row in rows for k in row)]))
    table = pa.table({name: [row.get(name) for row in rows] for name in names})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_part(out: Path, part: PartResult, n_parts: int, dtype: str, columns: list[str]) -> None:
    """Write a part's files, each atomically (a temporary file renamed into place); the manifest comes after."""
    files = part_files(out, part.k, n_parts)
    for what, array in (("image", part.image), ("text", part.text)):
        if array is not None:
            files[what].parent.mkdir(exist_ok=True)
            write_file_atomically(files[what], _npy_bytes(np.ascontiguousarray(array, OUTPUT_DTYPES[dtype])))
    files["metadata"].parent.mkdir(exist_ok=True)
    write_file_atomically(files["metadata"], _parquet_bytes(part.rows, columns))


# ---------------------------------------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    """``clipzoo_embed.json``: what a run embeds and how (``identity``), and how far it got.

    Attributes:
        identity: The arguments that define the output (sources, model, tag, dtype, part size, batch size,
            precision, columns); a run with another identity may not resume this folder.
        n_items: Items in the stream (failures included).
        n_parts: Parts of ``part_size`` items.
        info: What the run found: preprocessing, embedding width, inference path, engine.
        parts: Finished parts: ``{k: {"rows": n, "failures": n}}``.
        failures: Every skipped item: ``{"part", "image_path", "reason"}``.
        finished: Every part is written.
    """

    identity: dict[str, Any]
    n_items: int
    n_parts: int
    info: dict[str, Any] = field(default_factory=dict)
    parts: dict[int, dict[str, int]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        """The manifest as written (``parts`` keyed by the part number as text)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "identity": self.identity,
            "n_items": self.n_items,
            "n_parts": self.n_parts,
            "info": self.info,
            "finished": self.finished,
            "parts": {str(k): v for k, v in sorted(self.parts.items())},
            "failures": self.failures,
        }

    @classmethod
    def read(cls, out: Path) -> Manifest | None:
        """The manifest in ``out``, or None when there is none.

        Raises:
            ForeignOutputError: the file is not a clipzoo_embed manifest this version reads.
        """
        path = out / MANIFEST_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError(f"format {data.get('format')!r} version {data.get('version')!r}")
            return cls(
                identity=data["identity"],
                n_items=int(data["n_items"]),
                n_parts=int(data["n_parts"]),
                info=data.get("info", {}),
                parts={int(k): v for k, v in data["parts"].items()},
                failures=list(data["failures"]),
                finished=bool(data["finished"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ForeignOutputError(
                f"{path} is not a manifest clipzoo can resume ({err}); use another --out"
            ) from err

    def record(self, out: Path, part: PartResult) -> None:
        """Mark ``part`` done and write the manifest and ``failures.parquet`` (each replaced in one rename)."""
        self.parts[part.k] = {"rows": len(part.rows), "failures": len(part.failures)}
        self.failures = [f for f in self.failures if f["part"] != part.k] + part.failures
        self.failures.sort(key=lambda f: (f["part"], f.get("position", 0)))
        self.finished = len(self.parts) == self.n_parts
        self.save(out)

    def save(self, out: Path) -> None:
        """Write ``failures.parquet``, then the manifest (the manifest is the commit point)."""
        columns = ["part", "position", "image_path", "reason"]
        write_file_atomically(out / FAILURES_FILE, _parquet_bytes(self.failures, columns))
        text = json.dumps(self.to_json(), indent=1, sort_keys=False, default=str)
        write_file_atomically(out / MANIFEST_FILE, text.encode("utf-8"))


def _describe(identity: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in identity.items() if k in ("model", "pretrained", "dtype"))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


def open_output(out: Path, identity: dict[str, Any], overwrite: bool) -> Manifest | None:
    """Check ``--out`` before any work; the manifest to resume, or None to start anew (the folder is then empty).

    Args:
        out: The output folder.
        identity: This run's identity (see :class:`Manifest`).
        overwrite: Replace another run's output (only a folder clipzoo wrote: ``clipzoo.files.check_replaceable``,
            the rule every folder-writing command follows).

    Raises:
        ForeignOutputError: ``out`` holds another run's embeddings (without ``overwrite``).
        UnsafeTargetError: ``out`` may not be written: a file, a link, a non-empty folder clipzoo did not write,
            the current or home folder or an ancestor, an empty path.
    """
    manifest = Manifest.read(out) if out.is_dir() else None
    if manifest is not None and manifest.identity == identity:
        return manifest
    if manifest is not None and not overwrite:
        changed = "; ".join(_differences(manifest.identity, identity))
        raise ForeignOutputError(
            f"{out} holds embeddings of another run ({_describe(manifest.identity)}; differs in {changed}); "
            "give another --out, the same arguments to resume it, or --overwrite to replace it"
        )
    path = check_replaceable(out, [MANIFEST_FILE], overwrite=overwrite, flag="overwrite=True / --overwrite")
    if path.is_dir() and any(path.iterdir()):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return None

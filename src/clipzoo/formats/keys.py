"""State-dict key tables: clipzoo's own block layouts, and one mapper that moves tensors by a table.

A foreign layout is described once, as a list of rules naming each tensor in both layouts
(:class:`Param`, :class:`Blocks`, :class:`Packed`); :func:`apply_rules` reads that list in either direction,
so the import (``to="clipzoo"``) and the export (``to="foreign"``) of a format cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["clipzoo", "foreign"]

# A transformer block's parameters, by role, in clipzoo's two block layouts: the native (OpenAI/open_clip) block
# and timm's ViT block. ``qkv`` is the packed input projection, "{}" standing for weight/bias.
NATIVE_BLOCK = {
    "ln1": "ln_1",
    "ln2": "ln_2",
    "fc1": "mlp.c_fc",
    "fc2": "mlp.c_proj",
    "out": "attn.out_proj",
    "qkv": "attn.in_proj_{}",
}
TIMM_BLOCK = {
    "ln1": "norm1",
    "ln2": "norm2",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
    "out": "attn.proj",
    "qkv": "attn.qkv.{}",
}


def count_layers(state: dict[str, Any], prefix: str) -> int:
    """Number of distinct ``{prefix}{i}.`` block indices among the keys of ``state``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({int(m.group(1)) for key in state for m in [pattern.match(key)] if m})


class KeyMapper:
    """Moves tensors from a source dict to an output dict and reports source keys nobody consumed.

    ``missing(key)`` and ``leftover(keys)`` build the errors, so a reader raises its checkpoint error and a
    writer its export error; keys ending in one of ``ignore`` need not be consumed.
    """

    def __init__(
        self,
        state: dict[str, Any],
        missing: Callable[[str], Exception],
        leftover: Callable[[list[str]], Exception],
        ignore: tuple[str, ...] = (),
    ) -> None:
        self.state, self.out = state, dict[str, Any]()
        self.left = {k for k in state if not (ignore and k.endswith(ignore))}
        self._missing, self._leftover = missing, leftover

    def take(self, key: str) -> Any:
        """The source tensor ``key``, marked as used.

        Args:
            key: a source key.

        Returns:
            The tensor.

        Raises:
            Exception: the ``missing`` error when the source has no such key.
        """
        if key not in self.state:
            raise self._missing(key)
        self.left.discard(key)
        return self.state[key]

    def has(self, key: str) -> bool:
        """Whether the source has ``key``."""
        return key in self.state

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in the output."""
        self.out[key] = value

    def move(self, src: str, dst: str, fn: Callable | None = None) -> None:
        """Take ``src``, optionally transform it with ``fn``, and store it as ``dst``."""
        value = self.take(src)
        self.out[dst] = fn(value) if fn is not None else value

    def finish(self) -> dict[str, Any]:
        """The output dict, once every source key was used.

        Returns:
            The converted state dict.

        Raises:
            Exception: the ``leftover`` error naming the source keys nothing consumed.
        """
        if self.left:
            raise self._leftover(sorted(self.left))
        return self.out


# ---------------------------------------------------------------------------------------------------- rules


def _transpose(w: Any, to: Direction) -> Any:
    return w.T.contiguous()


def _batch1(w: Any, to: Direction) -> Any:  # clipzoo keeps a leading batch dimension of 1
    return w.unsqueeze(0) if to == "clipzoo" else w.reshape(w.shape[-2:])


def _vector1(w: Any, to: Direction) -> Any:  # foreign shape (1,); the loader adapts clipzoo's side
    return w if to == "clipzoo" else w.reshape(1)


def _scalar(w: Any, to: Direction) -> Any:  # foreign shape (); the loader adapts clipzoo's side
    return w if to == "clipzoo" else w.reshape(())


def _grid(w: Any, to: Direction) -> Any:  # foreign (N, D); clipzoo (NaFlexVit) (1, side, side, D)
    if to == "foreign":
        return w.reshape(-1, w.shape[-1])
    side = math.isqrt(w.shape[0])
    return w.reshape(1, side, side, w.shape[-1])


def _inverse_log(w: Any, to: Direction) -> Any:  # foreign: a temperature t, shape (); clipzoo: log(1 / t)
    import torch

    return -torch.log(w) if to == "clipzoo" else torch.exp(-w).reshape(())


VALUE_MAPS: dict[str, Callable[[Any, Direction], Any] | None] = {
    "same": None,
    "transpose": _transpose,
    "batch1": _batch1,
    "vector1": _vector1,
    "scalar": _scalar,
    "grid": _grid,
    "inverse_log": _inverse_log,
}


@dataclass(frozen=True)
class Param:
    """One tensor (or, with ``pair``, its ``.weight`` and ``.bias``) under its foreign and its clipzoo name."""

    foreign: str
    clipzoo: str
    value: str = "same"  # a key of VALUE_MAPS
    pair: bool = False
    optional: bool = False  # skipped when the source side lacks it


@dataclass(frozen=True)
class Packed:
    """Tensors concatenated along dim 0 on one side and separate on the other, "{}" standing for weight/bias.

    ``ratio`` gives the sizes of the separate side's pieces relative to each other (q, k, v: 1, 1, 1).
    """

    foreign: tuple[str, ...]
    clipzoo: tuple[str, ...]
    ratio: tuple[int, ...]
    optional: bool = False


@dataclass(frozen=True)
class Blocks:
    """Every transformer block under ``foreign``/``clipzoo`` prefixes, parameter names from two role tables."""

    foreign: str
    clipzoo: str
    foreign_block: dict[str, Any]  # role -> name; "qkv" -> a tuple of three names (q, k, v) with "{}"
    clipzoo_block: dict[str, str]


Rule = Param | Packed | Blocks


def _side(rule: Any, to: Direction) -> tuple[Any, Any]:
    """(source names, destination names) of a rule for a direction."""
    return (rule.foreign, rule.clipzoo) if to == "clipzoo" else (rule.clipzoo, rule.foreign)


def _expand_blocks(rule: Blocks, m: KeyMapper, to: Direction) -> list[Rule]:
    src_prefix = rule.foreign if to == "clipzoo" else rule.clipzoo
    out: list[Rule] = []
    for i in range(count_layers(m.state, src_prefix)):
        f, c = f"{rule.foreign}{i}.", f"{rule.clipzoo}{i}."
        for role in ("ln1", "ln2", "fc1", "fc2", "out"):
            out.append(Param(f + rule.foreign_block[role], c + rule.clipzoo_block[role], pair=True))
        foreign_qkv = rule.foreign_block["qkv"]
        out.append(Packed(tuple(f + n for n in foreign_qkv), (c + rule.clipzoo_block["qkv"],), (1, 1, 1)))
    return out


def _apply_packed(rule: Packed, m: KeyMapper, to: Direction) -> None:
    import torch

    src, dst = _side(rule, to)
    if rule.optional and not m.has(src[0].format("weight")):
        return
    for p in ("weight", "bias"):
        values = [m.take(name.format(p)) for name in src]
        if len(src) > 1:  # separate -> packed
            m.put(dst[0].format(p), torch.cat(values, dim=0))
            continue
        unit, rest = divmod(values[0].shape[0], sum(rule.ratio))
        if rest:
            raise ValueError(f"{src[0].format(p)}: {values[0].shape[0]} rows do not split as {rule.ratio}")
        start = 0
        for name, r in zip(dst, rule.ratio, strict=True):
            m.put(name.format(p), values[0][start : start + unit * r])
            start += unit * r


def apply_rules(m: KeyMapper, rules: Iterable[Rule], to: Direction) -> None:
    """Move every tensor named by ``rules`` from ``m``'s source to its output, in direction ``to``."""
    for rule in rules:
        if isinstance(rule, Blocks):
            apply_rules(m, _expand_blocks(rule, m, to), to)
        elif isinstance(rule, Packed):
            _apply_packed(rule, m, to)
        else:
            src, dst = _side(rule, to)
            fn = VALUE_MAPS[rule.value]
            for suffix in (".weight", ".bias") if rule.pair else ("",):
                if rule.optional and not m.has(src + suffix):
                    continue
                m.move(src + suffix, dst + suffix, None if fn is None else (lambda w, fn=fn: fn(w, to)))


def convert_by_rules(
    state: dict[str, Any],
    rules: Sequence[Rule],
    to: Direction,
    missing: Callable[[str], Exception],
    leftover: Callable[[list[str]], Exception],
    ignore: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Convert a whole state dict with ``rules``; every source key (but ``ignore``) must be used once.

    Args:
        state: the source state dict.
        rules: the format's table.
        to: ``"clipzoo"`` to import the foreign layout, ``"foreign"`` to export clipzoo's.
        missing: builds the error for a key the table names and the source lacks.
        leftover: builds the error for source keys the table does not name.
        ignore: key suffixes the source may have without a place in the table.

    Returns:
        The converted state dict.

    Raises:
        Exception: what ``missing`` or ``leftover`` build.
    """
    m = KeyMapper(state, missing, leftover, ignore)
    apply_rules(m, rules, to)
    return m.finish()

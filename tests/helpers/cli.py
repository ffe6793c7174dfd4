"""Reading what the command line printed."""

from __future__ import annotations


def one_line(err: str) -> str:
    """The single line of ``err`` (fails the test when there are more or none)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]

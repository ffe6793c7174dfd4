"""Running the command line in this process and reading what it printed."""

from __future__ import annotations


def one_line(err: str) -> str:
    """The single line of ``err`` (fails the test when there are more or none)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """``clipzoo ARGV`` in this process: (status, stdout, stderr)."""
    from clipzoo.cli import main

    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def cache_report(*argv: str, capsys) -> dict:
    """``clipzoo cache ARGV --json`` in this process (status 0): its report."""
    import json

    from clipzoo.cli import main

    capsys.readouterr()
    assert main(["cache", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)

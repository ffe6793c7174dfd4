"""`clipzoo search` on the command line: the ranked table, status 2 for a folder that is no corpus."""

from __future__ import annotations

import re

import pytest

from clipzoo.cli import main


@pytest.mark.slow
def test_cli_search_prints_rank_score_path(readme_corpus, capsys):
    folder, _ = readme_corpus
    assert main(["search", str(folder / "digits-emb"), "a photo of the digit three", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "query: a photo of the digit three" and len(lines) == 4
    assert re.fullmatch(r"\s+1  0\.\d{4}  .*digits/\d{3}_\d\.png", lines[1])


def test_cli_search_of_a_folder_without_manifest_is_status_2(tmp_path, capsys):
    assert main(["search", str(tmp_path), "a cat"]) == 2
    assert "holds no clipzoo_embed.json" in capsys.readouterr().err

"""`clipzoo export`: the clipzoo folder format and the transformers format from the command line; an unknown tag
or an architecture transformers cannot hold is status 2 and nothing is written."""

from __future__ import annotations

import json

from tests.helpers.checkpoints import tiny_clip_checkpoint


def test_cli_export(tmp_path, tiny_checkpoint, capsys):
    _, path = tiny_checkpoint
    from clipzoo.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["export", "tiny-vit", str(path), "--to", str(tmp_path / "cli")])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str((tmp_path / "cli").resolve())
    from clipzoo.cli import main

    assert main(["export", "tiny-vit", "no-such-tag", "--to", str(tmp_path / "bad")]) == 2
    assert "no-such-tag" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_cli_export_transformers(tmp_path, tiny_configs, capsys):
    from clipzoo.cli import main

    _, weights = tiny_clip_checkpoint(tmp_path)
    target = tmp_path / "hf"
    assert main(["export", "tiny-vit", str(weights), "--format", "transformers", "--to", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target.resolve())
    assert json.loads((target / "config.json").read_text())["model_type"] == "clip"
    assert main(["export", "tiny-vit", str(weights), "--format", "transformers", "--to", str(target)]) != 0
    capsys.readouterr()
    assert (
        main(["export", "RN50", "--random-weights", "--format", "transformers", "--to", str(tmp_path / "rn")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ModifiedResNet" in err and not (tmp_path / "rn").exists()

"""`clipzoo cache`: it reports the staging copies killed runs left in the caches and clears them (--clear), never
a live writer's."""

from __future__ import annotations

from clipzoo.cli import main
from tests.helpers.cli import cache_report


def test_cache_reports_and_clears_stale_copies_in_the_caches(tmp_path, monkeypatch, capsys):
    from filelock import FileLock

    cache, hub = tmp_path / "cache", tmp_path / "hub"
    blobs = hub / "models--org--repo" / "blobs"
    blobs.mkdir(parents=True)
    cache.mkdir()
    monkeypatch.setenv("CLIPZOO_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    dead = cache / ".w.bin.tmp-abcd1234.part"
    dead.write_bytes(b"x" * 1000)
    old = blobs / ".f00.old-k1ll3d_x"
    (old / "previous").mkdir(parents=True)
    (old / "previous" / "data").write_bytes(b"y" * 10)
    live = cache / ".busy.tmp-live1234.part"
    live.write_bytes(b"z")
    with FileLock(cache / ".busy.lock"):  # a live writer
        report = cache_report(capsys=capsys)
        assert report["caches"] == [str(cache), str(hub)]
        assert sorted(s["path"] for s in report["stale"]) == sorted([str(dead), str(old)])
        assert report["bytes"] == 1010
        report = cache_report("--clear", capsys=capsys)
        assert report["removed"] and report["bytes"] == 1010
        assert live.exists() and not dead.exists()
    assert (blobs / "f00" / "data").read_bytes() == b"y" * 10  # the interrupted replacement rolled back
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "1 staging copies left by killed runs, 0.0 MB (clear them with `clipzoo cache --clear`)"
    )

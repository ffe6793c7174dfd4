"""clipzoo.files: what overwrite may replace (one rule, every command), and the staging copies killed writers
leave behind. The rule and the sweep as `clipzoo export` meets them are tested in test_cli_export.py, `clipzoo
cache` in test_cli_cache.py."""

from __future__ import annotations

import pytest

from clipzoo.files import UnsafeTargetError, check_replaceable, remove_stale_staging, stale_staging


def test_home_folder_and_links_are_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(UnsafeTargetError, match=r"it is your home folder"):
        check_replaceable(home, ["m.json"])
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "m.json").write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafeTargetError, match=r"link is a symbolic link \(to .*real\); name a folder, not a link"):
        check_replaceable(tmp_path / "link", ["m.json"])


def test_a_folder_with_the_callers_manifest_is_replaceable(tmp_path):
    target = tmp_path / "parts"
    assert check_replaceable(target, ["corpus.json"], overwrite=False) == target  # missing: written
    target.mkdir()
    assert check_replaceable(target, ["corpus.json"], overwrite=False) == target  # empty: written
    (target / "part-0.npy").write_bytes(b"x")
    with pytest.raises(UnsafeTargetError, match="holds no corpus.json"):
        check_replaceable(target, ["corpus.json"])
    (target / "corpus.json").write_text("{}")
    with pytest.raises(UnsafeTargetError, match=r"already exists \(written by clipzoo\); pass --overwrite to"):
        check_replaceable(target, ["corpus.json"], overwrite=False, flag="--overwrite")
    assert check_replaceable(target, ["other.json", "corpus.json"]) == target


def test_unlocked_record_writes_are_never_taken_for_staging(tmp_path):
    from clipzoo.files import write_file_atomically

    write_file_atomically(tmp_path / "stamp", b"{}")
    (tmp_path / ".stamp.write-abcd1234.part").write_bytes(b"in flight")  # another process's, mid-write
    assert stale_staging(tmp_path) == [] and remove_stale_staging(tmp_path) == []

"""open_clip 3.3.0's own test suite, unmodified, run against clipzoo through the alias.

``make octests-env`` builds ``.venv-octests`` (open_clip 3.3.0 with its [training] extra, clipzoo editable; pinned
in tests/envs/octests-requirements.txt), fetches the ``tests/`` of open_clip's sdist from PyPI into
``.cache/open_clip-3.3.0/`` (nothing of it is copied into this repository) and records which of them pass on open_clip
itself (:mod:`tests.helpers.octests`; the regression tests' reference outputs are generated there by open_clip's own
``util_test.py``, as open_clip's CI does against its previous release). Each test file then runs offline with
``clipzoo run -m pytest`` (``import open_clip`` served by clipzoo). Every test that passes on open_clip must pass on
clipzoo, but those in :data:`KNOWN_GAPS` (each with its reason; the test fails once one of them passes, so the list
only shrinks). Tests that need the network fail on both here and prove nothing; ``test_training_simple`` trains
full-size models for minutes on a CPU and is left out (:data:`tests.helpers.octests.LEFT_OUT`); the files in
:data:`tests.helpers.octests.IMPORT_ONLY` call no open_clip code (checked here), so on clipzoo they are only imported.
"""

from __future__ import annotations

import pytest

from tests.helpers import octests

# open_clip tests that pass on open_clip and not (yet) on clipzoo -> why.
KNOWN_GAPS: dict[str, str] = {}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not octests.available(),
        reason="open_clip's test suite or its environment is absent: `make octests-env` (make test does) "
        "fetches and builds them",
    ),
]


@pytest.fixture(scope="module")
def on_open_clip(tmp_path_factory) -> dict[str, list[str]]:
    """Per file, the tests that pass on open_clip itself (recorded once per environment)."""
    return octests.open_clip_passed(tmp_path_factory.mktemp("open_clip"))


def test_the_suite_passes_on_open_clip(on_open_clip):
    counts = {name: len(ids) for name, ids in on_open_clip.items()}
    print(
        f"\nopen_clip 3.3.0's tests passing on open_clip: {counts}; left out: {', '.join(octests.LEFT_OUT)}"
    )
    assert set(on_open_clip) == set(octests.FILES)
    assert sum(counts.values()) >= 20, "too few tests pass on open_clip itself: the harness is broken"
    assert all(gap.split("::")[0] in octests.FILES for gap in KNOWN_GAPS)


def test_import_only_files_call_no_open_clip_code():
    for name in octests.IMPORT_ONLY:
        assert name in octests.FILES
        reached = octests.open_clip_calls(name)
        assert not reached, (
            f"{name} now reaches open_clip through {reached}: run it on clipzoo (drop it from IMPORT_ONLY)"
        )


def test_open_clips_own_tests_pass_on_clipzoo(on_open_clip, tmp_path):
    # a file that no test passes on with open_clip proves nothing
    run = tuple(name for name in octests.FILES if on_open_clip[name])
    deselect = tuple(test for name in octests.IMPORT_ONLY for test in on_open_clip[name])
    expected = {test for name in run for test in on_open_clip[name]} - set(deselect)
    on_clipzoo = octests.run_files(tmp_path, run, through_clipzoo=True, deselect=deselect)
    print(
        f"\n{', '.join(run)}: {len(expected)} pass on open_clip, {len(expected & on_clipzoo)} of them on clipzoo; "
        f"imported only: {', '.join(octests.IMPORT_ONLY)}"
    )
    missing = sorted(expected - on_clipzoo - set(KNOWN_GAPS))
    assert not missing, f"pass on open_clip, fail on clipzoo: {missing}"
    closed = sorted(set(KNOWN_GAPS) & on_clipzoo)
    assert not closed, f"now passing on clipzoo: drop them from KNOWN_GAPS: {closed}"

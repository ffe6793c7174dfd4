"""clipzoo.embed on the Ray engine (a local Ray with 2 CPUs, started once): the same output as the local engine."""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pyarrow.parquet as pq
import pytest

import clipzoo
from clipzoo.errors import InputError
from tests.helpers.corpus import MODEL, digit_folder, digit_shard

pytestmark = pytest.mark.ray
RUN = {**MODEL, "part_size": 8, "batch_size": 4, "workers": 1, "progress": False}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    from clipzoo.corpus.ray_engine import LOCAL_START_ATTEMPTS

    for attempt in range(
        LOCAL_START_ATTEMPTS
    ):  # Ray waits a fixed 30 s for its raylet: a loaded machine can miss it
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            break
        except Exception:
            ray.shutdown()
            if attempt + 1 == LOCAL_START_ATTEMPTS:
                raise
    yield ray
    ray.shutdown()


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _files(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_ray_writes_what_the_local_engine_writes(local_ray, tmp_path):
    digit_shard(tmp_path / "00000.tar", 6)
    folder = digit_folder(tmp_path / "imgs", 5, captions=True)  # captions beside the images, and broken files
    sources = [tmp_path / "00000.tar", folder]
    local = clipzoo.embed(sources, out=tmp_path / "local", **RUN)
    ray = clipzoo.embed(sources, out=tmp_path / "ray", engine="ray", **RUN)
    assert (ray.embedded, ray.failed, ray.parts) == (local.embedded, local.failed, local.parts) == (11, 4, 2)
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    for name in _files(tmp_path / "local"):
        if name.endswith(".npy"):  # the same batches through the same path: the same numbers
            np.testing.assert_array_equal(
                np.load(tmp_path / "ray" / name), np.load(tmp_path / "local" / name)
            )
        elif name.endswith(".parquet"):
            assert pq.read_table(tmp_path / "ray" / name).equals(pq.read_table(tmp_path / "local" / name))


def test_ray_engine_without_ray_is_refused_before_any_work(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(InputError, match=r"clipzoo\[ray\]"):
        clipzoo.embed(tmp_path, out=tmp_path / "out", engine="ray", **RUN)
    assert not (tmp_path / "out").exists()


def test_an_actor_without_the_drivers_encoder_builds_the_same_one(tmp_path):
    # on a cluster of several machines the actors build their encoder from the request (on one machine they take
    # the driver's from the object store, which the test above runs through): the same model, the same numbers
    pytest.importorskip("ray")
    from clipzoo.corpus.chunks import preprocess_chunk
    from clipzoo.corpus.encoder import EncoderRequest, build_encoder
    from clipzoo.corpus.ray_engine import EncodeActor

    request = EncoderRequest(MODEL["model"], MODEL["pretrained"])
    driver = build_encoder(request)
    folder = digit_folder(tmp_path / "imgs", 3, broken=False)
    specs = [(i, str(p), None, None) for i, p in enumerate(sorted(folder.iterdir()))]
    pixels, ok, _ = preprocess_chunk(driver.preprocess_cfg, specs)
    batch = {"i": [0], "captions": ['{"0": "a", "1": "b", "2": "c"}'], "pixels": [_npy_bytes(pixels)], "ok": [str(ok)]}
    out = EncodeActor(request, with_text=True, threads=None)(batch)
    np.testing.assert_array_equal(np.load(io.BytesIO(out["image"][0])), driver.encode_images(pixels))
    np.testing.assert_array_equal(np.load(io.BytesIO(out["text"][0])), driver.encode_texts(["a", "b", "c"]))

"""Published results, profiles and ranking against open_clip 3.3.0's own tables (tests/data/open_clip-3.3.0/).

The CSV files there are open_clip's docs/ files, unchanged: every published value must come back exactly, and
every computed profile number must agree with open_clip's profile within 2%.
"""

from __future__ import annotations

import csv
import fnmatch
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import clipzoo
from clipzoo.registry import results
from clipzoo.registry import tags as pretrained

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "open_clip-3.3.0"
RESULT_FILES = (
    "openclip_results.csv",
    "openclip_classification_results.csv",
    "openclip_retrieval_results.csv",
)
NOT_METRICS = {"name", "pretrained", "params (M)", "FLOPs (B)"}
PROFILE_FIELDS = {
    "mparams": "params_m",
    "image_mparams": "image_params_m",
    "text_mparams": "text_params_m",
    "gflops": "gflops",
    "image_gflops": "image_gflops",
    "text_gflops": "text_gflops",
}


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metric_of(file: str, column: str) -> str:
    """The metric id whose source is this file's column (a column shared by two files has one id)."""
    table = clipzoo.list_metrics()
    exact = [m for m, e in table.items() if e["column"] == column and e["file"] == file]
    shared = [m for m, e in table.items() if e["column"] == column]
    found = exact or shared
    assert len(found) == 1, (file, column, found)
    return found[0]


# ----- results -----


@pytest.mark.parametrize("file", RESULT_FILES)
def test_every_published_value_round_trips_exactly(file):
    rows = _rows(file)
    assert len(rows) == 121
    checked = 0
    for row in rows:
        got = clipzoo.get_pretrained_results(row["name"], row["pretrained"])
        for column, cell in row.items():
            if column not in NOT_METRICS:
                assert got[_metric_of(file, column)] == float(cell), (row["name"], row["pretrained"], column)
                checked += 1
    assert checked == 121 * (len(rows[0]) - len(NOT_METRICS))


def test_all_121_rows_are_registry_pairs_and_metric_ids_follow_clip_benchmark():
    pairs = {(r["name"], r["pretrained"]) for r in _rows("openclip_results.csv")}
    assert len(pairs) == 121
    assert all(pretrained.is_pretrained_cfg(m, t) for m, t in pairs)
    metrics = clipzoo.list_metrics()
    assert len(metrics) == 60
    for name in (
        "imagenet1k",
        "imagenetv2",
        "imagenet-a",
        "imagenet-r",
        "imagenet_sketch",
        "objectnet",
        "cars",
    ):
        assert metrics[name]["clip_benchmark"] == name
    assert metrics["caltech101"]["clip_benchmark"] == "vtab/caltech101"
    assert metrics["average"]["column"] == "Average perf. on 38 datasets"
    assert metrics["flickr30k/image_retrieval_recall@5"]["column"] == "Flickr image retr. R@5"
    assert metrics["mscoco_captions/text_retrieval_recall@10"]["column"] == "MSCOCO text retr. R@10"
    with_results = [(m, t) for m, t in pretrained.list_pretrained() if clipzoo.get_pretrained_results(m, t)]
    assert len(with_results) == 121 + 6  # the 6 inherited OpenAI -quickgelu twins


def test_spot_values_and_meaning_of_the_retrieval_summaries():
    got = clipzoo.get_pretrained_results("ViT-B-32", "laion2b_s34b_b79k")
    assert got["imagenet1k"] == 0.6656
    assert got["flickr30k"] == pytest.approx(
        (got["flickr30k/image_retrieval_recall@1"] + got["flickr30k/text_retrieval_recall@1"]) / 2, abs=1e-4
    )
    assert got["winogavil"] == got["winogavil/jaccard_score_10-12"]


def test_tags_are_normalized_and_unknown_names_raise_typed_errors():
    canonical = clipzoo.get_pretrained_results("ViT-B-32", "laion2b_s34b_b79k")
    assert clipzoo.get_pretrained_results("ViT-B-32", "LAION2B-S34B-B79K") == canonical
    canonical["imagenet1k"] = 0.0  # a copy: the stored row does not change
    assert clipzoo.get_pretrained_results("ViT-B-32", "laion2b_s34b_b79k")["imagenet1k"] == 0.6656
    with pytest.raises(clipzoo.UnknownModelError, match="ViT-B-32"):
        clipzoo.get_pretrained_results("ViT-B-33", "openai")
    with pytest.raises(clipzoo.UnknownTagError, match="laion2b_s34b_b79k"):
        clipzoo.get_pretrained_results("ViT-B-32", "laion2b_s34b")


def test_pairs_without_published_results_give_an_empty_dict():
    published = {(r["name"], r["pretrained"]) for r in _rows("openclip_results.csv")}
    unpublished = [(m, t) for m, t in pretrained.list_pretrained() if (m, t) not in published]
    assert ("MobileCLIP2-S0", "dfndr2b") in unpublished
    assert clipzoo.get_pretrained_results("MobileCLIP2-S0", "dfndr2b") == {}
    assert clipzoo.get_pretrained_results("ViT-B-16-quickgelu", "dfn2b") == {}  # not OpenAI: no inheritance


def test_quickgelu_twins_of_openai_weights_inherit_their_rows():
    twins = [(m, t) for m, t in pretrained.list_pretrained() if m.endswith("-quickgelu") and t == "openai"]
    assert len(twins) == 9
    for model, tag in twins:
        base = clipzoo.get_pretrained_results(model.removesuffix("-quickgelu"), tag)
        assert base and clipzoo.get_pretrained_results(model, tag) == base, model


def test_build_script_reproduces_the_committed_data():
    built = _script("build_results").build(DATA)
    assert built == json.loads((ROOT / "src" / "clipzoo" / "registry" / "pretrained_results.json").read_text())


def test_build_script_refuses_rows_that_are_not_registry_pairs(tmp_path):
    for name in (*RESULT_FILES, "model_profile.csv"):
        text = (DATA / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("ViT-B-32,laion2b_s34b_b79k", "ViT-B-32,laion9b"))
    with pytest.raises(SystemExit, match="laion9b"):
        _script("build_results").build(tmp_path)


# ----- profiles -----


def test_every_architecture_has_a_profile():
    for model in clipzoo.list_models():
        profile = clipzoo.get_model_profile(model)
        assert profile.params_m > 0 and profile.gflops > 0, model
        assert profile.image_gflops + profile.text_gflops <= profile.gflops * 1.001, model
        assert set(profile.source) == set(PROFILE_FIELDS.values())


def test_85_published_profiles_agree_within_2_percent():
    rows = _rows("model_profile.csv")
    assert len(rows) == 85
    compared = 0
    for row in rows:
        profile = clipzoo.get_model_profile(row["model"])
        assert profile.published == {k: float(row[k]) for k in PROFILE_FIELDS}  # carried over exactly
        assert profile.image_size == (int(row["image_size"]),) * 2
        for key, field in PROFILE_FIELDS.items():
            if profile.source[field] == "computed":
                assert getattr(profile, field) == pytest.approx(float(row[key]), rel=0.02), (
                    row["model"],
                    key,
                )
                compared += 1
    # every number of the 75 architectures clipzoo builds offline, and the image tower of the 10 HF-text ones
    assert compared == 75 * 6 + 10 * 2


def test_hf_text_architectures_say_which_numbers_are_published():
    profile = clipzoo.get_model_profile("nllb-clip-base")
    assert profile.source["image_gflops"] == profile.source["image_params_m"] == "computed"
    assert {profile.source[f] for f in ("text_params_m", "text_gflops", "params_m", "gflops")} == {
        "published"
    }
    assert "facebook/nllb-200-distilled-600M" in profile.note
    assert profile.to_dict()["image_size"] == [224, 224]


def test_profile_errors(tiny_configs):
    with pytest.raises(clipzoo.UnknownModelError, match="did you mean"):
        clipzoo.get_model_profile("ViT-B-33")
    with pytest.raises(clipzoo.ProfileNotFoundError, match="tiny-vit"):
        clipzoo.get_model_profile("tiny-vit")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["RN50", "ViT-S-32", "coca_ViT-B-32"])
def test_profile_script_reproduces_the_stored_entry(name):
    computed = _script("profile_models").profile(name)
    assert computed == {k: v for k, v in results.stored_profiles()[name].items() if k != "published"}


def test_summary_counts_come_from_the_profile_data():
    from clipzoo.factory import summary

    stored = summary._stored_counts()
    assert stored["ViT-B-32"] == clipzoo.get_model_profile("ViT-B-32").params
    assert "nllb-clip-base" not in stored  # only the image tower was counted: not a whole-model count


# ----- ranking -----


def test_rank_orders_filters_and_counts():
    ranking = clipzoo.rank_pretrained("imagenet1k")
    pairs = pretrained.list_pretrained()
    assert len(ranking) + ranking.missing == len(pairs) and ranking.filtered == 0
    assert ranking.missing == len(
        [p for p in pairs if "imagenet1k" not in clipzoo.get_pretrained_results(*p)]
    )
    values = [r.value for r in ranking]
    assert values == sorted(values, reverse=True)
    best = ranking[0]
    assert (best.model, best.tag, best.value) == ("ViT-H-14-378-quickgelu", "dfn5b", 0.8437)
    assert best.gflops == clipzoo.get_model_profile(best.model).gflops

    cheap = clipzoo.rank_pretrained(max_gflops=20, max_params=200, top=5)
    assert len(cheap) == 5 and cheap.missing == ranking.missing
    assert all(r.gflops <= 20 and r.params_m <= 200 for r in cheap)
    everything_cheap = [r for r in ranking if r.gflops <= 20 and r.params_m <= 200]
    assert list(cheap) == everything_cheap[:5]
    assert cheap.filtered == len(ranking) - len(everything_cheap)


def test_rank_pattern_and_other_metrics():
    vit_l = clipzoo.rank_pretrained("average", pattern="vit-l-14*")
    assert vit_l and all(fnmatch.fnmatch(r.model, "ViT-L-14*") for r in vit_l)
    openai = clipzoo.rank_pretrained("flickr30k/image_retrieval_recall@5", pattern="*:openai")
    openai_pairs = [p for p in pretrained.list_pretrained() if p[1] == "openai"]
    assert {r.tag for r in openai} == {"openai"} and len(openai) == len(openai_pairs) == 18  # 9 + 9 twins
    assert openai[0].to_dict()["metric"] == "flickr30k/image_retrieval_recall@5"


def test_unknown_metric_lists_close_matches():
    with pytest.raises(clipzoo.UnknownMetricError, match="imagenet1k"):
        clipzoo.rank_pretrained("imagenet")
    with pytest.raises(ValueError, match="max_gflops"):
        clipzoo.rank_pretrained(max_gflops=-1)


def test_family_table():
    expected = {
        "ViT-B-32": "ViT",
        "RN50x4": "ResNet",
        "convnext_base_w": "ConvNeXt",
        "EVA02-L-14": "EVA",
        "ViT-SO400M-14-SigLIP": "SigLIP",
        "ViT-B-16-SigLIP2": "SigLIP 2",
        "coca_ViT-L-14": "CoCa",
        "xlm-roberta-base-ViT-B-32": "multilingual text (HF)",
        "MobileCLIP2-S0": "MobileCLIP",
    }
    assert {m: clipzoo.model_family(m) for m in expected} == expected


def test_registry_answers_without_torch():
    code = (
        "import sys, time, json\n"
        "start = time.perf_counter()\n"
        "import clipzoo\n"
        "r = clipzoo.rank_pretrained('imagenet1k', max_gflops=20, top=5)\n"
        "clipzoo.get_model_profile('ViT-B-32'); clipzoo.get_pretrained_results('ViT-B-32', 'openai')\n"
        "from clipzoo.cli import main\n"
        "main(['pretrained', '--sort', 'imagenet1k', '--max-gflops', '20', '--top', '5'])\n"
        "main(['info', 'ViT-B-32', 'openai'])\n"
        "elapsed = time.perf_counter() - start\n"
        "heavy = [m for m in ('torch', 'numpy', 'PIL', 'matplotlib', 'timm') if m in sys.modules]\n"
        "print(json.dumps({'elapsed': elapsed, 'heavy': heavy, 'n': len(r)}), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["heavy"] == [] and report["n"] == 5
    # no timing assertion (a loaded machine makes it flaky): scripts/bench_import.py measures the time

"""CAT tables (cat-t2, t4, t5, fig7) through papermill at the smoke profile, via the CLI;
t6/t7 wait for their data."""

import json
import pytest
from defect_nb.core import read_result
from defect_nb.runner import load_jobs
from defect_nb.data import have_dataset as have
from conftest import needs, cli, ROOT

METRICS = {"image_auroc", "pixel_auroc", "pro", "ap_det", "ap_loc"}


def _figure_mtimes():
    return {f.name: f.stat().st_mtime_ns for f in (ROOT / "figures").glob("*.png")}


def _entry(out, tid):
    r = read_result(tid, "smoke", out)
    assert r is not None, f"no registry entry for {tid}"
    assert r["id"] == tid and r["rows"] and r["seeds"] == [54]
    for row in r["rows"]:
        assert row["metrics"], row
        for k, v in row["metrics"].items():
            if k in METRICS or k in ("iou", "dice", "fp_rate_normal"):
                assert 0 <= v <= 1, (tid, row["method"], k, v)
    for f in r["figures"]:
        assert (out / "smoke" / "figures" / f).exists(), f
    assert "MTD" in json.dumps(r["datasets"])
    return r


@needs("mtd")
def test_cat_ablations_comparison_fig7_smoke(tmp_path):
    (
        "t2, then t4 and fig7 (which reuse t2's cached Full model); one CLI call, all through papermill. "
        "(t1 is t2's\n    protocol with the other five configurations; "
        "it is left out to keep the family's smoke time low.)"
    )
    figs = _figure_mtimes()
    p = cli("reproduce", "cat-t2", "cat-t4", "cat-fig7", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    t2 = _entry(tmp_path, "cat-t2")
    assert [r["method"] for r in t2["rows"]][0].startswith("Full") and len(t2["rows"]) == 5
    assert set(t2["rows"][0]["metrics"]) == METRICS
    assert [r["config"] for r in t2["rows"]] == ["ABCD", "BCD", "ACD", "ABD", "ABC"]
    t4 = _entry(tmp_path, "cat-t4")
    methods = [r["method"] for r in t4["rows"]]
    assert (
        methods[0].startswith("CAT")
        and any("PatchCore" in m for m in methods)
        and any("DeepLab" in m for m in methods)
    )
    ssn = [r for r in t4["rows"] if r["method"].startswith("SuperSimpleNet")]  # run here through anomalib
    assert len(ssn) == 1 and set(ssn[0]["metrics"]) == METRICS, ssn  # every metric defined, each in [0, 1]
    assert ssn[0]["differs_from_paper"] and 0 <= ssn[0]["head_image_auroc"] <= 1
    assert "SuperSimpleNet" not in t4["not_built"] and set(t4["not_built_why"]) == set(t4["not_built"])
    # every row is paired seed by seed: one value per seed of the entry (`seed_rows.merge_seed_rows`)
    assert all(len(v) == len(t4["seeds"]) for r in t4["rows"] for v in r["per_seed"].values())
    f7 = _entry(tmp_path, "cat-fig7")
    assert len(f7["rows"]) == 6 and any(r["method"].startswith("replicate") for r in f7["rows"])
    # a row's name does not carry the threshold chosen on the data (it differs per seed); the row does
    assert "zero padding + percentile 99.5 of normal pixels" in [r["method"] for r in f7["rows"]]
    assert all("threshold_value" in r for r in f7["rows"])
    # smoke figures go under the temporary results root, never into the project's figures/ (compared by name,
    # as other sessions may legitimately write other figures there at the same time)
    from defect_nb.runner import figure_dir

    assert figure_dir("smoke", tmp_path).is_relative_to(tmp_path)
    for tid in ("cat-t2", "cat-t4", "cat-fig7"):
        for f in read_result(tid, "smoke", tmp_path)["figures"]:
            p_ = ROOT / "figures" / f
            assert not p_.exists() or p_.stat().st_mtime_ns == figs.get(f), f"smoke run wrote {p_}"


@needs("mtd", "sd-saliency-900", "elpv")
def test_cat_t5_cross_domain_smoke(tmp_path):
    p = cli("reproduce", "cat-t5", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = _entry(tmp_path, "cat-t5")
    elpv = [x for x in r["rows"] if "ELPV" in x["method"]]
    sd = [x for x in r["rows"] if "SD-saliency-900" in x["method"]]
    assert elpv and sd and "image_auroc" in elpv[0]["metrics"] and "pixel_auroc" in sd[0]["metrics"]
    assert "image_auroc" not in sd[0]["metrics"], "all SD-900 pictures are defective: no image AUROC"
    # the entry names the sets it scores: the cross-domain ones, not MTD's test split (which cat-t2 scores)
    test_description = r["datasets"]["test"]
    assert "ELPV" in test_description and "SD-saliency-900" in test_description
    assert "Blowhole" not in test_description, test_description
    # no threshold is set here: the calibration pictures only make the Full model's validation curve
    calibration_description = r["datasets"]["calibration"]
    assert "validation curve" in calibration_description and "(thresholds)" not in calibration_description


def test_cat_t6_t7_declare_their_datasets():
    "t6/t7 wait for KolektorSDD1 / RSDD through the jobs file's needs; every table has its own notebook."
    jobs = load_jobs()
    assert set(jobs["cat-t6"].needs) == {"ksdd", "mtd"} and set(jobs["cat-t7"].needs) == {"mtd", "rsdd"}
    for tid in ("cat-t1", "cat-t2", "cat-t4", "cat-t5", "cat-t6", "cat-t7", "cat-fig7"):
        assert jobs[tid].notebook == f"paper/{tid.replace('-', '_')}.ipynb"
        assert (ROOT / "nbs" / jobs[tid].notebook).exists()


@pytest.mark.skipif(have("ksdd") and have("rsdd"), reason="both present: nothing to check")
def test_cat_t6_t7_fail_clearly_without_data(tmp_path):
    tid = "cat-t6" if not have("ksdd") else "cat-t7"
    p = cli("reproduce", tid, "--profile", "smoke", "--out", str(tmp_path))
    assert read_result(tid, "smoke", tmp_path) is None
    assert p.returncode != 0 or "waiting" in p.stdout.lower()


@needs("mtd")
def test_cat_classes_and_test_set_parameters(tmp_path):
    "cat-t1 on MTD's Crack class, tested on an MVTec-layout folder: the entry names both; a bad class fails"
    from defect_nb.own_anomaly import example_dataset

    folder = example_dataset(tmp_path / "mine", n_train=4, n_test=2)
    out = tmp_path / "out"
    p = cli(
        "reproduce", "cat-t1", "--profile", "smoke", "--out", str(out),
        "-p", 'classes=["Crack"]', "-p", f"test_set={str(folder)!r}",
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = read_result("cat-t1", "smoke", out)
    assert str(folder) in r["datasets"]["test"] and "'scratch': 2" in r["datasets"]["test"], r["datasets"]
    assert "Crack" in r["datasets"]["labelled"] and "Blowhole" not in r["datasets"]["labelled"]
    assert "n_train, a count" in r["datasets"]["train"] and r["protocol"]["n_train"] == 16
    assert len(r["rows"]) == 5 and all(row["metrics"] for row in r["rows"])
    bad_out = tmp_path / "bad"
    no_such_class = 'classes=["NoSuchClass"]'
    bad = cli("reproduce", "cat-t1", "--profile", "smoke", "--out", str(bad_out), "-p", no_such_class)
    assert bad.returncode != 0 and read_result("cat-t1", "smoke", bad_out) is None
    assert "it holds" in bad.stdout + bad.stderr, bad.stdout[-2000:] + bad.stderr[-2000:]

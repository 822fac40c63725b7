"""The table notebooks through papermill at the smoke profile, via the CLI, into a temporary results root."""

import json
from operator import itemgetter

from defect_nb.core import read_result
from defect_nb.runner import provenance_of
from conftest import needs, cli, ROOT


def _figure_mtimes():
    return {f.name: f.stat().st_mtime_ns for f in (ROOT / "figures").glob("*.png")}


def _check_entry(out, tid, before_figs, paper_rows=True):
    r = read_result(tid, "smoke", out)
    assert r is not None, f"no registry entry for {tid}"
    assert r["id"] == tid and r["profile"] == "smoke" and r["rows"] and r["seeds"]
    assert "paper" in r and (r["paper"]["rows"] or not paper_rows), "the paper's numbers are attached"
    for row in r["rows"]:
        assert 0 <= row["metrics"]["accuracy"] <= 1 and row["metrics"]["params"] > 0
    assert (out / "smoke" / "executed" / f"{tid}.ipynb").exists(), "the executed notebook is kept"
    for f in r["figures"]:
        assert (out / "smoke" / "figures" / f).exists()
    assert _figure_mtimes() == before_figs, "a smoke run must not touch the project's real figures"
    return r


@needs("neu-cls", "mtd")
def test_reproduce_csrl_t2_smoke(tmp_path):
    figs = _figure_mtimes()
    p = cli("reproduce", "csrl-t2", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = _check_entry(tmp_path, "csrl-t2", figs)
    assert "neu-cls" in r["datasets"]["fine-tune and test"]
    assert r["datasets"]["pretraining pool"]["composition"].keys() >= {"neu-cls", "mtd", "elpv"}
    assert "csrl-t2 at profile smoke" in p.stdout  # the result table is printed


def test_reproduce_elpv_smoke_then_resume(tmp_path):
    figs = _figure_mtimes()
    p = cli("reproduce", "csrl-elpv", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = _check_entry(tmp_path, "csrl-elpv", figs)
    assert {"binary_accuracy", "binary_balanced_accuracy"} <= set(r["rows"][0]["metrics"])
    methods = [row["method"] for row in r["rows"]]
    assert {"convnet (SimCLR)", "convnet (from scratch)"} <= set(methods), "both arms, with the same seeds"
    assert r["paired"]["convnet: SimCLR - from scratch"]["seeds"] == r["seeds"]
    assert r["protocol"]["class_weighted_loss"] and r["protocol"]["finetune_augmentation"] == "dihedral"
    assert "csrl-elpv_probe.png" in r["figures"]
    before = (tmp_path / "smoke" / "csrl-elpv.json").read_text()
    p = cli("reproduce", "csrl-elpv", "--profile", "smoke", "--out", str(tmp_path), "--resume")
    assert p.returncode == 0 and "skipped" in p.stdout
    assert (tmp_path / "smoke" / "csrl-elpv.json").read_text() == before


def test_img_size_parameter_sets_every_encoders_side(tmp_path):
    # `-p img_size=N` overrides the profile's side for every encoder (ResNet-50's smaller cpu side included),
    # and `-p run_cache=None` turns the run cache off rather than naming a folder "None"
    p = cli(
        "reproduce",
        "csrl-elpv",
        "--profile",
        "smoke",
        "--out",
        str(tmp_path),
        "-p",
        "img_size=40",
        "-p",
        'encoders=["convnet","resnet50"]',
        "-p",
        "run_cache=None",
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = read_result("csrl-elpv", "smoke", tmp_path)
    assert r["protocol"]["img_size"] == 40 and r["protocol"]["encoder_img_size"] == {}
    assert {(run["encoder"], run["img_size"]) for run in r["runs"]} == {("convnet", 40), ("resnet50", 40)}
    assert not (ROOT / "nbs" / "paper" / "None").exists() and not list(tmp_path.rglob("None"))


def test_failing_table_is_reported_and_writes_nothing(tmp_path):
    p = cli(
        "reproduce", "csrl-elpv", "--profile", "smoke", "--out", str(tmp_path), "-p", "dataset=no-such-set"
    )
    assert p.returncode == 1
    assert "failed" in p.stdout and "no-such-set" in p.stdout
    assert read_result("csrl-elpv", "smoke", tmp_path) is None
    assert (tmp_path / "smoke" / "executed" / "csrl-elpv.ipynb").exists()


@needs("neu-cls", "mtd")
def test_reproduce_csrl_t3_t4_smoke(tmp_path):
    (
        "Table 3 (same encoder from scratch, no pool) and Table 4 (NNCLR with a support queue) from the same "
        "notebook."
    )
    figs = _figure_mtimes()
    p = cli("reproduce", "csrl-t3", "csrl-t4", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    t3 = _check_entry(tmp_path, "csrl-t3", figs, paper_rows=False)
    t4 = _check_entry(tmp_path, "csrl-t4", figs)
    assert (
        t3["rows"][0]["method"] == "convnet (from scratch)"
        and t3["datasets"]["pretraining pool"]["n_images"] == 0
    )
    assert "probe_acc" not in t3["rows"][0]["metrics"]
    assert t4["rows"][0]["method"] == "convnet (NNCLR)" and t4["protocol"]["queue_size_asked"] == 10000
    n_pool = t4["datasets"]["pretraining pool"]["n_images"]
    assert n_pool > 0 and t4["protocol"]["queue_size"] == min(10000, n_pool)  # never more than the pool
    assert {"ssl_ms_per_step", "finetune_ms_per_step"} <= set(t4["rows"][0]["metrics"])
    assert "ssl_ms_per_step" not in t3["rows"][0]["metrics"]  # from scratch: only the fine-tuning step
    # the figures drawn from these entries name each source entry's commit and provenance
    p = cli("reproduce", "csrl-fig9-15", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    sources = read_result("csrl-fig9-15", "smoke", tmp_path)["datasets"]["runs"]
    state = provenance_of(t3)
    assert sources["convnet from scratch"] == f"csrl-t3 (smoke) entry of {t3['git_sha'][:12]}, {state}"


@needs("neu-cls", "mtd")
def test_reproduce_csrl_t5_and_figures_smoke(tmp_path):
    (
        "Table 5 (supervised models, EfficientNet-Lite0 the only ImageNet row) and Figures 9-15 (runs made "
        "when no entry)."
    )
    figs = _figure_mtimes()
    p = cli("reproduce", "csrl-t5", "csrl-fig9-15", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    t5 = _check_entry(tmp_path, "csrl-t5", figs)
    methods = [r["method"] for r in t5["rows"]]
    assert len(methods) == 7 and all("from scratch" in m for m in methods if "EfficientNet" not in m)
    assert "EfficientNet-Lite0 (ImageNet)" in methods
    f = read_result("csrl-fig9-15", "smoke", tmp_path)
    assert all((tmp_path / "smoke" / "figures" / n).exists() for n in f["figures"])
    numbered = sorted(int(n.split("_fig")[1].split("_")[0]) for n in f["figures"] if "_fig" in n)
    assert numbered == list(range(9, 16)), "one file per paper figure, named by the paper's number"
    assert {r["method"] for r in f["rows"]} >= {"convnet SimCLR", "skip-convnet NNCLR"}
    assert all(0 <= r["metrics"]["auc_macro"] <= 1 for r in f["rows"] if "auc_macro" in r["metrics"])
    skip = next(r for r in f["rows"] if r["method"] == "skip-convnet NNCLR")
    assert 0 <= skip["metrics"]["auc_inclusion"] <= 1  # the paper's per-class AUC, beside the macro AUC
    assert f["paper"]["rows"][0]["metrics"] == {"auc_inclusion": 0.97}


@needs("neu-cls", "mtd")
def test_csrl_t2_entry_from_runs_read_back_from_the_run_cache(tmp_path):
    # at cpu the probe runs every third epoch, so a kept run's probe curve holds None (JSON has no NaN)
    # between probes; smoke probes once, so one kept value is set to None here, as such a record has it
    cache = tmp_path / "cache"
    args = ["reproduce", "csrl-t2", "--profile", "smoke", "-p", f"run_cache={cache}"]
    p = cli(*args, "--out", str(tmp_path / "out1"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    kept_files = sorted(cache.glob("*.json"))
    first = read_result("csrl-t2", "smoke", tmp_path / "out1")
    assert kept_files and len(kept_files) == len(first["runs"]) and not first["runs_from_cache"]
    kept = json.loads(kept_files[0].read_text())
    kept["pretrain"]["probe_acc"][0] = None
    kept_files[0].write_text(json.dumps(kept))
    p = cli(*args, "--out", str(tmp_path / "out2"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    second = read_result("csrl-t2", "smoke", tmp_path / "out2")
    assert second["runs_from_cache"] == len(second["runs"]) == len(first["runs"])
    records = [{k: v for k, v in json.loads(f.read_text()).items() if k != "metrics"} for f in kept_files]
    key = itemgetter("encoder", "method", "seed")
    assert sorted(second["runs"], key=key) == sorted(records, key=key), "each run's record is its kept one"
    assert [row["metrics"] for row in second["rows"]] == [row["metrics"] for row in first["rows"]]

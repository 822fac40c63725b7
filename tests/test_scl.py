"""scl (self-contrastive + ArcFace) NEU tables through papermill at the smoke profile, via the CLI."""

from defect_nb.core import read_result
from conftest import needs, cli, ROOT, run_twice_with_run_cache


def _figure_mtimes():
    (
        "The project's scl figures (other families' runs may write their own figures concurrently on a "
        "shared checkout)."
    )
    return {f.name: f.stat().st_mtime_ns for f in (ROOT / "figures").glob("scl-*.png")}


def _entry(out, tid):
    r = read_result(tid, "smoke", out)
    assert r is not None, f"no registry entry for {tid}"
    assert r["id"] == tid and r["profile"] == "smoke" and r["rows"] and r["seeds"]
    assert r["paper"]["rows"], "the paper's numbers are attached"
    assert "neu-cls" in r["datasets"]["train and test"]
    for row in r["rows"]:
        assert 0 <= row["metrics"]["accuracy"] <= 1
    assert (out / "smoke" / "executed" / f"{tid}.ipynb").exists()
    for f in r["figures"]:
        assert (out / "smoke" / "figures" / f).exists()
    return r


@needs("neu-cls")
def test_reproduce_scl_neu_smoke(tmp_path):
    figs = _figure_mtimes()
    p = cli("reproduce", "scl-t2", "scl-t3", "scl-t4", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    t2, t3, t4 = (_entry(tmp_path, t) for t in ("scl-t2", "scl-t3", "scl-t4"))
    bb = "EfficientNet-Lite0 (ImageNet init.)"  # every row names the backbone it used
    m2 = [r["method"] for r in t2["rows"]]
    for f in (60, 70, 80):
        assert f"Proposed ({f} %), {bb}" in m2
    assert len(m2) == 3, "the paper's and the cited numbers live in the paper section, not in rows"
    paper = {r["method"]: r["metrics"]["accuracy"] for r in t2["paper"]["rows"]}
    cited = (paper["Siamese (80 %)"], paper["CASI-Net (70 %)"], paper["SSL (60 %)"])
    assert cited == (0.9255, 0.9598, 0.9956)
    m3 = [r["method"] for r in t3["rows"]]
    for k in (10, 20, 50):
        for name in ("Backbone", "Cross-entropy without extra views", "Proposed", "Untrained features"):
            assert f"{name} ({k}/class), {bb}" in m3
    assert all(len(r["per_run"]) == r["metrics"]["runs"] for r in t3["rows"])
    assert len({b["epochs"] for b in t3["protocol"]["budget_per_size"].values()}) == 1  # same epochs per size
    for t in (t2, t3, t4):
        assert t["protocol"]["embedding"]["primary"] == "projection"  # fixed in the registry
    m4 = [r["method"] for r in t4["rows"]]
    for k in (1, 3, 5):
        for name in ("Proposed", "Proposed, backbone features h (secondary)", "Untrained features"):
            assert f"{name} {k}-shot, {bb}" in m4
    assert all(r["metrics"]["episodes"] >= 100 and r["metrics"]["accuracy_ci95"] >= 0 for r in t4["rows"])
    assert t4["protocol"]["novel_classes"] == ["crazing", "scratches", "pitted_surface"]
    assert _figure_mtimes() == figs, "a smoke run must not touch the project's real figures"


@needs("neu-cls")
def test_scl_t4_resumes_run_by_run_from_its_run_cache(tmp_path):
    "A second execution reads every run back from the run cache (`run_cache.RunCache`): the same rows."
    first, second = run_twice_with_run_cache("scl-t4", tmp_path, _entry)
    assert first["runs_from_cache"] == 0 and second["runs_from_cache"] == len(second["seeds"])
    assert second["rows"] == first["rows"]
    assert second["wall_s"] > second["wall_s_this_run"]  # the kept runs' own time is counted
    assert second["protocol"]["budget_per_size"] == first["protocol"]["budget_per_size"]
    assert len(list((tmp_path / "cache").glob("scl-t4-*.json"))) == len(first["seeds"])


@needs("neu-cls")
def test_scl_t3_reads_its_runs_back_beside_a_fresh_row(tmp_path):
    "scl-t3 keeps each (size, seed, arm) run; the untrained-features row, computed afresh, is equal too."
    first, second = run_twice_with_run_cache("scl-t3", tmp_path, _entry)
    n_runs = 3 * len(first["protocol"]["budget_per_size"]) * len(first["seeds"])  # arms x sizes x seeds
    assert (first["runs_from_cache"], second["runs_from_cache"]) == (0, n_runs)
    assert second["rows"] == first["rows"]
    assert second["runs_deterministic"] == [True]

"""scl wafer tables (scl-t5, scl-t6) and Grad-CAM figures (scl-fig2, scl-fig3)
through papermill at the smoke profile."""

import numpy as np
from defect_nb.core import read_result
from defect_nb.wafer import GROUPS, WAFER_CLASSES, class_group, paper_label
from conftest import needs, cli, ROOT, run_twice_with_run_cache


def _figure_mtimes():
    "mtimes of this family's figures in the project (others' runs may write theirs meanwhile)."
    return {
        f.name: f.stat().st_mtime_ns
        for pat in ("scl-t5_*.png", "scl-t6_*.png", "scl-fig2_*.png", "scl-fig3_*.png")
        for f in (ROOT / "figures").glob(pat)
    }


def _entry(out, tid):
    r = read_result(tid, "smoke", out)
    assert r is not None, f"no registry entry for {tid}"
    assert r["id"] == tid and r["profile"] == "smoke" and r["rows"] and r["seeds"] and r["figures"]
    for f in r["figures"]:
        assert (out / "smoke" / "figures" / f).exists(), f
    assert (out / "smoke" / "executed" / f"{tid}.ipynb").exists()
    return r


def test_scl_wafer_tables_and_fig3_smoke(tmp_path):
    figs = _figure_mtimes()
    p = cli("reproduce", "scl-t5", "scl-t6", "scl-fig3", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert _figure_mtimes() == figs, "a smoke run must not touch the project's real figures"

    t5 = _entry(tmp_path, "scl-t5")
    synthetic = "substitute" in t5["datasets"]
    tag = "synthetic wafer maps" if synthetic else "MixedWM38"
    assert all(tag in r["method"] for r in t5["rows"]), "every method names the data it ran on"
    per = {r["method"].split(": ", 1)[1]: r["metrics"]["accuracy"] for r in t5["rows"]}
    assert all(paper_label(k) in per for k in range(38)), "one row per class"
    for g, name in (
        ("single", "Avg (1 defect classes)"),
        ("2-mix", "Avg (2 defect classes)"),
        ("4-mix", "Avg (4 defect classes)"),
    ):
        ks = [k for k, p_ in enumerate(WAFER_CLASSES) if class_group(p_) == g]
        assert np.isclose(per[name], np.mean([per[paper_label(k)] for k in ks])), (
            name
        )  # group = mean over its classes
    assert np.isclose(per["Avg (all 38 classes)"], np.mean([per[paper_label(k)] for k in range(38)]))
    assert {"DC-Net: C10 (C+EL)", "WSCN: Avg (all 38 classes)", "Proposed: C38 (D+L+ER+S)"} <= {
        r["method"] for r in t5["paper"]["rows"]
    }
    assert "scl-t5_samples.png" in t5["figures"] and "scl-t5_per_class.png" in t5["figures"]

    t6 = _entry(tmp_path, "scl-t6")
    ms = [r["method"] for r in t6["rows"]]
    bb = "Skip-ConvNet, from scratch"  # the wafer tables' low-stride backbone, named in every row
    assert ms == [f"{m} ({k}/class, {tag}, {bb})" for k in (2, 4) for m in ("Backbone", "Proposed")]
    assert len({b["epochs"] for b in t6["protocol"]["budget_per_size"].values()}) == 1  # same epochs per size
    assert all(
        0 <= r["metrics"]["accuracy"] <= 1
        and r["metrics"]["n_train"] == 38 * int(r["method"].split("(")[1].split("/")[0])
        for r in t6["rows"]
    )
    assert len(t6["paper"]["rows"]) == 6

    f3 = _entry(tmp_path, "scl-fig3")
    assert f3["figures"][0] == "scl-fig3_gradcam.png"
    assert min(f3["protocol"]["cam_cells"]) > 4, "a heat map of more than 4x4 cells"
    cam_rows = [r for r in f3["rows"] if "Grad-CAM" in r["method"]]
    assert [r["method"].rsplit(" on ", 1)[1] for r in cam_rows] == [f"{g} maps" for g in GROUPS[1:]]
    for r in cam_rows:
        assert 0 <= r["metrics"]["cam_in_defect"] <= 1 and 0 < r["metrics"]["defect_area"] < 1
    assert len(f3["shown"]) == 8 and {s["image"].split(":")[0] for s in f3["shown"]} == set(GROUPS[1:])


@needs("neu-cls")
def test_scl_fig2_smoke(tmp_path):
    figs = _figure_mtimes()
    p = cli("reproduce", "scl-fig2", "--profile", "smoke", "--out", str(tmp_path))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert _figure_mtimes() == figs
    r = _entry(tmp_path, "scl-fig2")
    assert [x["method"].split(" (")[0] for x in r["rows"]] == ["Backbone", "Proposed"]
    assert all(0 <= x["metrics"]["accuracy"] <= 1 and x["metrics"]["n_train"] == 60 for x in r["rows"])
    assert "neu-cls" in r["datasets"]["train and test"]
    assert (
        sorted(s["true"] for s in r["shown"]) == sorted({s["true"] for s in r["shown"]})
        and len(r["shown"]) == 6
    )


def test_scl_t6_resumes_run_by_run_from_its_run_cache(tmp_path):
    "scl-t6 keeps each (size, seed, arm) run: a second execution reads them all back, same rows."
    first, second = run_twice_with_run_cache("scl-t6", tmp_path, _entry)
    n_runs = 2 * len(first["protocol"]["budget_per_size"]) * len(first["seeds"])  # arms x sizes x seeds
    assert (first["runs_from_cache"], second["runs_from_cache"]) == (0, n_runs)
    assert second["rows"] == first["rows"]
    assert second["protocol"]["budget_per_size"] == first["protocol"]["budget_per_size"]

"""scl (self-contrastive + ArcFace) NEU tables through papermill at the smoke profile, via the CLI."""

from defect_nb.core import read_result
from conftest import needs, cli, ROOT


def _figure_mtimes():
    "The project's scl figures (other families' runs may write their own figures concurrently on a shared checkout)."
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
    m2 = [r["method"] for r in t2["rows"]]
    for f in (60, 70, 80):
        assert f"Proposed ({f} %)" in m2
    cited = [r for r in t2["rows"] if "cited" in r["method"]]
    assert {r["method"].split(" [")[0] for r in cited} == {"Siamese (80 %)", "CASI-Net (70 %)", "SSL (60 %)"}
    assert all(r["source"].startswith("cited") for r in cited)  # cited numbers are marked as not ours
    assert {r["metrics"]["accuracy"] for r in cited} == {0.9255, 0.9598, 0.9956}
    m3 = [r["method"] for r in t3["rows"]]
    for k in (10, 20, 50):
        assert f"Backbone ({k}/class)" in m3 and f"Proposed ({k}/class)" in m3
    assert all("accuracy_std" in r["metrics"] for r in t3["rows"])
    m4 = [r["method"] for r in t4["rows"]]
    for k in (1, 3, 5):
        assert f"Proposed {k}-shot" in m4
    assert all(r["metrics"]["episodes"] >= 100 and r["metrics"]["accuracy_ci95"] >= 0 for r in t4["rows"])
    assert t4["protocol"]["novel_classes"] == ["crazing", "scratches", "pitted_surface"]
    assert _figure_mtimes() == figs, "a smoke run must not touch the project's real figures"

"""cat-t3 / cat-fig3 / cat-fig6 (synthetic defects) through papermill at the smoke profile, via the CLI."""

import math
from defect_nb.core import read_result
from defect_nb.synth import GENERATORS
from conftest import needs, cli, ROOT


def _figure_mtimes():
    "Our ids' figures in the project's figures/ (other families may write theirs while this test runs)."
    return {
        f.name: f.stat().st_mtime_ns
        for f in (ROOT / "figures").glob("cat-*.png")
        if f.name.startswith(("cat-t3_", "cat-fig3_", "cat-fig6_"))
    }


def _entry(out, tid, before):
    r = read_result(tid, "smoke", out)
    assert r is not None, f"no registry entry for {tid}"
    assert r["id"] == tid and r["profile"] == "smoke" and r["rows"] and r["seeds"] and r["figures"]
    for f in r["figures"]:
        assert (out / "smoke" / "figures" / f).exists(), f
    assert (out / "smoke" / "executed" / f"{tid}.ipynb").exists()
    assert _figure_mtimes() == before, "a smoke run must not touch the project's real figures"
    return r


@needs("mtd", "sd-saliency-900", "neu-cls")
def test_reproduce_cat_synth_smoke(tmp_path):
    before = _figure_mtimes()
    p = cli("reproduce", "cat-t3", "cat-fig3", "cat-fig6", "--profile", "smoke", "--out", str(tmp_path))
    log = "\n".join(l for l in (p.stdout + p.stderr).splitlines() if "Executing" not in l)
    assert p.returncode == 0, log[-4000:]
    t3 = _entry(tmp_path, "cat-t3", before)
    methods = [r["method"] for r in t3["rows"]]
    assert methods == ["none (inpainted host)", *GENERATORS], methods
    for r in t3["rows"]:
        m = r["metrics"]
        assert -1 <= m["ssim"] <= 1 and 0 < m["psnr_db"] < 100 and math.isfinite(m["ssim_std"])
        assert {"ssim_mtd", "ssim_sd900", "psnr_db_mtd", "psnr_db_sd900"} <= m.keys()
    assert {r["method"] for r in t3["paper"]["rows"]} <= set(GENERATORS), "paper rows use the generator names"
    assert {"mtd", "sd-saliency-900"} <= t3["datasets"].keys()
    f3 = _entry(tmp_path, "cat-fig3", before)
    m = f3["rows"][0]["metrics"]
    assert 64 <= m["n_vertices"] <= 128 and m["R_px"] / 10 - 1e-6 <= m["A_px"] <= m["R_px"] / 2 + 1e-6
    assert 0 <= m["bright_frac_of_region"] <= 1 / 16 and 0.01 <= m["point_prob"] <= 0.1
    f6 = _entry(tmp_path, "cat-fig6", before)
    assert [r["method"] for r in f6["rows"]] == list(GENERATORS)
    for r in f6["rows"]:
        for ds in ("neu-cls", "mtd", "elpv", "sd-saliency-900"):
            assert (
                0 < r["metrics"][f"mask_area_frac_{ds}"] < 1 and r["metrics"][f"mean_abs_change_{ds}"] > 0
            ), (r["method"], ds)

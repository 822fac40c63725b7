"""CLI papermill smoke of the agssp detection tables (agssp-t2, t3, t5, t6):
registry entries written and well-formed."""

import math
import json
from conftest import cli, needs

IDS = ("agssp-t2", "agssp-t3", "agssp-t5", "agssp-t6")


@needs("neu-det")
def test_agssp_detect_smoke(tmp_path):
    r = cli("reproduce", *IDS, "--profile", "smoke", "--out", str(tmp_path), timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    entries = {tid: json.loads((tmp_path / "smoke" / f"{tid}.json").read_text()) for tid in IDS}
    for tid, e in entries.items():
        assert e["id"] == tid and e["profile"] == "smoke" and e["rows"]
        for row in e["rows"]:
            m = row["metrics"]
            assert 0 <= m["map50"] <= 1 and 0 <= m["map50_95"] <= m["map50"] + 1e-9, row
        assert "pretraining pool" in e["datasets"] and e["datasets"]["pretraining pool"]["n_images"] > 0
    methods = [r["method"] for r in entries["agssp-t3"]["rows"]]
    assert any("scratch" in m for m in methods) and any("agssp" in m for m in methods), methods
    t2 = [r["method"] for r in entries["agssp-t2"]["rows"]]
    for mode in ("scratch", "ImageNet", "in-domain", "+AGBP", "+AGSSP"):
        assert any(mode in m for m in t2), (mode, t2)
    t5 = entries["agssp-t5"]["rows"]
    assert (
        len(t5) == 5
        and any("L2" in r["method"] for r in t5)
        and any("last stage only" in r["method"] for r in t5)
    )
    # t2 trains its models; t5's in-domain and default +AGBP rows and t6's +AGSSP rows are t2's (same keys)
    assert entries["agssp-t2"]["runs_from_cache"] == 0
    assert entries["agssp-t5"]["runs_from_cache"] == 2 * len(entries["agssp-t5"]["seeds"])
    t6_runs = len(entries["agssp-t6"]["rows"]) * len(entries["agssp-t6"]["seeds"])
    assert entries["agssp-t6"]["runs_from_cache"] == t6_runs
    assert entries["agssp-t6"]["wall_s"] > entries["agssp-t6"]["wall_s_this_run"]  # the kept runs' own time
    # pseudo boxes are described where a row pretrains the detector on them (+AGSSP), not in t5
    protocols = {tid: e["protocol"] for tid, e in entries.items()}
    assert "pseudo_boxes" in protocols["agssp-t2"] and "pseudo_boxes" in protocols["agssp-t6"]
    assert "pseudo_boxes" not in protocols["agssp-t5"] and "not run" in protocols["agssp-t5"]["dp"]
    t6 = entries["agssp-t6"]["rows"]
    for r in t6:
        assert (
            math.isfinite(r["metrics"]["fps"])
            and r["metrics"]["fps"] > 0
            and r["metrics"]["params_m"] > 0
            and r["metrics"]["peak_mem_mib"] > 0
        )

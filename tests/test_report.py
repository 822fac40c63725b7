"""The report, the README's generated blocks, `defect-nb tables` and the rendered tutorial site."""
import json, re
from pathlib import Path
import pytest
from defect_nb.report import (report, load_results, update_readme, readme_results, build_site, find_browser,
                              browser_check, table_cells)
from defect_nb.runner import TABLES, tables_md_ids
from conftest import cli, ROOT

RESULTS = ROOT/"results"

def test_readme_blocks_are_current():
    "The README's results and dataset blocks equal what the generators make from results/cpu and the readers."
    assert update_readme(ROOT/"README.md", check=True, out=RESULTS), \
        "README.md's generated blocks are stale: run `defect-nb readme` (or `make readme`)"
    text = (ROOT/"README.md").read_text()
    block = text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    assert block.strip() == readme_results("cpu", RESULTS).strip()
    assert "make main" in text and "make test" in text          # the two commands stay at the top
    assert text.index("make main") < text.index("<!-- results:start -->")

def test_report_of_the_cpu_registry(tmp_path):
    entries = load_results("cpu", RESULTS)
    if not entries: pytest.skip("no cpu results yet")
    md, page = report("cpu", RESULTS, tmp_path)
    md, page = md.read_text(), page.read_text()
    n_figs = 0
    for r in entries:
        assert f"## {r['id']}" in md and f"<section id='{r['id']}'>" in page
        for row in r["rows"]: assert row["method"] in md
        for p in r.get("paper", {}).get("rows", []): assert p["method"] in md, "every paper row is shown"
        for k, v in r["datasets"].items(): assert f"{k}: " in md
        n_figs += sum((ROOT/"figures"/f).exists() for f in r.get("figures", []))
    assert page.count("data:image/png;base64,") == n_figs, "figures are embedded in the HTML page"
    assert len(re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md)) == n_figs
    for link in re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md): assert (tmp_path/link).exists(), link

def test_ours_beside_the_paper():
    r = json.loads((RESULTS/"cpu"/"csrl-t2.json").read_text())
    h, body, flags = table_cells(r)
    acc = r["rows"][0]["metrics"]["accuracy"]
    assert body[0][h.index("accuracy (%)")].startswith(f"{100 * acc:.2f}") and "(paper 97.78)" in body[0][h.index("accuracy (%)")]
    ours = {re.sub(r"[^a-z0-9]", "", x["method"].lower()) for x in r["rows"]}
    unmatched = [f"paper: {p['method']}" for p in r["paper"]["rows"] if re.sub(r"[^a-z0-9]", "", p["method"].lower()) not in ours]
    assert [b[0] for b, f in zip(body, flags) if f] == unmatched, "paper rows without a row of ours are listed as such"
    _, _, flags1 = table_cells(dict(r, rows=r["rows"][:1]))            # only our first row (ConvNet): the others are paper-only
    assert sum(flags1) == len(r["paper"]["rows"]) - 1

def test_tables_lists_the_inventory(tmp_path):
    p = cli("tables", "--json", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert list(st)[:len(TABLES)] == list(TABLES)
    assert all(st[i]["cpu"] in ("missing", "not implemented") or st[i]["cpu"].startswith("waiting for dataset") for i in st)
    for i in tables_md_ids():
        assert i in st and (i in TABLES or st[i] == {"smoke": "not implemented", "cpu": "not implemented", "paper": "not implemented"})

def test_site_renders_notebooks_and_loads_in_a_browser(tmp_path):
    nbs = [ROOT/"nbs"/"00_core.ipynb", sorted((ROOT/"nbs"/"paper").glob("*.ipynb"))[0]]
    idx = build_site(tmp_path, notebooks=nbs, profiles=("cpu",), log=lambda *a: None)
    page = idx.read_text()
    for href in re.findall(r"href='([^'#]+)'", page): assert (tmp_path/href).exists(), href
    imgs = re.findall(r"<img src='([^']+)'", page)
    assert len(imgs) == len(list((ROOT/"figures").glob("*.png")))
    for f in imgs: assert (tmp_path/f).stat().st_size > 0
    assert "<h1" in (tmp_path/"nbs"/"00_core.html").read_text()
    browser = find_browser()
    if not browser: pytest.skip("no chromium / chromium-browser / google-chrome on PATH: the headless-browser check is skipped")
    loaded, total = browser_check(idx, browser)
    assert total == len(imgs) and loaded == total, (loaded, total)

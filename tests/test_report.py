"""The report, the README's generated blocks, `defect-nb tables` and the rendered tutorial site."""

import json
import re
import shutil
import nbformat
import pytest
from defect_nb.report import (
    report,
    load_results,
    update_readme,
    readme_results,
    readme_claims,
    build_site,
    render_notebook,
    find_browser,
    browser_check,
    page_status,
    strip_directives,
    skip_when_executing,
    table_cells,
    by_family,
    HEADLINES,
    fmt_value,
    is_run_here,
)
from defect_nb.runner import TABLES, tables_md_ids, provenance_of, figure_dir
from defect_nb.claims import ledger
from conftest import cli, ROOT

RESULTS = ROOT / "results"


def test_readme_blocks_are_current():
    "The README's results and dataset blocks equal what the generators make from results/cpu and the readers."
    assert update_readme(ROOT / "README.md", check=True, out=RESULTS), (
        "README.md's generated blocks are stale: run `defect-nb readme` (or `make readme`)"
    )
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    assert block.strip() == readme_results("cpu", RESULTS).strip()
    assert "make main" in text and "make test" in text  # the two commands stay at the top
    assert text.index("make main") < text.index("<!-- results:start -->")


def test_readme_claims_block_is_the_ledger():
    "The README's claims block is the ledger of the committed cpu entries (generated, never typed)."
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- claims:start -->")[1].split("<!-- claims:end -->")[0]
    assert block.strip() == readme_claims("cpu", RESULTS).strip(), "run `defect-nb readme`"
    for r in ledger("cpu", RESULTS):
        line = next(l for l in block.splitlines() if l.startswith(f"| {r.claim.id} |"))
        assert r.verdict_text in line.split(" | ")[-1], (r.claim.id, r.verdict_text)


def results_lines(family: str) -> list:
    "The body lines of `family`'s table in the README's results block, split into cells."
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    part = block.split(f"### {family}")[1].split("\n### ")[0]
    rows = [l for l in part.splitlines() if l.startswith("| ") and not l.startswith("| table |")]
    return [[c.strip() for c in l.strip("|").split(" | ")] for l in rows]


def norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def split_cell(cell: str) -> tuple:
    "(row name or '', number) of a headline cell `name: **number**` or `**number**`."
    name, _, value = cell.rpartition(": **") if ": **" in cell else ("", "", cell.strip("*"))
    return name, value.rstrip("*")


def test_readme_results_is_a_summary():
    "Per family one short table with a line per table id, in inventory order; no paper-only rows."
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    families = by_family(load_results("cpu", RESULTS))
    assert families, "no cpu results"
    for fam, entries in families.items():
        lines = results_lines(fam)
        assert [l[0].removesuffix(" †") for l in lines] == [e["id"] for e in entries]
        part = block.split(f"### {fam}")[1].split("\n### ")[0]
        assert len(part.strip().splitlines()) <= 25, f"the {fam} block does not fit on one screen"
    assert "| paper:" not in block and "|  |" not in block, "no per-row dumps"
    assert len(block.splitlines()) < 80


def test_every_committed_table_has_a_declared_headline():
    for e in load_results("cpu", RESULTS):
        h = HEADLINES.get(e["id"])
        assert h is not None, f"{e['id']}: declare its headline cell in HEADLINES (nbs/92_report.ipynb)"
        if provenance_of(e) != "done":
            continue  # a stale or dirty entry predates today's rows: the README says so in its "entry" column
        methods = [r["method"] for r in e["rows"]]
        assert h.row == "best" or h.row in methods, (e["id"], h.row)
        assert h.paper_row is None or h.paper_row in [p["method"] for p in e["paper"]["rows"]], e["id"]
        assert h.figure is None or h.figure in e.get("figures", []), (e["id"], h.figure)
        assert h.metric is None or any(h.metric in r["metrics"] for r in e["rows"]), (e["id"], h.metric)


def test_readme_headline_cells_are_ours_and_the_papers():
    "Our column holds a number of a row we ran; the paper column only a number of the paper's own rows."
    for fam, entries in by_family(load_results("cpu", RESULTS)).items():
        for e, line in zip(entries, results_lines(fam)):
            metric = HEADLINES[e["id"]].metric
            ours, paper = line[3], line[4]
            if metric is None:
                assert paper == "–"
                continue
            if ours == "–":
                assert provenance_of(e) != "done", f"{e['id']}: a current entry lacks its headline row"
                continue  # a stale entry from before the row was renamed: its "entry" cell says stale
            name, value = split_cell(ours)
            row = next(r for r in e["rows"] if r["method"] == name)
            assert is_run_here(row) and value.split(" ± ")[0] == fmt_value(metric, row["metrics"][metric])
            if paper == "–":
                continue
            pname, pvalue = split_cell(paper)
            same = lambda p: norm(p["method"]) == norm(pname or name)  # unnamed: the same method as ours
            prows = [p for p in e["paper"]["rows"] if metric in p["metrics"] and same(p)]
            assert pvalue in [fmt_value(metric, p["metrics"][metric]) for p in prows], (e["id"], paper)


def test_report_of_the_cpu_registry(tmp_path):
    entries = load_results("cpu", RESULTS)
    if not entries:
        pytest.skip("no cpu results yet")
    md, page = report("cpu", RESULTS, tmp_path)
    md, page = md.read_text(), page.read_text()
    n_figs = 0
    for r in entries:
        assert f"## {r['id']}" in md and f"<section id='{r['id']}'>" in page
        for row in r["rows"]:
            assert row["method"] in md
        for p in r.get("paper", {}).get("rows", []):
            assert p["method"] in md, "every paper row is shown"
        for k, v in r["datasets"].items():
            assert f"{k}: " in md
        n_figs += sum((ROOT / "figures" / f).exists() for f in r.get("figures", []))
    assert page.count("data:image/png;base64,") == n_figs, "figures are embedded in the HTML page"
    assert len(re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md)) == n_figs
    for link in re.findall(r"!\[[^\]]+\]\(([^)]+)\)", md):
        assert (tmp_path / link).exists(), link


def test_ours_beside_the_paper():
    r = json.loads((RESULTS / "cpu" / "csrl-t2.json").read_text())
    h, body, flags = table_cells(r)
    acc = r["rows"][0]["metrics"]["accuracy"]
    assert (
        body[0][h.index("accuracy (%)")].startswith(f"{100 * acc:.2f}")
        and "(paper 97.78)" in body[0][h.index("accuracy (%)")]
    )
    ours = {re.sub(r"[^a-z0-9]", "", x["method"].lower()) for x in r["rows"]}
    unmatched = [
        f"paper: {p['method']}"
        for p in r["paper"]["rows"]
        if re.sub(r"[^a-z0-9]", "", p["method"].lower()) not in ours
    ]
    assert [b[0] for b, f in zip(body, flags) if f] == unmatched, (
        "paper rows without a row of ours are listed as such"
    )
    _, _, flags1 = table_cells(
        dict(r, rows=r["rows"][:1])
    )  # only our first row (ConvNet): the others are paper-only
    assert sum(flags1) == len(r["paper"]["rows"]) - 1


def test_tables_lists_the_inventory(tmp_path):
    p = cli("tables", "--json", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert list(st)[: len(TABLES)] == list(TABLES)
    assert all(
        st[i]["cpu"] in ("missing", "not implemented") or st[i]["cpu"].startswith("waiting for dataset")
        for i in st
    )
    for i in tables_md_ids():
        assert i in st and (
            i in TABLES
            or st[i] == {"smoke": "not implemented", "cpu": "not implemented", "paper": "not implemented"}
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The whole site, built once: each component notebook executed (minutes), paper notebooks, the cpu report."
    dest = tmp_path_factory.mktemp("site")
    idx = build_site(dest, profiles=("cpu",), out=RESULTS, log=lambda *a: None)
    return dest, idx


def component_notebooks() -> list:
    return [p for p in sorted((ROOT / "nbs").glob("*.ipynb")) if not p.name.startswith("_")]


PROMPT_RE = re.compile(r'class="jp-InputPrompt[^"]*">\s*In(?:\xa0|&nbsp;)\[([^\]]*)\]:')


def input_prompts(page: str) -> list:
    "The `In [n]:` prompt of each code cell a page shows the source of: its count, or blank when not run."
    return [n.replace("&nbsp;", "\xa0").strip() for n in PROMPT_RE.findall(page)]


def removes_source(cell) -> bool:
    return cell.metadata.get("transient", {}).get("remove_source", False)


def test_input_prompts_tell_a_cell_not_run(tmp_path):
    "The prompt check of the site test sees an unexecuted cell in a page rendered as the site renders it."
    cells = [
        nbformat.v4.new_code_cell("x = 1", execution_count=1),
        nbformat.v4.new_code_cell("#| echo: false\ny = 2", execution_count=2),
        nbformat.v4.new_code_cell("z = 3"),
    ]
    page = render_notebook(nbformat.v4.new_notebook(cells=cells), tmp_path / "p.html").read_text()
    assert input_prompts(page) == ["1", ""]


def test_site_executes_every_component_notebook(site):
    dest, idx = site
    built = json.loads((dest / "build.json").read_text())
    assert sorted(built) == sorted(f"nbs/{p.stem}.html" for p in component_notebooks())
    assert not {rel: r["error"] for rel, r in built.items() if r["error"]}, "notebooks that failed to execute"
    for p in component_notebooks():
        page = (dest / "nbs" / f"{p.stem}.html").read_text()
        assert not re.search(r'class="c1">#\s*\|', page), f"{p.name}: an nbdev directive is shown"
        nb = nbformat.read(p, as_version=4)
        assert all(c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), (
            f"{p.name}: stored with execution counts, which could pass for a run: clean it (nbdev_clean)"
        )
        for c in nb.cells:
            c.metadata["skipped"] = c.cell_type == "code" and skip_when_executing(c)  # as nbdev_test skips
        shown = [c for c in strip_directives(nb).cells if c.cell_type == "code" and not removes_source(c)]
        counts = input_prompts(page)
        assert len(counts) == len(shown), (p.name, len(counts), len(shown))
        ran = [int(n) for c, n in zip(shown, counts) if not c.metadata["skipped"] and n.isdigit()]
        not_run = [
            c.source[:60] for c, n in zip(shown, counts) if not c.metadata["skipped"] and not n.isdigit()
        ]
        assert not not_run, f"{p.name}: code cells not run: {not_run}"
        assert ran == sorted(set(ran)), f"{p.name}: execution counts out of order: {ran}"
    for p in sorted((ROOT / "nbs" / "paper").glob("*.ipynb")):
        assert (dest / "paper" / f"{p.stem}.html").exists(), p.name


def test_site_index_links_and_figures(site):
    dest, idx = site
    page = idx.read_text()
    for href in re.findall(r"href='([^'#]+)'", page):
        assert (dest / href).exists(), href
    imgs = re.findall(r"<img src='([^']+)'", page)
    assert len(imgs) == len(list((ROOT / "figures").glob("*.png")))
    for f in imgs:
        assert (dest / f).stat().st_size > 0
    report_page = (dest / "report" / "cpu" / "report.html").read_text()
    thumbnails = re.findall(r"<a href='([^']+)'><img src='([^']+)'", report_page)
    assert thumbnails, "the cpu report shows no linked thumbnail"
    for a, img in thumbnails:
        assert a == img and (dest / "report" / "cpu" / a).exists(), a  # thumbnail -> the file, in the site
    assert "<h1" in (dest / "nbs" / "00_core.html").read_text()


def test_site_loads_no_script_from_outside(site):
    "No page names a script, stylesheet or module outside the site (the browser test checks what is fetched)."
    dest, _ = site
    absolute = r"[\"']?(?:[a-z]+:)?//"
    outside = re.compile(rf"<script[^>]*\ssrc={absolute}|<link[^>]*\shref={absolute}|import\({absolute}")
    for f in sorted(dest.rglob("*.html")):
        assert not outside.search(f.read_text()), f.relative_to(dest)


def test_executed_paper_notebook_without_progress_bars(tmp_path):
    "An executed paper notebook: tqdm bars as one line per epoch, no IProgress warning, figures inline."
    out = tmp_path / "results"
    ex = out / "smoke" / "executed"
    ex.mkdir(parents=True)
    cell = nbformat.v4.new_code_cell("run()", execution_count=1)
    warn = "/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.\n"
    bars = [f"\rfit: {i}0%|#  | {i}/9 [00:0{i}<00:09, 1it/s]" for i in range(10)]
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=warn + "  from .autonotebook import tqdm\n"),
        *[nbformat.v4.new_output("stream", name="stderr", text=b) for b in bars],
        nbformat.v4.new_output("stream", name="stderr", text="\r" + " " * 40),
        nbformat.v4.new_output("stream", name="stdout", text="fit epoch 9/9: loss 0.25 (9 s)\n"),
    ]
    saves = nbformat.v4.new_code_cell('fig.savefig(fig_dir / f"{TABLE_ID}_curve.png")', execution_count=2)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell, saves]), ex / "demo-t1.ipynb")
    entry = {
        "id": "demo-t1",
        "rows": [{"method": "m", "metrics": {"accuracy": 0.5}}],
        "figures": ["demo-t1_curve.png"],
    }
    (out / "smoke" / "demo-t1.json").write_text(json.dumps(entry))
    fig_dir = figure_dir("smoke", out)
    fig_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(sorted((ROOT / "figures").glob("*.png"))[0], fig_dir / "demo-t1_curve.png")
    build_site(tmp_path / "site", [], profiles=("smoke",), out=out, figures=False, log=lambda *a: None)
    page = (tmp_path / "site" / "executed" / "smoke" / "demo-t1.html").read_text()
    assert "fit epoch 9/9: loss 0.25 (9 s)" in page
    assert "IProgress" not in page and "it/s]" not in page
    assert "fit 1/9 [00:01]" in page and "fit 9/9 [00:09]" in page  # one line per epoch, not a bar
    saving_cell = page[page.index("_curve.png") :]
    assert "data:image/png;base64," in saving_cell  # the saved figure, under the cell that saved it


def test_site_shows_the_executed_notebooks_of_a_users_runs(tmp_path):
    "`build_site(runs=...)` (`site --run`): a folder of runs beside the registry, its notebooks listed too."
    runs = tmp_path / "runs"
    (runs / "smoke" / "executed").mkdir(parents=True)
    cell = nbformat.v4.new_code_cell("print('ran')", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran at smoke\n")]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), runs / "smoke" / "executed" / "demo-t2.ipynb")
    site = tmp_path / "site"
    idx = build_site(
        site,
        [],
        profiles=(),
        out=tmp_path / "empty",
        figures=False,
        log=lambda *a: None,
        runs=(("smoke", runs),),
    )
    assert "ran at smoke" in (site / "executed" / "smoke" / "demo-t2.html").read_text()
    assert "executed/smoke/demo-t2.html" in idx.read_text()


def test_site_in_a_browser(site):
    "In headless Chromium: formulas typeset, each component page shows a picture, nothing comes from outside."
    browser = find_browser()
    if not browser:
        pytest.skip(
            "no chromium / chromium-browser / google-chrome on PATH: the headless-browser check is skipped"
        )
    dest, idx = site
    inside = dest.resolve().as_uri() + "/"
    loaded, total = browser_check(idx, browser)
    assert total == len(list((ROOT / "figures").glob("*.png"))) and loaded == total, (loaded, total)
    for p in component_notebooks():
        page = dest / "nbs" / f"{p.stem}.html"
        s = page_status(page, browser)
        assert not [u for u in s["resources"] if not u.startswith(inside)], (p.name, s["resources"])
        assert s["images_total"] >= 1 and s["images_loaded"] == s["images_total"], (p.name, s)
        assert s["raw_math"] == 0, f"{p.name}: {s['raw_math']} markdown cells show raw LaTeX"
        cells = json.loads(p.read_text())["cells"]
        markdown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        if "$$" in markdown:
            assert s["math_rendered"] > 0, f"{p.name}: formulas not typeset"

"""The dry run of the paper profile (issue 22): `defect-nb reproduce --profile paper --dry-run`
end to end on a small subset of the real tables, at CI speed: the projection table and its fields, the
step cap in the kernel, the paper's sizes, nothing written under results/ (the harness: nbs/94_dryrun)."""

import json
import os
from pathlib import Path

from conftest import ROOT, cli, needs
from defect_nb.profiles import REGISTRY

# cheap at the paper profile on one CPU thread: cat-fig3 trains nothing (about 15 s); csrl-t5 with its one
# ImageNet-initialised model (EfficientNet-Lite0 at 200 px) has one capped fine-tuning stage (about a minute)
SUBSET = ["cat-fig3", "csrl-t5"]
ONE_MODEL = ["-p", 'models=["efficientnet-lite0"]']
FIELDS = (
    "status",
    "stages",
    "wall_s",
    "in_stages_s",
    "other_s",
    "projected_s",
    "seeds_full",
    "projected_all_seeds_s",
    "peak_rss_mib",
    "device",
    "precision",
    "dry_entry",
)


def snapshot(folder: Path) -> dict:
    "Every file under `folder` with its modification time (empty when the folder does not exist)."
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


# what a dry run must leave alone: the committed paper entries and figures (not all of results/, where a table
# someone runs meanwhile may write) and the real cache ($DEFECT_NB_CACHE; the dry run's kernels get their own)
COMMITTED = (ROOT / "results" / "paper", ROOT / "figures")


@needs("neu-cls")
def test_dry_run_projects_a_subset_of_tables(tmp_path):
    real_cache = tmp_path / "real-cache"  # the command's real cache: a folder of its own, nobody else writes
    (real_cache / "csrl-runs").mkdir(parents=True)
    (real_cache / "csrl-runs" / "trained.pt").write_text("a real run's model")
    untouched = (*COMMITTED, real_cache)
    before = [snapshot(folder) for folder in untouched]
    r = cli(
        "reproduce",
        *SUBSET,
        "--profile",
        "paper",
        "--dry-run",
        "--out",
        os.path.relpath(tmp_path, ROOT),  # relative, as often typed (the command runs in ROOT)
        *ONE_MODEL,
        env={"DEFECT_NB_THREADS": "1", "OMP_NUM_THREADS": "1", "DEFECT_NB_CACHE": str(real_cache)},
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for folder, files in zip(untouched, before):
        assert snapshot(folder) == files, f"a dry run wrote under {folder}"
    rows = json.loads((tmp_path / "dry-run" / "projection.json").read_text())
    assert [row["id"] for row in rows] == SUBSET
    for row in rows:
        assert set(FIELDS) <= set(row), set(FIELDS) - set(row)
        assert row["status"] == "done", row["error"]
        assert row["projected_s"] >= row["other_s"] > 0 and row["peak_rss_mib"] > 0
        entry = json.loads(Path(row["dry_entry"]).read_text())
        assert entry["dry_run"]["steps_per_stage"] == 2 and Path(row["dry_entry"]).is_relative_to(tmp_path)
        assert row["precision"] == sorted({s["precision"] for s in row["stages"]})  # what the stages used
        assert f"| {row['id']} | done |" in r.stdout
    fig3, t5 = rows
    assert (
        fig3["stages"] == [] and fig3["projected_s"] == fig3["wall_s"]
    )  # nothing trained: nothing projected
    budget = REGISTRY["csrl-t5"]["paper"]
    assert t5["seeds_full"] == len(budget.seeds) and t5["params"]["seeds"] == [budget.seeds[0]]
    (stage,) = t5["stages"]
    # the paper's budget, capped: 100 epochs of batch 32 at 200 px, two steps run
    assert stage["epochs"] == budget.epochs and stage["batch_size"] == REGISTRY["csrl"]["paper"].batch_size
    assert stage["run_steps"] == 2 and stage["full_steps"] == stage["epochs"] * stage["steps_per_epoch"]
    assert stage["projected_s"] > (stage["full_steps"] - 2) * stage["s_per_step"] > 0
    assert stage["s_per_step"] >= (stage["batch_s"] or 0.0) and stage["step_interval_s"] > 0
    assert t5["projected_all_seeds_s"][1] == len(budget.seeds) * t5["projected_s"]
    md = (tmp_path / "dry-run" / "projection.md").read_text()
    assert md.count("| done |") == 2 and (tmp_path / "dry-run" / "projection.csv").exists()
    # --resume keeps cat-fig3's measurement when it was made from a clean commit, else measures it again
    made_on = json.loads(Path(fig3["dry_entry"]).read_text())["git_sha"]  # read before it may be rewritten
    clean = not made_on.endswith("-dirty") and made_on != "unknown"
    again = cli(
        "reproduce",
        "cat-fig3",
        "--profile",
        "paper",
        "--dry-run",
        "--resume",
        "--out",
        str(tmp_path),
        env={"DEFECT_NB_THREADS": "1", "OMP_NUM_THREADS": "1", "DEFECT_NB_CACHE": str(real_cache)},
        timeout=600,
    )
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    expected = "kept (--resume)" if clean else ": measured again"
    assert expected in again.stdout, again.stdout[-4000:]


def test_dry_run_reports_a_missing_dataset_and_goes_on(tmp_path):
    r = cli(
        "reproduce",
        "scl-fig2",
        "--profile",
        "paper",
        "--dry-run",
        "--out",
        str(tmp_path / "out"),
        "--data-root",
        str(tmp_path / "empty"),
    )
    assert r.returncode == 0, r.stderr
    assert "scl-fig2: waiting: waiting for dataset neu-cls" in r.stdout
    assert "| scl-fig2 | waiting for dataset neu-cls |" in r.stdout


def test_dry_run_needs_the_paper_profile_and_stays_out_of_results(tmp_path):
    r = cli("reproduce", "cat-fig3", "--dry-run", "--out", str(tmp_path))
    assert r.returncode == 2 and "--dry-run measures the paper profile" in r.stderr
    r = cli("reproduce", "cat-fig3", "--profile", "paper", "--steps", "3")
    assert r.returncode == 2 and "add --dry-run" in r.stderr
    r = cli("reproduce", "cat-fig3", "--profile", "paper", "--dry-run", "--out", str(ROOT / "results"))
    assert r.returncode == 2 and "never writes the committed registry" in r.stderr
    own_cache = {"DEFECT_NB_CACHE": str(tmp_path)}  # the dry run's cache would lie inside the real one
    r = cli("reproduce", "cat-fig3", "--profile", "paper", "--dry-run", "--out", str(tmp_path), env=own_cache)
    assert r.returncode == 2 and "overlaps the real cache" in r.stderr, r.stderr
    assert not list(tmp_path.iterdir())

"""`defect-nb reproduce --publish --worktree`: entries made from HEAD while the checkout is being edited."""

import json
import os
import subprocess
import sys
from defect_nb.cli import RUN_CLI
from conftest import ROOT


def _git(*argv, cwd):
    return subprocess.run(["git", *argv], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_publish_from_a_worktree_while_the_tree_is_dirty(tmp_path):
    "A dirty tree refuses --publish; --worktree runs HEAD in a worktree and copies its entry back, clean."
    repo = tmp_path / "repo"
    _git("clone", "-q", str(ROOT), str(repo), cwd=tmp_path)
    head = _git("rev-parse", "HEAD", cwd=repo)
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "\nan uncommitted edit\n")
    env = {**os.environ, "PYTHONPATH": str(repo)}
    run = lambda *a: subprocess.run(
        [sys.executable, "-c", RUN_CLI, "reproduce", "scl-t5", "--profile", "smoke", "--publish", *a],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    refused = run()
    assert refused.returncode == 2 and "uncommitted changes" in refused.stderr, refused.stderr[-2000:]
    p = run("--worktree")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "running in a worktree of" in p.stdout and "copied into" in p.stdout
    entry = json.loads((repo / "results" / "smoke" / "scl-t5.json").read_text())
    assert entry["git_sha"] == head  # HEAD's commit, not -dirty: the edit never reached the run
    figures = repo / "results" / "smoke" / "figures"
    assert entry["figures"] and all((figures / f).is_file() for f in entry["figures"])
    assert (repo / "results" / "smoke" / "executed" / "scl-t5.ipynb").is_file()
    assert _git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1  # removed after the run
    assert "an uncommitted edit" in readme.read_text()


def test_publish_with_speed_tables_in_two_worktrees(tmp_path):
    "-j 2 with a speed table: each group in a worktree of its own, both entries copied back from HEAD."
    repo = tmp_path / "repo"
    _git("clone", "-q", str(ROOT), str(repo), cwd=tmp_path)
    head = _git("rev-parse", "HEAD", cwd=repo)
    argv = ["reproduce", "scl-t5", "agssp-speed", "--profile", "smoke", "--publish", "--worktree", "-j", "2"]
    p = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *argv],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.count("running in a worktree of") == 2, p.stdout[-3000:]
    for tid in ("scl-t5", "agssp-speed"):
        entry = json.loads((repo / "results" / "smoke" / f"{tid}.json").read_text())
        assert entry["git_sha"] == head, (tid, entry["git_sha"])
    assert _git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1

"""A newcomer's first hour, end to end: the README's two commands in the order given, on a fresh clone.

`make main` runs the Makefile's main command; `make test` then checks, among the rest, that the README's
generated blocks match the committed results. The main job once rewrote the committed csrl-elpv entry and its
figures, so the second command failed and the clone was left modified. Here the main command's code path runs
on a clone (at the smoke profile, so CI stays quick), then the README check, then `git status` must be empty.
"""

import os
import shlex
import subprocess
from pathlib import Path

from conftest import ROOT, BIN


def main_command_args(makefile: Path) -> list:
    "The arguments of `defect-nb` in the Makefile's `main` recipe."
    lines = makefile.read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith("main:")))
    recipe = next(line for line in lines[start + 1 :] if line.startswith("\t"))
    words = shlex.split(recipe.strip())
    assert words[0].endswith("defect-nb"), recipe
    return words[1:]


def at_smoke_profile(args: list) -> list:
    "The same command at the smoke profile (the wiring, in seconds)."
    i = args.index("--profile")
    return [*args[: i + 1], "smoke", *args[i + 2 :]]


def run(args, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DEFECT_NB_RESULTS"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


def test_the_main_command_is_the_readme_one():
    readme = (ROOT / "README.md").read_text()
    assert "make main" in readme and "make test" in readme
    args = main_command_args(ROOT / "Makefile")
    assert args[:2] == ["reproduce", "csrl-elpv"] and "--publish" not in args


def test_main_then_test_leave_a_fresh_clone_clean(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=300)
    main = run([str(BIN / "defect-nb"), *at_smoke_profile(main_command_args(clone / "Makefile"))], clone)
    assert main.returncode == 0, main.stdout[-3000:] + main.stderr[-3000:]
    runs = clone / "runs" / "smoke"
    assert f"writing to {clone / 'runs'}" in main.stdout, main.stdout[:500]
    assert (runs / "csrl-elpv.json").exists() and (runs / "executed" / "csrl-elpv.ipynb").exists()
    assert list((runs / "figures").glob("csrl-elpv_*.png")), "the figures go beside the run's entry"
    assert str(runs / "csrl-elpv.json") in main.stdout, "the job says where it wrote"
    check = run([str(BIN / "defect-nb"), "readme", "--check"], clone)
    assert check.returncode == 0, check.stdout + check.stderr
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True)
    assert status.stdout == "", f"the clone was modified:\n{status.stdout}"


def test_publish_refuses_a_tree_with_uncommitted_changes(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=300)
    readme = clone / "README.md"
    readme.write_text(readme.read_text() + "\nan uncommitted change\n")
    p = run([str(BIN / "defect-nb"), "reproduce", "csrl-elpv", "--profile", "smoke", "--publish"], clone)
    assert p.returncode == 2 and "uncommitted changes" in p.stderr, p.stdout + p.stderr
    assert not (clone / "results" / "smoke").exists()
    p = run(
        [str(BIN / "defect-nb"), "reproduce", "csrl-elpv", "--publish", "--out", str(tmp_path / "x")], clone
    )
    assert p.returncode == 2 and "takes no --out" in p.stderr, p.stdout + p.stderr


def test_reproduce_outside_the_checkout_says_what_it_needs(tmp_path):
    "Outside a checkout no table id is known: the command says why and points to `defect-nb run`."
    for args in (["reproduce", "cat-t2", "--profile", "smoke"], ["tables"]):
        p = run([str(BIN / "defect-nb"), *args], cwd=tmp_path)
        assert p.returncode == 2, p.stdout + p.stderr
        assert "not a defect_nb checkout" in p.stderr and "defect-nb run" in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []

"Shared fixtures: the data root and a skip-with-reason for datasets that are not under it."

import os
import sys
from pathlib import Path
import pytest
from defect_nb.core import data_root
from defect_nb.data import READERS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def have(name: str) -> bool:
    spec = READERS[name]
    return (not spec.needs_root) or any((data_root() / s).is_dir() for s in spec.subdirs)


def needs(*names):
    "Skip (with the reason) unless every named dataset is under the data root."
    missing = [n for n in names if not have(n)]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"dataset(s) {missing} not under the data root {data_root()} "
        f"(set DEFECT_NB_DATA; CI extracts ../shared/datasets)",
    )


def cli(*args, env=None, timeout=900):
    "Run the defect-nb console script; return the CompletedProcess."
    import subprocess

    return subprocess.run(
        [str(BIN / "defect-nb"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_twice_with_run_cache(tid: str, tmp_path, entry) -> tuple:
    (
        "Execute table `tid` at smoke twice with one run cache (`-p run_cache=...`): both entries, read by "
        "`entry(out, tid)`."
    )
    cache = tmp_path / "cache"
    entries = []
    for n in (1, 2):
        out = tmp_path / f"out{n}"
        p = cli("reproduce", tid, "--profile", "smoke", "--out", str(out), "-p", f"run_cache={cache}")
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        entries.append(entry(out, tid))
    return tuple(entries)

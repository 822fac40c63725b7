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

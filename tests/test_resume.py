"""A batch killed with SIGKILL while a table runs, then resumed: finished tables are not recomputed, the rest
is completed, and no half-written result, executed notebook or temporary file is left anywhere."""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from defect_nb.runner import table_status, valid_result, partial_path
from conftest import needs, cli, ROOT, BIN

IDS = ["csrl-elpv", "csrl-t3"]


def _leftovers(out: Path) -> list:
    "Hidden partial/tmp/error files and running markers under the results root."
    return [
        p for p in out.rglob("*") if p.is_file() and (p.name.startswith(".") or p.parent.name == "running")
    ]


@needs("neu-cls")
def test_kill9_during_second_table_then_resume(tmp_path):
    cmd = [str(BIN / "defect-nb"), "reproduce", *IDS, "--profile", "smoke", "--out", str(tmp_path)]
    p = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    log = []
    guard = threading.Timer(900, lambda: os.killpg(p.pid, signal.SIGKILL))
    guard.start()  # never hang the suite
    try:
        for line in p.stdout:  # the runner's progress lines
            log.append(line)
            if "[2/2] csrl-t3: running" in line:
                break
        assert any("[1/2] csrl-elpv: done" in l for l in log), "".join(log)
        part, t = partial_path("csrl-t3", "smoke", tmp_path), time.time()
        while not part.exists() and time.time() - t < 60:
            time.sleep(0.2)
        assert part.exists(), "papermill never started the second notebook"
        time.sleep(3)  # well inside the second table (it runs for tens of seconds)
    finally:
        guard.cancel()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the runner and papermill; the orphaned kernel exits by itself
        p.wait()
        p.stdout.close()
    time.sleep(3)  # the kernel's parent poller notices within a second or two

    elpv = tmp_path / "smoke" / "csrl-elpv.json"
    assert valid_result("csrl-elpv", "smoke", tmp_path), "the first table was finished before the kill"
    mtime = elpv.stat().st_mtime_ns
    assert table_status("csrl-elpv", "smoke", tmp_path) == "done"
    assert table_status("csrl-t3", "smoke", tmp_path) == "interrupted"  # even if its entry had been written
    assert not (tmp_path / "smoke" / "executed" / "csrl-t3.ipynb").exists(), (
        "a half-written executed notebook has the final name"
    )

    r = cli("reproduce", *IDS, "--profile", "smoke", "--out", str(tmp_path), "--resume", timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "[1/2] csrl-elpv: already done, skipped (--resume)" in r.stdout
    assert elpv.stat().st_mtime_ns == mtime, "a finished table was recomputed"
    t3 = valid_result("csrl-t3", "smoke", tmp_path)
    assert t3 and t3["rows"][0]["method"] == "convnet (from scratch)"
    assert table_status("csrl-t3", "smoke", tmp_path) == "done"
    assert (tmp_path / "smoke" / "executed" / "csrl-t3.ipynb").exists()
    assert _leftovers(tmp_path) == [], _leftovers(tmp_path)
    for f in tmp_path.rglob("*.json"):
        json.loads(f.read_text())  # no partial json anywhere
    for f in (tmp_path / "smoke" / "executed").glob("*.ipynb"):
        json.loads(f.read_text())

"""The table batch on a Dask cluster (issue 22): a scheduler and two workers on the loopback address run two
smoke tables through `defect-nb reproduce --scheduler`; one worker is killed with SIGKILL while its table
runs, and the table finishes on the other worker, with nothing half-written left behind."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
import pytest
from distributed import Client
from defect_nb.dask_batch import ClusterError, read_attempts, reproduce_on_cluster
from defect_nb.runner import partial_path, running_path, table_status, valid_result
from conftest import BIN, ROOT, cli

# the two cheapest smoke tables that need no dataset (about 10 s each with one thread, kernel start included)
KILLED, OTHER = "cat-fig3", "agssp-speed"


UNREACHABLE = "tcp://127.0.0.1:1"  # a privileged port nothing listens on: the connection is refused at once


def _leftovers(out: Path) -> list:
    "Hidden partial/tmp/error/probe files and running markers under the results root."
    return [
        p for p in out.rglob("*") if p.is_file() and (p.name.startswith(".") or p.parent.name == "running")
    ]


def _stop(proc) -> None:
    "SIGKILL the process group of `proc` (a worker: itself and its papermill child) and reap it."
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _scheduler_address(scheduler_file: Path, proc, wait_s: float = 120) -> str:
    "The address the scheduler wrote to its `--scheduler-file` once it listens (port 0: a port it picked)."
    t = time.time()
    while time.time() - t < wait_s and proc.poll() is None:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
    raise RuntimeError(f"the scheduler wrote no address to {scheduler_file} (exit {proc.poll()})")


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and workers w1, w2, one table slot each. The workers run without a nanny (the README's
    workers keep it) so that a killed worker stays dead and its table must move to the other one."""
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DEFECT_NB_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = {}

    def start(name, *args):
        with open(logs / f"{name}.log", "w") as log:
            procs[name] = subprocess.Popen(
                [str(BIN / "dask"), *args],
                cwd=ROOT,  # a worker runs in the project checkout (dask_batch.worker_report checks it)
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches the worker and its children
            )

    try:
        start(
            "scheduler",
            *("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
            *("--scheduler-file", str(scheduler_file)),
        )
        address = _scheduler_address(scheduler_file, procs["scheduler"])
        for name in ("w1", "w2"):
            start(
                name,
                *("worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1", "--name", name),
                *("--nthreads", "1", "--no-nanny", "--resources", "table=1", "--no-dashboard"),
                *("--death-timeout", "120"),
            )
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, procs, logs
    finally:
        for proc in procs.values():
            _stop(proc)
        time.sleep(2)  # an orphaned kernel's parent poller notices within a second or two


def test_killed_worker_table_finishes_on_the_other(cluster, tmp_path):
    address, procs, logs = cluster
    out = tmp_path / "out"
    cmd = [str(BIN / "defect-nb"), "reproduce", KILLED, OTHER, "--profile", "smoke", "--out", str(out)]
    batch = subprocess.Popen(
        [*cmd, "--scheduler", address],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        # the table has started once its worker wrote the running marker and papermill its partial notebook
        marker, part, t = running_path(KILLED, "smoke", out), partial_path(KILLED, "smoke", out), time.time()
        while not (marker.exists() and part.exists()) and time.time() - t < 120 and batch.poll() is None:
            time.sleep(0.1)
        assert marker.exists() and part.exists(), f"{KILLED} never started: {batch.poll()}"
        holder = json.loads(marker.read_text())["pid"]
        victim = next(name for name, proc in procs.items() if proc.pid == holder)  # the worker runs run_table
        other = "w2" if victim == "w1" else "w1"
        _stop(procs[victim])
        stdout, _ = batch.communicate(timeout=240)
    finally:
        if batch.poll() is None:
            _stop(batch)
    print(stdout)  # shown with `pytest -s` and on failure
    worker_logs = "\n".join(f.read_text()[-2000:] for f in logs.glob("*.log"))
    assert batch.returncode == 0, stdout[-4000:] + worker_logs

    for tid in (KILLED, OTHER):
        assert valid_result(tid, "smoke", out), f"{tid}: no complete entry"
        assert table_status(tid, "smoke", out) == "done"
        assert (out / "smoke" / "executed" / f"{tid}.ipynb").exists()
    tried = read_attempts(KILLED, "smoke", out)
    assert len(tried) >= 2, tried
    assert tried[0]["worker"] == victim and "ended" not in tried[0], "the killed attempt never ended"
    assert (tried[-1]["worker"], tried[-1]["status"]) == (other, "done"), tried
    # the batch summary names the worker that ran each table
    assert re.search(rf"^\s+{KILLED}\s+done\s+{other}\s+\S+\s+{len(tried)}\s", stdout, re.M), stdout
    assert re.search(rf"^\s+{OTHER}\s+done\s+w[12]\s", stdout, re.M), stdout
    assert f"{KILLED}: done on {other}" in stdout and "lost attempt(s)" in stdout, stdout
    assert _leftovers(out) == [], _leftovers(out)
    (record,) = (out / "smoke" / "dask" / "batches").glob("*.json")  # each task checked its worker with it
    assert json.loads(record.read_text())["tables"] == [KILLED, OTHER]
    for f in out.rglob("*.json"):
        json.loads(f.read_text())  # no half-written JSON anywhere


def test_unreachable_scheduler_fails_clearly(tmp_path):
    t = time.time()
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {UNREACHABLE}"):
        reproduce_on_cluster([KILLED], out=tmp_path, scheduler=UNREACHABLE, connect_timeout=2)
    assert time.time() - t < 30


def test_jobs_is_refused_with_a_scheduler(tmp_path):
    r = cli("reproduce", KILLED, "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1", "-j", "2")
    assert r.returncode == 2 and "--jobs is the one-machine path" in r.stderr, r.stderr

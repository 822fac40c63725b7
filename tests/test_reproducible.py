"""Same seed and thread count, same numbers: a small csrl run (SimCLR pretraining, then fine-tuning) in two
fresh processes gives bit-identical histories. A different thread count splits reductions differently, so its
numbers may differ in the last digits; the entry records the thread count (`run_context`) and the CPU kernels
torch used."""

import json
import subprocess
import sys

RUN = """
import json, sys
import numpy as np
from defect_nb.core import get_profile, set_threads, run_context
from defect_nb.csrl import classification_splits, pretrain_pool, run_encoder
set_threads(int(sys.argv[1]))
P = get_profile("smoke")
sd = classification_splits("elpv", P, None)
pool, _ = pretrain_pool(sd, ["elpv"], P, None)
r = run_encoder("convnet", sd, pool, P, 0, method="simclr", device="cpu", progress=False)
print(json.dumps({"context": run_context(), "pretrain_loss": r["pretrain"]["loss"],
                  "val_loss": r["finetune"]["val_loss"], "probs": np.asarray(r["probs"])[:8].tolist()}))
"""


def one_run(threads: int) -> dict:
    p = subprocess.run([sys.executable, "-c", RUN, str(threads)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_same_seed_and_threads_give_identical_numbers():
    first, second = one_run(2), one_run(2)
    assert first["context"]["threads"] == 2 and first["context"]["deterministic_algorithms"]
    assert first == second

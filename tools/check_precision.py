#!/usr/bin/env python
"""Accuracy check (not a test): does bf16 autocast keep a real result within seed noise of fp32?

The csrl-t3 protocol (an encoder trained from scratch on NEU-CLS, early stopping on validation loss, cpu
profile) and the csrl-t2 protocol (SimCLR pretraining, then fine-tuning) are run with the same seeds in fp32
and in bf16; the paired differences of test accuracy get a mean and a 95 % t-interval. The engine adopts bf16
as its default only when the interval holds zero (or lies above it) and its width is within the seed spread.
Writes results/bench/precision_check.json.

    DEFECT_NB_DATA=... python tools/check_precision.py
        [--encoder skip-convnet] [--seeds 0 1 2 3 4] [--method none]
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="skip-convnet")
    parser.add_argument("--method", default="none", choices=["none", "simclr"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=None)
    return parser.parse_args()


def t_interval(diffs: list) -> tuple:
    "Mean and 95 % t-interval of paired differences."
    from scipy import stats

    mean = statistics.mean(diffs)
    if len(diffs) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(diffs) - 1) * statistics.stdev(diffs) / len(diffs) ** 0.5
    return mean, mean - half, mean + half


def main():
    args = parse_args()
    from defect_nb.core import get_profile, set_threads, project_root, versions, git_sha, run_context
    from defect_nb.csrl import classification_splits, pretrain_pool, run_encoder

    threads = set_threads()
    profile = get_profile("cpu")
    splits = classification_splits("neu-cls", profile, None)
    pool = None
    if args.method != "none":
        pool, _ = pretrain_pool(splits, ["neu-cls", "mtd", "elpv"], profile, None)
    runs = {"fp32": {}, "bf16": {}}
    for seed in args.seeds:
        for precision in ("fp32", "bf16"):
            os.environ["DEFECT_NB_PRECISION"] = precision
            started = time.time()
            r = run_encoder(
                args.encoder, splits, pool, profile, seed, method=args.method, device="cpu", progress=False
            )
            runs[precision][seed] = {
                "accuracy": r["metrics"]["accuracy"],
                "wall_s": time.time() - started,
                "epochs": len(r["finetune"]["val_loss"]),
            }
            print(
                f"seed {seed} {precision}: accuracy {r['metrics']['accuracy']:.4f} "
                f"({runs[precision][seed]['wall_s']:.0f} s)",
                flush=True,
            )
    diffs = [runs["bf16"][s]["accuracy"] - runs["fp32"][s]["accuracy"] for s in args.seeds]
    mean, low, high = t_interval(diffs)
    fp32_spread = (
        statistics.stdev([runs["fp32"][s]["accuracy"] for s in args.seeds]) if len(args.seeds) > 1 else 0
    )
    result = {
        "what": (
            f"csrl {'t3 (from scratch)' if args.method == 'none' else 't2 (SimCLR)'} protocol on NEU-CLS, "
            f"{args.encoder}, cpu profile: test accuracy in bf16 autocast vs fp32, paired seeds"
        ),
        "seeds": args.seeds,
        "runs": runs,
        "paired_difference_bf16_minus_fp32": diffs,
        "mean_difference": mean,
        "ci95": [low, high],
        "fp32_seed_std": fp32_spread,
        "wall_s_ratio_fp32_over_bf16": (
            sum(v["wall_s"] for v in runs["fp32"].values()) / sum(v["wall_s"] for v in runs["bf16"].values())
        ),
        "threads": threads,
        "git_sha": git_sha(),
        "versions": versions(),
        "run_context": run_context(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(args.out) if args.out else project_root() / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    name = f"precision_check_{args.encoder}_{args.method}.json"
    (out / name).write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"mean difference {mean:+.4f}, 95 % interval [{low:+.4f}, {high:+.4f}], "
        f"fp32 seed std {fp32_spread:.4f}"
    )
    print(f"wrote {out / name}")


if __name__ == "__main__":
    main()

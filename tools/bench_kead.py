#!/usr/bin/env python
"""Benchmark (not a test): KeAD's dense V-V features against WinCLIP's sliding windows, same model and images.

The smoke test of agssp-speed once asserted `speedup > 1` on a 10-20 ms measurement of two images, and failed
under load; a speed is a measurement, so it lives here (and in the agssp-speed cpu entry), never in a test.
Both detectors use the same randomly initialised OpenCLIP ViT (no weights are downloaded), the same random
uint8 images and references; each side is timed `--repeats` times, interleaved, and the median is reported.
Writes results/bench/kead_speed.json.

    python tools/bench_kead.py [--images 8] [--refs 4] [--repeats 3] [--threads 2]
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--refs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    return parser.parse_args()


def main():
    args = parse_args()
    from defect_nb.core import project_root, versions
    from defect_nb.kead import ClipAnomaly, benchmark, load_clip, register_tiny_clip

    torch.set_num_threads(args.threads)
    name = "defect-nb-tiny-vit-64"
    register_tiny_clip(name, image_size=64, patch_size=8)
    model, tokenizer = load_clip(name, None)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 1, 224, 224), dtype=torch.uint8, generator=generator)
    refs = torch.randint(0, 256, (args.refs, 1, 224, 224), dtype=torch.uint8, generator=generator)
    configs = {
        "KeAD DF + V-V": dict(descriptions=True, vv=True),
        "WinCLIP": dict(descriptions=False, vv=False),
    }
    detectors = {
        m: ClipAnomaly(model, tokenizer, obj="hot-rolled steel strip", batch_size=4, **cfg)
        for m, cfg in configs.items()
    }
    benchmark(detectors["KeAD DF + V-V"], refs, images[:1])  # warm-up
    seconds = {m: [] for m in detectors}
    for repeat in range(args.repeats):
        order = list(detectors) if repeat % 2 == 0 else list(reversed(list(detectors)))
        for method in order:
            seconds[method].append(benchmark(detectors[method], refs, images)["seconds"])
    median = {m: statistics.median(v) for m, v in seconds.items()}
    result = {
        "what": (
            "few-shot fit + scoring, KeAD dense V-V features vs WinCLIP sliding windows, "
            "same model and images"
        ),
        "model": f"{name} (random init)",
        "images": args.images,
        "refs": args.refs,
        "threads": args.threads,
        "repeats": args.repeats,
        "seconds": seconds,
        "median_seconds": median,
        "speedup": median["WinCLIP"] / median["KeAD DF + V-V"],
        "paper": "52 min vs 5 min on one RTX 3090 (Steel Pipe), about 10x",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(args.out) if args.out else project_root() / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kead_speed.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("median_seconds", "speedup")}, indent=1))
    print(f"wrote {out / 'kead_speed.json'}")


if __name__ == "__main__":
    main()

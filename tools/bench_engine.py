#!/usr/bin/env python
"""Benchmark (not a test): training throughput of the shared engine's settings on four real workloads.

For ConvNet SimCLR (64 px), Skip-ConvNet fine-tuning (128 px), the CAT model (96 px) and FCOS (128 px), one
training step (forward, loss, backward, Adam) is timed in plain fp32 and in each candidate setting (bf16
autocast, channels_last, both), interleaved and repeated, after warm-up; images per second and the ratio to
fp32 are reported, with the geometric mean of the ratios of the engine's default. Then the data path: the
ConvNet SimCLR step fed by the engine's real loader (`train.fit` with augmentation in its prefetch thread)
against the same step on views already in memory. Writes results/bench/engine.json and
results/bench/engine.png.

    python tools/bench_engine.py [--steps 8] [--threads 2] [--only convnet-simclr,...]
"""

import argparse
import contextlib
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

SETTINGS = {
    "fp32": dict(bf16=False, channels_last=False),
    "channels_last": dict(bf16=False, channels_last=True),
    "bf16": dict(bf16=True, channels_last=False),
    "bf16+channels_last": dict(bf16=True, channels_last=True),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per setting and workload")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--out", default=None)
    return parser.parse_args()


def convnet_simclr():
    "ConvNet + projection head, NT-Xent on two views, batch 64 at 64 px (the csrl cpu profile)."
    from defect_nb.encoders import build_encoder, ProjectionHead
    from defect_nb.losses import NTXentLoss

    encoder = build_encoder("convnet", in_chans=1, img_size=64)
    head = ProjectionHead(encoder.out_dim, 128, 128)
    loss_fn = NTXentLoss(0.1)
    views = torch.rand(2, 64, 1, 64, 64) * 2 - 1

    def step():
        return loss_fn(head(encoder(views[0])), head(encoder(views[1])))

    return [encoder, head], step, 64


def skipconvnet_finetune():
    "Skip-ConvNet + softmax layer, cross-entropy, batch 64 at 128 px."
    from defect_nb.encoders import build_encoder, Classifier

    model = Classifier(build_encoder("skip-convnet", in_chans=1, img_size=128), 6)
    x = torch.rand(64, 1, 128, 128) * 2 - 1
    y = torch.randint(0, 6, (64,))

    def step():
        return F.cross_entropy(model(x), y)

    return [model], step, 64


def cat_model():
    "The full CAT model (Swin-T + MSF-FPN student, frozen EfficientNet-Lite0 reference), batch 16 at 96 px."
    from defect_nb.cat import CATModel, CATConfig, l2_reconstruction_loss
    from defect_nb.profiles import settings as registry_settings

    settings = registry_settings("cat", "cpu")
    model = CATModel(CATConfig(), settings)
    x = torch.rand(settings.batch_size, 1, settings.img_size, settings.img_size)

    def step():
        return l2_reconstruction_loss(model.student(x), model.reference(x))

    return [model], step, settings.batch_size


def fcos():
    "FCOS on an EfficientNet-Lite0 backbone, batch 8 at 128 px, two boxes per image."
    from defect_nb.detect import build_detector

    model = build_detector("efficientnet-lite0", num_classes=6, img_size=128)
    images = [torch.rand(1, 128, 128) for _ in range(8)]
    targets = [
        {
            "boxes": torch.tensor([[10.0, 10.0, 60.0, 50.0], [70.0, 64.0, 120.0, 110.0]]),
            "labels": torch.tensor([1, 3]),
        }
        for _ in range(8)
    ]

    def step():
        return sum(model(images, targets).values())

    return [model], step, 8


WORKLOADS = {
    "convnet-simclr": convnet_simclr,
    "skipconvnet-finetune": skipconvnet_finetune,
    "cat": cat_model,
    "fcos": fcos,
}


def prepared(builder, setting):
    "The workload's modules, optimizer and step under one setting."
    torch.manual_seed(0)
    modules, step, batch = builder()
    if setting["channels_last"]:
        for m in modules:
            m.to(memory_format=torch.channels_last)
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    return modules, step, batch, optimizer


def one_step(modules, step, optimizer, bf16: bool) -> float:
    for m in modules:
        m.train()
    context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    started = time.perf_counter()
    with context:
        loss = step()
    optimizer.zero_grad(set_to_none=True)
    loss.float().backward()
    optimizer.step()
    return time.perf_counter() - started


def bench_workload(name, builder, steps):
    "Median seconds per step of every setting, timed interleaved (one step of each in turn)."
    runs = {s: prepared(builder, cfg) for s, cfg in SETTINGS.items()}
    for s, cfg in SETTINGS.items():
        for _ in range(2):
            one_step(runs[s][0], runs[s][1], runs[s][3], cfg["bf16"])
    seconds = {s: [] for s in SETTINGS}
    for i in range(steps):
        order = list(SETTINGS) if i % 2 == 0 else list(reversed(list(SETTINGS)))
        for s in order:
            modules, step, _, optimizer = runs[s]
            seconds[s].append(one_step(modules, step, optimizer, SETTINGS[s]["bf16"]))
    batch = runs["fp32"][2]
    median = {s: statistics.median(v) for s, v in seconds.items()}
    images_per_s = {s: batch / median[s] for s in SETTINGS}
    ratio = {s: images_per_s[s] / images_per_s["fp32"] for s in SETTINGS}
    print(f"{name}: " + ", ".join(f"{s} {images_per_s[s]:.1f} img/s ({ratio[s]:.2f}x)" for s in SETTINGS))
    return {"batch": batch, "median_s_per_step": median, "images_per_s": images_per_s, "ratio_to_fp32": ratio}


def bench_data_path(epochs: int = 2):
    "ConvNet SimCLR through train.fit: augmentation in the prefetch thread vs views already in memory."
    from defect_nb.encoders import build_encoder, ProjectionHead
    from defect_nb.losses import NTXentLoss
    from defect_nb.augment import SimCLRAugment, two_views
    from defect_nb.train import fit, make_optimizer

    images = torch.randint(0, 256, (512, 1, 64, 64), dtype=torch.uint8)
    augment = SimCLRAugment(64)

    def run(fed_by_loader: bool) -> float:
        torch.manual_seed(0)
        encoder = build_encoder("convnet", in_chans=1, img_size=64)
        head = ProjectionHead(encoder.out_dim, 128, 128)
        loss_fn = NTXentLoss(0.1)
        generator = torch.Generator().manual_seed(1)
        ready = [two_views(images[i : i + 64].float() / 255, augment, generator) for i in range(0, 512, 64)]

        def make_batch(idx, g):
            return two_views(images[idx].float() / 255, augment, g)

        def step(views):
            v1, v2 = views
            return {"loss": loss_fn(head(encoder(v1 * 2 - 1)), head(encoder(v2 * 2 - 1)))}

        def step_in_memory(idx):
            return step(ready[int(idx[0]) % len(ready)])

        optimizer = make_optimizer([*encoder.parameters(), *head.parameters()], "adam", lr=1e-3)
        started = time.perf_counter()
        if fed_by_loader:
            fit(
                [encoder, head],
                512,
                step,
                epochs=epochs,
                optimizer=optimizer,
                batch_size=64,
                make_batch=make_batch,
                drop_last=True,
                progress=False,
            )
        else:
            fit(
                [encoder, head],
                512,
                step_in_memory,
                epochs=epochs,
                optimizer=optimizer,
                batch_size=64,
                drop_last=True,
                progress=False,
            )
        return 512 * epochs / (time.perf_counter() - started)

    in_memory = statistics.median([run(False) for _ in range(3)])
    loader = statistics.median([run(True) for _ in range(3)])
    print(
        f"data path: loader {loader:.1f} img/s, in memory {in_memory:.1f} img/s, "
        f"ratio {loader / in_memory:.3f}"
    )
    return {
        "loader_images_per_s": loader,
        "in_memory_images_per_s": in_memory,
        "ratio": loader / in_memory,
        "target": ">= 0.95",
    }


def adopted_defaults() -> dict:
    "What the engine uses by default now, and the accuracy check behind it (tools/check_precision.py)."
    from defect_nb.core import project_root
    from defect_nb.core import ENGINE_PRECISION

    checks = {}
    for f in sorted((project_root() / "results" / "bench").glob("precision_check_*.json")):
        c = json.loads(f.read_text())
        checks[f.name] = {k: c[k] for k in ("what", "seeds", "mean_difference", "ci95", "fp32_seed_std")}
    return {"precision": ENGINE_PRECISION, "channels_last": False, "accuracy_checks": checks}


def main():
    args = parse_args()
    from defect_nb.core import project_root, versions

    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    workloads = {n: bench_workload(n, WORKLOADS[n], args.steps) for n in names}
    geomean = {
        s: math.exp(statistics.mean(math.log(w["ratio_to_fp32"][s]) for w in workloads.values()))
        for s in SETTINGS
    }
    result = {
        "what": (
            "images/s of one training step (forward, loss, backward, Adam) per setting, interleaved, median"
        ),
        "tried": list(SETTINGS) + ["torch.compile: not measured here (see README, Benchmarks)"],
        "adopted": adopted_defaults(),
        "threads": args.threads,
        "steps": args.steps,
        "workloads": workloads,
        "geomean_ratio_to_fp32": geomean,
        "target": "geomean of the default's ratios >= 2",
        "data_path": bench_data_path(),
        "machine": f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}",
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(args.out) if args.out else project_root() / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "engine.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, out / "engine.png")
    print(json.dumps(geomean, indent=1))
    print(f"wrote {out / 'engine.json'} and {out / 'engine.png'}")


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["workloads"])
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(SETTINGS)
    for k, s in enumerate(SETTINGS):
        ratios = [result["workloads"][n]["ratio_to_fp32"][s] for n in names]
        ax.bar([i + k * width for i in range(len(names))], ratios, width, label=s)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks([i + width * (len(SETTINGS) - 1) / 2 for i in range(len(names))], names)
    ax.set_ylabel("images/s relative to fp32")
    ax.set_title(
        f"training step speed per setting, {result['threads']} threads; "
        f"data path loader/in-memory {result['data_path']['ratio']:.2f}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

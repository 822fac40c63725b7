#!/usr/bin/env python
"""Benchmark (not a test): one SimCLR training step of defect_nb against the same step built on \
lightly's NTXentLoss.

Same encoder (ConvNet + projection head), same batch, same two views, same optimiser; only the loss differs.
Reports the loss difference on identical embeddings, steps/s of both (interleaved, median of `--steps` steps,
after warm-up), and the augmentation throughput (SimCLR views per second) against the training throughput.
Writes results/bench/simclr_step.json and results/bench/simclr_step.png.

    python tools/bench_simclr.py [--batch 64] [--size 64] [--steps 30] [--threads 2]

lightly is a benchmark-only dependency: `pip install -e ".[bench]"` (or `make bench`).
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--encoder", default="convnet")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    try:
        from lightly.loss import NTXentLoss as LightlyNTXent
    except ImportError:
        raise SystemExit("lightly is not installed: pip install -e '.[bench]' (benchmark-only dependency)")
    from defect_nb.core import seed_everything, project_root, versions
    from defect_nb.encoders import build_encoder, ProjectionHead
    from defect_nb.losses import NTXentLoss
    from defect_nb.augment import SimCLRAugment, two_views
    from defect_nb.imageops import to_signed_unit
    from defect_nb.data import have_dataset, load_dataset, decode_cached, subsample

    torch.set_num_threads(a.threads)
    g = seed_everything(0)

    # A real batch when NEU-CLS is under the data root, otherwise seeded noise (named in the output).
    if have_dataset("neu-cls"):
        ds = subsample(load_dataset("neu-cls"), a.batch, seed=0)
        x = decode_cached(ds, a.size, progress=False).images[: a.batch]
        data = f"neu-cls ({a.batch} images)"
    else:
        x = torch.randint(0, 256, (a.batch, 1, a.size, a.size), dtype=torch.uint8, generator=g)
        data = "random uint8 images"
    aug = SimCLRAugment(a.size)
    v1, v2 = two_views(x, aug, g)
    v1, v2 = to_signed_unit(v1), to_signed_unit(v2)

    def make():
        seed_everything(0)
        enc = build_encoder(a.encoder, in_chans=1, img_size=a.size)
        head = ProjectionHead(enc.out_dim)
        opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=1e-3)
        return enc, head, opt

    ours_loss, their_loss = NTXentLoss(a.temperature), LightlyNTXent(temperature=a.temperature)
    models = {"defect_nb": (*make(), ours_loss), "lightly": (*make(), their_loss)}

    # 1) the two losses on identical embeddings
    enc, head, _, _ = models["defect_nb"]
    with torch.no_grad():
        z1, z2 = head(enc(v1)), head(enc(v2))
    l_ours, l_theirs = float(ours_loss(z1, z2)), float(their_loss(z1, z2))

    def step(name):
        enc, head, opt, loss_fn = models[name]
        t = time.perf_counter()
        loss = loss_fn(head(enc(v1)), head(enc(v2)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t

    for _ in range(3):
        step("defect_nb")
        step("lightly")  # warm-up
    times = {"defect_nb": [], "lightly": []}
    for i in range(a.steps):  # interleaved, alternating order
        for name in ("defect_nb", "lightly") if i % 2 == 0 else ("lightly", "defect_nb"):
            times[name].append(step(name))
    med = {k: statistics.median(v) for k, v in times.items()}

    # 2) augmentation throughput: two views of the batch, images/s, vs training images/s
    ta = []
    for _ in range(max(5, a.steps // 3)):
        t = time.perf_counter()
        two_views(x, aug, g)
        ta.append(time.perf_counter() - t)
    aug_ips = a.batch / statistics.median(ta)
    train_ips = a.batch / med["defect_nb"]

    res = {
        "what": (
            "one SimCLR training step (encoder + projection head, NT-Xent, Adam) "
            "ours vs lightly.loss.NTXentLoss"
        ),
        "encoder": a.encoder,
        "batch": a.batch,
        "img_size": a.size,
        "temperature": a.temperature,
        "threads": a.threads,
        "data": data,
        "steps_timed": a.steps,
        "loss_defect_nb": l_ours,
        "loss_lightly": l_theirs,
        "loss_abs_diff": abs(l_ours - l_theirs),
        "median_step_s": med,
        "throughput_ratio": med["lightly"] / med["defect_nb"],
        "augment_images_per_s": aug_ips,
        "train_images_per_s": train_ips,
        "augment_over_train": aug_ips / train_ips,
        "targets": {"throughput_ratio": ">= 0.95", "loss_abs_diff": "<= 1e-5", "augment_over_train": ">= 3"},
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    res["targets_met"] = {
        "throughput_ratio": res["throughput_ratio"] >= 0.95,
        "loss_abs_diff": res["loss_abs_diff"] <= 1e-5,
        "augment_over_train": res["augment_over_train"] >= 3,
    }
    out = Path(a.out) if a.out else project_root() / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "simclr_step.json").write_text(json.dumps(res, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].boxplot([[1000 * t for t in times["defect_nb"]], [1000 * t for t in times["lightly"]]])
    ax[0].set_xticks([1, 2], ["defect_nb NT-Xent", "lightly NTXentLoss"])
    ax[0].set_ylabel("ms per training step")
    ax[0].set_title(f"ratio {res['throughput_ratio']:.3f} (target ≥ 0.95)")
    ax[1].bar(["augmentation", "training"], [aug_ips, train_ips])
    ax[1].set_ylabel("images per second")
    ax[1].set_title(f"augmentation / training = {res['augment_over_train']:.1f} (target ≥ 3)")
    fig.suptitle(f"SimCLR step, {a.encoder}, batch {a.batch}, {a.size} px, {a.threads} threads")
    fig.tight_layout()
    fig.savefig(out / "simclr_step.png", dpi=110)
    print(
        json.dumps(
            {k: res[k] for k in ("loss_abs_diff", "throughput_ratio", "augment_over_train", "targets_met")},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()

"""Cost of EDG distillation per training step, against the plain student, on this CPU.

One training step as the student family runs it (``rhoml.families.student``): energies and
forces of a batch of 32 rMD17 ethanol frames (forces by autograd with the graph kept for the
force loss), loss 0.05·L1(E) + 0.95·L1(F), backward, AdamW step. The distilled step adds the
mapper (F → 512) and the frozen ED predictor (512 → 256 → 768) on the student's representation
and λ·smooth-L1 against the teacher's ED targets. Two ways of getting the targets are timed:

* ``precomputed``: the frozen predictor applied once to the teacher features when the data are
  prepared (what the family does: the predictor never changes, so its outputs do not either);
* ``per step``: the predictor applied to the batch's 512-d teacher features in every step (what
  EDG's training script does).

Students: SchNet with EDG's settings (``schnet-edg``: 128 channels, 6 interactions, 51
Gaussians, 10 Å) and PaiNN with the paper's (``painn-paper``: 128 channels, 3 interactions,
5 Å). Teacher features and predictor weights are random (the cost does not depend on the
values). The three variants are timed interleaved, in rotating order, in one process, after
warm-up steps; medians and minima are compared. The distillation head alone (mapper, frozen
predictor, smooth-L1, forward and backward to h; 5× as many repetitions) is timed too: its
share of the plain step is the added work, measured without the noise of two full steps. The
machine is shared with other jobs: when it is oversubscribed, medians include waits for the
CPU and the minimum (the least-disturbed step) is the better estimate of the cost; the 1-minute
load average is recorded.

Run: python benchmarks/edg_distill_overhead.py [--steps 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _frames(n: int):
    """The first ``n`` frames of rMD17 ethanol's train split file (``$RHOML_RMD17_DIR``, else
    ``../shared/data/rmd17`` beside the repository)."""
    from rhoml.io.rmd17 import load_rmd17

    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "rmd17"
    root = Path(os.environ.get("RHOML_RMD17_DIR", root))
    return load_rmd17("ethanol", "train", indices=range(n), data_dir=root)


def time_model(name: str, items: list[dict], teacher_features, steps: int, warmup: int):
    """Median/min seconds per training step of each variant for student ``name``."""
    import torch

    from rhoml.families import student as fam
    from rhoml.models.registry import build_model
    from rhoml.models.students.base import output_stats
    from rhoml.models.students.distill import EDDistillHead, EDPredictor, ed_loss

    torch.manual_seed(0)
    student = build_model(name, {}, n_outputs=1)
    y = np.stack([it["y_raw"] for it in items])
    shift, scale = output_stats([it["z"] for it in items], y, mean_readout=False,
                                forces=[it["forces"] for it in items])  # fmt: skip
    student.set_output_stats(shift, scale)
    width = 1 + 3 * len(items[0]["z"])
    head = EDDistillHead(student.representation_dim, EDPredictor())
    plain_task = fam._task_module(student, "energy_forces").train()
    distill_task = fam._task_module(student, "energy_forces", head).train()
    batch = fam.collate(fam.residual_items(items, student))
    batch_ed = {**batch, "teacher": head.target(teacher_features)}
    plain_loss = fam.make_criterion("energy_forces", width)
    distill_loss = fam.make_criterion("energy_forces", width, weight=1.0)
    params = list(student.parameters()) + list(head.mapper.parameters())
    opt = torch.optim.AdamW(params, lr=1e-6)  # tiny steps: the model stays where it is

    def step_plain():
        opt.zero_grad(set_to_none=True)
        plain_loss(plain_task(batch), fam._targets(batch)).backward()
        opt.step()

    def step_precomputed():
        opt.zero_grad(set_to_none=True)
        distill_loss(distill_task(batch_ed), fam._targets(batch_ed)).backward()
        opt.step()

    def step_per_step():
        opt.zero_grad(set_to_none=True)
        n = batch["n_molecules"]
        e, f, h = student.energy_and_forces(batch["z"], batch["pos"], batch["batch"], n,
                                            create_graph=True, shifted=False)  # fmt: skip
        loss = plain_loss(torch.cat([e[:, None], f.reshape(n, -1)], dim=1), batch["y"])
        with torch.no_grad():
            target = head.ed_predictor(teacher_features)
        (loss + ed_loss(head(h), target)).backward()
        opt.step()

    variants = {"plain": step_plain, "distilled (precomputed targets)": step_precomputed,
                "distilled (targets per step, as EDG)": step_per_step}  # fmt: skip
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    keys = list(variants)
    for s in range(steps):
        for k in keys[s % len(keys) :] + keys[: s % len(keys)]:  # rotating order
            t0 = time.perf_counter()
            variants[k]()
            times[k].append(time.perf_counter() - t0)
    # the added work alone: mapper + frozen predictor + smooth-L1 forward and backward to h
    h = torch.randn(len(items), student.representation_dim, requires_grad=True)
    target = batch_ed["teacher"]
    head_times = []
    for _ in range(warmup + 5 * steps):
        t0 = time.perf_counter()
        ed_loss(head(h), target).backward()
        head_times.append(time.perf_counter() - t0)
    times["distillation head alone"] = head_times[warmup:]
    sizes = {"parameters": sum(p.numel() for p in student.parameters()),
             "mapper_parameters": sum(p.numel() for p in head.mapper.parameters())}  # fmt: skip
    return times, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--models", default="schnet-edg,painn-paper")
    args = parser.parse_args()

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.families import student as fam

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    mols = _frames(args.batch)
    items = [fam._item(m, [m.labels["energy"]], m.labels["forces"]) for m in mols]
    rng = np.random.default_rng(0)
    teacher_features = torch.as_tensor(rng.normal(size=(args.batch, 512)), dtype=torch.float32)
    results, rows = [], []
    for name in args.models.split(","):
        times, sizes = time_model(name, items, teacher_features, args.steps, args.warmup)
        med = {k: statistics.median(v) for k, v in times.items()}
        low = {k: min(v) for k, v in times.items()}
        for k, v in times.items():
            over, over_min = med[k] / med["plain"], low[k] / low["plain"]
            if k != "distillation head alone":  # a share of the plain step, not a ratio - 1
                over, over_min = over - 1.0, over_min - 1.0
            results.append({"model": name, "variant": k, "median_s": med[k],
                            "mean_s": statistics.fmean(v), "min_s": low[k], "times_s": v,
                            "overhead_vs_plain_median": over,
                            "overhead_vs_plain_min": over_min, "steps": len(v),
                            **sizes})  # fmt: skip
            shown = "—" if k == "plain" else f"{100 * over:+.1f} % / {100 * over_min:+.1f} %"
            rows.append(f"| {name} | {k} | {1e3 * med[k]:.1f} | {1e3 * low[k]:.1f} | {shown} |")
            print(rows[-1], flush=True)
    info = machine()
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    info["load_average_1min_start"] = load_start
    info["load_average_1min_end"] = os.getloadavg()[0]
    table = "\n".join(
        [f"Training step (forward with forces, backward, AdamW) on {args.batch} rMD17 ethanol "
         f"frames, {args.threads} threads, median of {args.steps} interleaved steps per variant; "
         "goal: overhead ≤ 15 %. The last row of each student is the distillation head "
         "alone, its time as a share of the plain step.\n",
         "| student | variant | median ms/step | min ms/step | overhead vs plain (median / min) |",
         "|---|---|---:|---:|---:|", *rows,
         f"\n1-minute load average at the start / end: {load_start:.2f} / "
         f"{info['load_average_1min_end']:.2f} (2 cores shared with other jobs)."]
    )  # fmt: skip
    data = {"title": "EDG distillation overhead per training step", "machine": info,
            "batch": args.batch, "results": results}  # fmt: skip
    suffix = "" if args.batch == 32 else f"_batch{args.batch}"
    write_results(f"edg_distill_overhead{suffix}", data, table)


if __name__ == "__main__":
    main()

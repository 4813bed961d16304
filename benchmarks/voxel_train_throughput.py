"""Training throughput of the voxel 3D ResNet (molecules/s, forward + backward + AdamW step).

Synthetic voxel batches of the study's shapes (the network cost does not depend on the values):
QM9 16³ × 8 channels and 32³ × 8, PDBbind 24³ × 28 and 48³ × 28; presets resnet3d-tiny / -small;
batch 32 (8 for 48³); CPU threads 1 and 2 (or CUDA when present). Median over timed steps after
one warm-up step. The 1-minute load average is recorded: this machine is shared, so CPU numbers
are lower bounds of what an idle machine gives.

Run: python benchmarks/voxel_train_throughput.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.models.registry import build_model

    cases = [("qm9 16³×8", 16, 8, 32), ("qm9 32³×8", 32, 8, 32), ("pdbbind 24³×28", 24, 28, 32),
             ("pdbbind 48³×28", 48, 28, 8)]  # fmt: skip
    devices = ["cuda"] if torch.cuda.is_available() else ["cpu"]
    threads = [1, 2] if devices == ["cpu"] else [torch.get_num_threads()]
    results, table = (
        [],
        ["| grid | model | device | threads | molecules/s |", "|---|---|---|---:|---:|"],
    )
    for dev in devices:
        for th in threads:
            torch.set_num_threads(th)
            for name, n, c, bs in cases:
                for preset in ("resnet3d-tiny", "resnet3d-small"):
                    torch.manual_seed(0)
                    m = build_model(preset, in_channels=c, targets=["a", "b", "c"]).to(dev)
                    opt = torch.optim.AdamW(m.parameters(), 1e-3)
                    x = {"voxels": torch.randn(bs, c, n, n, n, device=dev)}
                    steps = 2 if n >= 32 else 4
                    times = []
                    for i in range(steps + 1):
                        t0 = time.perf_counter()
                        opt.zero_grad()
                        m(x).abs().mean().backward()
                        opt.step()
                        if dev == "cuda":
                            torch.cuda.synchronize()
                        if i:
                            times.append(time.perf_counter() - t0)
                    rate = bs / float(np.median(times))
                    results.append({"grid": name, "model": preset, "device": dev, "threads": th,
                                    "batch": bs, "molecules_per_second": rate})  # fmt: skip
                    table.append(f"| {name} | {preset} | {dev} | {th} | {rate:.1f} |")
    write_results(
        "voxel_train_throughput",
        {"title": "3D ResNet training throughput (molecules/s)", "machine": machine(),
         "load_average_1min": os.getloadavg()[0], "results": results},
        "\n".join(table) + f"\n\n1-minute load average at the end: {os.getloadavg()[0]:.1f} "
        "(shared machine).",
    )  # fmt: skip


if __name__ == "__main__":
    main()

"""Rendering throughput of EDG 6-view density sets from precomputed grids, CPU or CUDA, batched.

The grids (ρ on 0.2 Å, ESP on the isosurface band) of every DFT density in STORE are evaluated
once (timed, reported separately) and cycled to ``--n`` molecules; the renderer then draws them
in batches of ``--batch`` on ``--device``. On CUDA the time includes copying grids to the GPU
and images back.

    OMP_NUM_THREADS=1 python benchmarks/render_throughput.py --store STORE --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402


def main() -> None:
    import torch

    from rhoml.represent.render import fields_for, preset, render
    from rhoml.store.sqlite_store import Store

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--method", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--n", type=int, default=200, help="molecules rendered (grids cycled)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset("edg-density")
    fields, grid_s = [], []
    with Store.open(args.store, readonly=True) as st:
        method = args.method or st.methods()[0]
        for idx in sorted(st.finished(method, include_failed=False)):
            t = time.perf_counter()
            fields.append(fields_for(st.density(idx, method), cfg))
            grid_s.append(time.perf_counter() - t)
    items = [fields[i % len(fields)] for i in range(args.n)]
    render(items[: args.batch], cfg, device=args.device, batch=args.batch)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    images = render(items, cfg, device=args.device, batch=args.batch)
    seconds = time.perf_counter() - t
    assert images.shape == (args.n, 6, 224, 224, 4)
    rate = args.n / seconds
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    summary = {
        "device": dev, "batch": args.batch, "threads": args.threads, "molecules": args.n,
        "distinct_molecules": len(fields), "sets_per_s": rate, "seconds": seconds,
        "grid_seconds_median": statistics.median(grid_s),
    }  # fmt: skip
    name = f"render_throughput_{'cuda' if args.device.startswith('cuda') else 'cpu'}"
    table = (
        f"| device | batch | torch threads | 6-view sets/s |\n|---|---|---|---|\n"
        f"| {dev} | {args.batch} | {args.threads} | {rate:.1f} |\n\n"
        f"{args.n} renders of {len(fields)} distinct QM9 B3LYP/6-31G** densities; grid "
        f"evaluation (not included) median {summary['grid_seconds_median']:.2f} s per molecule."
    )
    write_results(
        name,
        {"title": "EDG density image sets: rendering throughput", "machine": machine(),
         "method": method, "summary": summary},
        table,
    )  # fmt: skip


if __name__ == "__main__":
    main()

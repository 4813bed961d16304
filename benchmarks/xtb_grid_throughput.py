"""xTB density → 0.5 Å grid, end to end on QM9 molecules: molecules per second.

Each task runs GFN2-xTB (tblite), rebuilds the density in the Gaussian basis and evaluates it on a
0.5 Å grid around the molecule (4 Å margin), on a process pool of ``--workers`` single-threaded
processes (the rhoml batch default). Reports molecules/s and the projected time for all of QM9.

    python benchmarks/xtb_grid_throughput.py --n 500 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import machine, write_results


def one(molecule):
    from rhoml.density.on_grid import evaluate_on_grid
    from rhoml.density.xtb import compute_xtb
    from rhoml.grid import Grid

    t0 = time.perf_counter()
    d = compute_xtb(molecule)
    t1 = time.perf_counter()
    grid = Grid.around(molecule, spacing=0.5, margin=4.0)
    vals = evaluate_on_grid(d, grid)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, grid.n_points, float(vals.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from rhoml.io.qm9 import load_qm9

    rng = np.random.default_rng(0)
    all_idx = rng.choice(130831, size=args.n, replace=False)
    molecules = load_qm9(indices=sorted(int(i) for i in all_idx))
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = "1"
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        list(pool.map(one, molecules[: args.workers * 2]))  # warm up imports
        t = time.perf_counter()
        res = list(pool.map(one, molecules, chunksize=4))
        wall = time.perf_counter() - t
    xtb_s = [r[0] for r in res]
    grid_s = [r[1] for r in res]
    rate = args.n / wall
    data = {
        "title": "xTB density → 0.5 Å grid on QM9 molecules (end to end)",
        "machine": machine(),
        "settings": {"n_molecules": args.n, "workers": args.workers, "spacing_angstrom": 0.5,
                     "margin_angstrom": 4.0, "sample": "random QM9 molecules, seed 0"},
        "molecules_per_second": rate,
        "qm9_all_hours": 130831 / rate / 3600,
        "median_xtb_s": statistics.median(xtb_s),
        "median_grid_s": statistics.median(grid_s),
        "median_points": statistics.median(r[2] for r in res),
        "goal": ">= 10 molecules/s on 2 cores",
    }  # fmt: skip
    table = (
        "| molecules | workers | molecules/s | all QM9 (h) | median xTB (ms) | median grid (ms) |"
        " median grid points |\n|---|---|---|---|---|---|---|\n"
        f"| {args.n} | {args.workers} | {rate:.1f} | {data['qm9_all_hours']:.2f} | "
        f"{1e3 * data['median_xtb_s']:.1f} | {1e3 * data['median_grid_s']:.1f} | "
        f"{data['median_points']:.0f} |"
    )
    write_results("xtb_grid_throughput", data, table)


if __name__ == "__main__":
    main()

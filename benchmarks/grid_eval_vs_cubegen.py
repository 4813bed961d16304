"""Grid evaluation of one DFT density on a 0.2 Å grid: rhoml vs PySCF ``tools.cubegen.density``.

Same molecule (a QM9 molecule, B3LYP/6-31G**), same grid points, same process. Reports medians of
repeated timings, the speed ratio and the max abs difference of the values.

    OMP_NUM_THREADS=2 python benchmarks/grid_eval_vs_cubegen.py [--qm9-index 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, write_results
from pyscf import lib
from pyscf.dft import numint
from pyscf.tools import cubegen

from rhoml.density.dft import compute_dft
from rhoml.density.on_grid import evaluate_on_grid
from rhoml.grid import Grid
from rhoml.io.cube import write_cube
from rhoml.io.qm9 import load_qm9
from rhoml.units import ANGSTROM_IN_BOHR, BOHR_IN_ANGSTROM


def pyscf_eval(mol, coords, dm):
    """The evaluation loop of ``cubegen.density`` (blocks of 8000 points, no screening)."""
    out = np.empty(len(coords))
    for p0, p1 in lib.prange(0, len(coords), 8000):
        ao = numint.eval_ao(mol, coords[p0:p1])
        out[p0:p1] = numint.eval_rho(mol, ao, dm)
    return out


def timed(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, value


def measure(qi: int, spacing: float, repeats: int) -> dict:
    """Time both evaluators on QM9 molecule ``qi``; returns one result row."""
    mol_r = load_qm9(indices=[qi])[0]
    density = compute_dft(mol_r)  # B3LYP/6-31G**, density fitting
    mol, dm = density.mol, density.data
    cc = cubegen.Cube(mol, resolution=spacing * ANGSTROM_IN_BOHR, margin=3.0)
    coords = cc.get_coords()
    frac = np.array([cc.xs[1] - cc.xs[0], cc.ys[1] - cc.ys[0], cc.zs[1] - cc.zs[0]])
    steps = frac * np.diag(cc.box)  # Bohr
    grid = Grid(cc.boxorig * BOHR_IN_ANGSTROM, np.diag(steps) * BOHR_IN_ANGSTROM,
                (cc.nx, cc.ny, cc.nz))  # fmt: skip
    assert np.allclose(grid.points() * ANGSTROM_IN_BOHR, coords, atol=1e-9)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_ref, _, ref = timed(lambda: pyscf_eval(mol, coords, dm), repeats)
        t_ours, _, ours = timed(lambda: evaluate_on_grid(density, grid), repeats)
        t_ref_file, _, _ = timed(
            lambda: cubegen.density(mol, str(tmp / "p.cube"), dm,
                                    resolution=spacing * ANGSTROM_IN_BOHR),
            repeats,
        )  # fmt: skip
        t_ours_file, _, _ = timed(
            lambda: write_cube(tmp / "r.cube", grid, evaluate_on_grid(density, grid),
                               mol_r),
            repeats,
        )  # fmt: skip
    diff = float(np.max(np.abs(ours.ravel() - ref)))
    return {
        "qm9_index": qi, "formula": mol_r.formula, "n_atoms": mol_r.n_atoms,
        "nao": int(mol.nao_nr()), "grid_shape": list(grid.shape), "n_points": grid.n_points,
        "pyscf_eval_s": t_ref, "rhoml_eval_s": t_ours, "eval_speedup": t_ref / t_ours,
        "pyscf_cubegen_density_s": t_ref_file, "rhoml_eval_and_write_s": t_ours_file,
        "file_speedup": t_ref_file / t_ours_file, "max_abs_diff": diff,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--qm9-indices", default="1000,20000,120000",
                    help="QM9 molecules (positions in the qm9pack list)")  # fmt: skip
    ap.add_argument("--spacing", type=float, default=0.2, help="Å")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for qi in [int(x) for x in args.qm9_indices.split(",")]:
        rows.append(measure(qi, args.spacing, args.repeats))
        print(rows[-1])
    speedups = [r["eval_speedup"] for r in rows]
    data = {
        "title": "DFT density on a 0.2 Å grid: rhoml vs PySCF cubegen",
        "machine": machine(),
        "settings": {"level": "B3LYP/6-31G**", "spacing_angstrom": args.spacing,
                     "margin_bohr": 3.0, "repeats": args.repeats, "statistic": "median"},
        "rows": rows,
        "median_eval_speedup": statistics.median(speedups),
        "goal": ">= 2x at max abs difference <= 1e-8",
    }  # fmt: skip
    lines = [
        "| molecule | atoms | AOs | points | PySCF eval (s) | rhoml (s) | speed-up"
        " | cubegen.density incl. file (s) | rhoml eval+write_cube (s) | speed-up"
        " | max abs diff (e/Bohr³) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| QM9 #{r['qm9_index']} {r['formula']} | {r['n_atoms']} | {r['nao']} | "
            f"{r['n_points']} | {r['pyscf_eval_s']:.3f} | {r['rhoml_eval_s']:.3f} | "
            f"{r['eval_speedup']:.2f}× | {r['pyscf_cubegen_density_s']:.3f} | "
            f"{r['rhoml_eval_and_write_s']:.3f} | {r['file_speedup']:.2f}× | "
            f"{r['max_abs_diff']:.1e} |"
        )
    lines.append(f"\nMedian evaluation speed-up: {data['median_eval_speedup']:.2f}× (goal ≥ 2×).")
    write_results("grid_eval_vs_cubegen", data, "\n".join(lines))


if __name__ == "__main__":
    main()

"""Cost of pocket densities for PDBbind voxels: promolecule vs GFN2-xTB, on real complexes.

For the first N complexes of the PDBbind sample: the pocket re-cut to whole residues within
``--cutoff`` Å of the ligand (charge from residue names and protonation, no caps at cut bonds,
:func:`rhoml.bench.pdbbind_protocol.cut_pocket`), then the density of the pocket alone with each
engine (one thread), and the 24 Å / 0.5 Å (48³) ρ + |∇ρ| voxels. Failures (e.g. SCF not
converged) are recorded, not hidden.

Run: OMP_NUM_THREADS=1 python benchmarks/voxel_pocket_xtb.py --n 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--cutoff", type=float, default=6.0)
    ap.add_argument("--root", default="../shared/data/pdbbind_sample")
    args = ap.parse_args()
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.bench.pdbbind_protocol import cut_pocket, load_complexes
    from rhoml.density import compute
    from rhoml.errors import RhomlError
    from rhoml.represent.voxel import Voxelizer, VoxelSpec, group_molecule

    torch.set_num_threads(1)
    mols, _ = load_complexes(args.root, max_ligand=11.5)
    spec = VoxelSpec(size=24.0, spacing=0.5, channels=("density", "gradient"), overflow="crop",
                     center_group=1)  # fmt: skip
    rows, table = [], ["| complex | pocket atoms | engine | density s | voxels s | note |",
                       "|---|---:|---|---:|---:|---|"]  # fmt: skip
    for m in mols[: args.n]:
        cut = cut_pocket(m, args.cutoff)
        pocket = group_molecule(cut, 0)
        for engine in ("promolecule", "xtb"):
            t0 = time.perf_counter()
            note = ""
            try:
                dens = compute(pocket, engine)
            except RhomlError as exc:
                dens, note = None, str(exc)[:80]
            t_dens = time.perf_counter() - t0
            t_vox = float("nan")
            if dens is not None:
                t1 = time.perf_counter()
                Voxelizer(spec)([cut], [[dens]], centers=[cut.positions[cut.groups == 1].mean(0)])
                t_vox = time.perf_counter() - t1
            rows.append({"complex": m.id, "pocket_atoms": pocket.n_atoms, "engine": engine,
                         "pocket_charge": pocket.charge, "density_seconds": t_dens,
                         "voxel_seconds": t_vox, "note": note})  # fmt: skip
            table.append(f"| {m.id} | {pocket.n_atoms} | {engine} | {t_dens:.2f} | {t_vox:.2f} "
                         f"| {note} |")  # fmt: skip
            _write(args, rows, table, machine, write_results)  # after every row: partial results


def _write(args, rows, table, machine, write_results) -> None:
    med = {}
    for e in ("promolecule", "xtb"):
        vals = [r["density_seconds"] for r in rows if r["engine"] == e]
        if vals:
            med[e] = float(np.median(vals))
    lines = list(table)
    if len(med) == 2:
        ratio = med["xtb"] / med["promolecule"]
        lines += ["", f"Median density time: promolecule {med['promolecule']:.2f} s, xTB "
                      f"{med['xtb']:.2f} s (ratio {ratio:.0f}x)."]  # fmt: skip
    write_results(
        "voxel_pocket_xtb",
        {"title": f"Pocket densities (residues within {args.cutoff} Å): promolecule vs GFN2-xTB",
         "machine": machine(), "load_average_1min": os.getloadavg()[0], "rows": rows,
         "median_density_seconds": med},
        "\n".join(lines) + f"\n\n1-minute load average: {os.getloadavg()[0]:.1f} (shared machine).",
    )  # fmt: skip


if __name__ == "__main__":
    main()

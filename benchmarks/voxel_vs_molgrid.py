"""Voxelisation throughput: rhoml's torch voxeliser vs libmolgrid on the same inputs, one CPU core.

Cases (as in issue 3):
  * complex: 2,000 atoms (a PDBbind-sample pocket/protein cut to the 2,000 atoms nearest the ligand
    centroid, plus the ligand), 48³ grid at 0.5 Å, 28 atom-type channels (14 protein + 14 ligand
    element channels);
  * qm9: QM9 molecules without fluorine, 32³ grid at 0.5 Å, 4 atom-type channels (H, C, N, O).
Both tools get the same coordinates, type indices and grid; their kernels differ (rhoml: a
normalised Gaussian, σ = 0.5 Å, cut at 4σ; libmolgrid: exp(−2d²/r²) to r then a quadratic tail to
1.5 r, with r = the per-type radius passed in, here 1.0–1.9 Å), so the work per atom is similar but
not identical. rhoml is also timed with its density channels (promolecule / xTB ρ and |∇ρ|), which
libmolgrid cannot compute. libmolgrid (PyPI ``molgrid`` 0.5.5) needs numpy<2, so it runs in its
own virtual environment (``--molgrid-python``, default /tmp/molgrid-venv/bin/python).

Run: OMP_NUM_THREADS=1 python benchmarks/voxel_vs_molgrid.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

COMPLEX_ELEMENTS = ("H", "C", "N", "O", "S", "P", "F", "Cl", "Br", "I", "Zn", "Mg", "Ca", "X")
QM9_ELEMENTS = ("H", "C", "N", "O")
RADII = {"H": 1.0, "C": 1.7, "N": 1.6, "O": 1.5, "S": 1.9, "P": 1.9, "F": 1.5, "Cl": 1.8,
         "Br": 1.9, "I": 1.9, "Zn": 1.2, "Mg": 1.2, "Ca": 1.2, "X": 1.5}  # fmt: skip


def _molgrid_worker(npz: str, repeats: int) -> None:
    """Runs inside the molgrid venv: time GridMaker.forward on the saved inputs, print JSON."""
    import molgrid

    molgrid.set_gpu_enabled(False)
    data = np.load(npz, allow_pickle=False)
    out = {}
    for case in ("complex", "qm9"):
        n_mol = int(data[f"{case}_n"])
        res, dim, n_types = (float(data[f"{case}_res"]), float(data[f"{case}_dim"]),
                             int(data[f"{case}_types"]))  # fmt: skip
        gm = molgrid.GridMaker(resolution=res, dimension=dim)
        shape = gm.grid_dimensions(n_types)
        array = np.zeros(tuple(shape), dtype=np.float32)
        grid = molgrid.Grid4f(array)
        mols = []
        for i in range(n_mol):
            c = data[f"{case}_coords_{i}"].astype(np.float32)
            t = data[f"{case}_typeidx_{i}"].astype(np.float32)
            r = data[f"{case}_radii_{i}"].astype(np.float32)
            centre = tuple(float(x) for x in data[f"{case}_centre_{i}"])
            mols.append((centre, c, t, r))
        times = []
        for _ in range(repeats):
            for centre, c, t, r in mols:
                t0 = time.perf_counter()
                gm.forward(molgrid.float3(*centre), molgrid.Grid2f(c), molgrid.Grid1f(t),
                           molgrid.Grid1f(r), grid)  # fmt: skip
                times.append(time.perf_counter() - t0)
        total = float(array.sum())
        out[case] = {"seconds": times, "grid_shape": list(shape), "checksum": total}
    print(json.dumps(out))


def _inputs(n_qm9: int):
    from rhoml.io.pdbbind import iter_pdbbind
    from rhoml.io.qm9 import load_qm9
    from rhoml.molecule import Molecule

    big = None
    for m in iter_pdbbind("../shared/data/pdbbind_sample", pocket=False, on_error="skip"):
        if (m.groups == 0).sum() >= 2000 and np.ptp(m.positions[m.groups == 1], 0).max() < 20:
            big = m
            break
    lig = big.groups == 1
    centre = big.positions[lig].mean(0)
    prot = np.nonzero(~lig)[0]
    keep = prot[np.argsort(np.linalg.norm(big.positions[prot] - centre, axis=1))]
    keep = keep[: 2000 - int(lig.sum())]
    sel = np.concatenate([np.sort(keep), np.nonzero(lig)[0]])
    mult = 1 + int(big.numbers[sel].sum()) % 2
    cplx = Molecule(
        big.numbers[sel], big.positions[sel], id=big.id, groups=big.groups[sel], multiplicity=mult
    )
    qm9 = [m for m in load_qm9(limit=4 * n_qm9) if 9 not in m.numbers][:n_qm9]
    return cplx, qm9


def _type_index(mol, elements, separate: bool):
    sym = mol.symbols
    idx = np.array([elements.index(s) if s in elements else elements.index("X") for s in sym])
    if separate:
        idx = idx + len(elements) * (mol.groups == 1)
    radii = np.array([RADII.get(s, 1.5) for s in sym])
    return idx, radii


def _time_rhoml(vox, mols, repeats: int, densities=None):
    import torch

    times = []
    for _ in range(repeats):
        for i, m in enumerate(mols):
            t0 = time.perf_counter()
            vox([m], None if densities is None else [densities[i]])
            times.append(time.perf_counter() - t0)
    del torch
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molgrid-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--molgrid-python", default="/tmp/molgrid-venv/bin/python")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n-qm9", type=int, default=50)
    args = ap.parse_args()
    if args.molgrid_worker:
        _molgrid_worker(args.molgrid_worker, args.repeats)
        return
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.represent.torch_density import TorchDensity
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    torch.set_num_threads(1)
    cplx, qm9 = _inputs(args.n_qm9)
    cases = {
        "complex": dict(mols=[cplx], res=0.5, n=48, elements=COMPLEX_ELEMENTS, separate=True),
        "qm9": dict(mols=qm9, res=0.5, n=32, elements=QM9_ELEMENTS, separate=False),
    }
    # -- libmolgrid in its own venv
    payload = {}
    for name, c in cases.items():
        payload[f"{name}_n"] = len(c["mols"])
        payload[f"{name}_res"] = c["res"]
        payload[f"{name}_dim"] = c["res"] * (c["n"] - 1)  # molgrid: points = dim/res + 1
        payload[f"{name}_types"] = len(c["elements"]) * (2 if c["separate"] else 1)
        for i, m in enumerate(c["mols"]):
            ti, r = _type_index(m, c["elements"], c["separate"])
            centre = m.positions[m.groups == 1].mean(0) if c["separate"] else m.centroid()
            payload[f"{name}_coords_{i}"] = m.positions
            payload[f"{name}_typeidx_{i}"] = ti
            payload[f"{name}_radii_{i}"] = r
            payload[f"{name}_centre_{i}"] = centre
    molgrid_res, molgrid_error = None, None
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "inputs.npz"
        np.savez(npz, **payload)
        try:
            proc = subprocess.run(
                [args.molgrid_python, __file__, "--molgrid-worker", str(npz),
                 "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )  # fmt: skip
            molgrid_res = json.loads(proc.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as exc:
            molgrid_error = f"{type(exc).__name__}: {getattr(exc, 'stderr', '') or exc}"[:500]
    # -- rhoml
    rows = {}
    for name, c in cases.items():
        spec = VoxelSpec(size=c["res"] * c["n"], spacing=c["res"], channels=("atoms",),
                         elements=c["elements"], separate_groups=c["separate"],
                         center_group=1 if c["separate"] else None, overflow="crop")  # fmt: skip
        vox = Voxelizer(spec)
        assert vox.shape[1] == c["n"]
        rows[f"{name}: rhoml atom types ({spec.n_channels} ch, {c['n']}³)"] = _time_rhoml(
            vox, c["mols"], args.repeats
        )
        if molgrid_res:
            rows[f"{name}: libmolgrid atom types ({spec.n_channels} ch, {c['n']}³)"] = molgrid_res[
                name
            ]["seconds"]
    # rhoml density channels (precomputed densities; engine time reported separately)
    from rhoml.density import compute

    spec = VoxelSpec(size=16.0, spacing=0.5, channels=("density", "gradient"), overflow="crop")
    dens = [TorchDensity(compute(m, "xtb")) for m in qm9]
    rows["qm9: rhoml xTB ρ + |∇ρ| (2 ch, 32³)"] = _time_rhoml(Voxelizer(spec), qm9, args.repeats,
                                                             [[d] for d in dens])  # fmt: skip
    spec = VoxelSpec(size=24.0, spacing=0.5, channels=("density", "gradient"),
                     separate_groups=True, center_group=1, overflow="crop")  # fmt: skip
    vox = Voxelizer(spec, engine="promolecule")
    cd = vox.densities_for(cplx)
    rows["complex: rhoml promolecule ρ + |∇ρ| (4 ch, 48³)"] = _time_rhoml(
        vox, [cplx], max(1, args.repeats // 2), [[TorchDensity(d) for d in cd]]
    )
    table = ["| case | median ms / grid | grids/s (1 core) |", "|---|---:|---:|"]
    results = {}
    for k, v in rows.items():
        med = float(np.median(v))
        results[k] = {"median_seconds": med, "grids_per_second": 1.0 / med, "n": len(v)}
        table.append(f"| {k} | {1e3 * med:.2f} | {1.0 / med:.1f} |")
    ratios = {}
    for name in cases:
        a = [k for k in results if k.startswith(f"{name}: rhoml atom")]
        b = [k for k in results if k.startswith(f"{name}: libmolgrid")]
        if a and b:
            ratios[name] = results[a[0]]["grids_per_second"] / results[b[0]]["grids_per_second"]
    table.append("")
    table.append("rhoml / libmolgrid throughput (atom types): " + ", ".join(
        f"{k} {v:.2f}x" for k, v in ratios.items()) if ratios else
        f"libmolgrid not measured: {molgrid_error}")  # fmt: skip
    write_results(
        "voxel_vs_molgrid",
        {"title": "Voxelisation throughput: rhoml vs libmolgrid (one CPU core)",
         "machine": machine(), "results": results, "ratios_rhoml_over_molgrid": ratios,
         "molgrid_error": molgrid_error, "complex_id": cplx.id, "complex_atoms": cplx.n_atoms,
         "qm9_molecules": len(qm9), "torch_threads": 1},
        "\n".join(table),
    )  # fmt: skip


if __name__ == "__main__":
    main()

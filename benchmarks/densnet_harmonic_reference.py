"""DFT harmonic IR reference for any DenSNet system at the label level (PBE/def2-SVP, RI-J, grid 4).

The generalisation of ``densnet_harmonic_dft.py`` (ethanol) to any system name or SMILES of
:mod:`rhoml.densnet.systems`: RDKit build → GFN2-xTB pre-optimisation → ASE BFGS on PySCF forces
(fmax 0.01 eV/Å) → Hessian and dipole derivatives by central differences (0.005 Å) of analytic
PySCF gradients and SCF dipoles (:func:`rhoml.md.ir.harmonic_ir`). Every PySCF call is cached on
disk under ``runs/densnet/harmonic/<name>/`` (keyed by the geometry), so a killed run resumes.
Writes benchmarks/results/densnet_harmonic_<name>.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/densnet_harmonic_reference.py ethanethiol
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402

from rhoml.densnet.systems import build_molecule, preoptimise, resolve  # noqa: E402
from rhoml.md.calculator import dft_function  # noqa: E402
from rhoml.md.ir import harmonic_ir, optimise  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402


def cached(fn, folder: Path, stats: dict):
    """``fn`` (Molecule → {energy, forces, dipole}) with results stored per geometry in ``folder``
    (npz named by a hash of numbers and positions rounded to 1e-8 Å)."""
    folder.mkdir(parents=True, exist_ok=True)

    def wrapped(mol: Molecule) -> dict:
        key = np.concatenate([mol.numbers.astype(float), np.round(mol.positions, 8).ravel()])
        path = folder / f"{hashlib.sha1(key.tobytes()).hexdigest()[:16]}.npz"
        if path.exists():
            with np.load(path) as z:
                return {k: (float(z[k]) if z[k].ndim == 0 else z[k]) for k in z.files}
        t = time.perf_counter()
        out = fn(mol)
        stats["calls"] = stats.get("calls", 0) + 1
        stats["seconds"] = stats.get("seconds", 0.0) + time.perf_counter() - t
        np.savez(path, **{k: np.asarray(v) for k, v in out.items()})
        return out

    return wrapped


def reference(system: str, fmax: float = 0.01, progress: bool = True) -> dict:
    """Harmonic DFT IR of ``system`` (name or SMILES); writes and returns the results dict."""
    name, smiles = resolve(system)
    stats: dict = {}
    fn = cached(dft_function(), Path("runs/densnet/harmonic") / name, stats)
    start = preoptimise(build_molecule(system))
    t = time.perf_counter()
    opt = optimise(fn, start, fmax=fmax, log="-" if progress else None)
    opt_s = time.perf_counter() - t
    t = time.perf_counter()
    h = harmonic_ir(fn, opt, progress=progress)
    h_s = time.perf_counter() - t
    data = {
        "title": f"DFT harmonic IR of {name} (PBE/def2-SVP, PySCF, finite differences)",
        "machine": machine(),
        "system": name,
        "smiles": smiles,
        "level": "PBE/def2-SVP RI-J grid 4",
        "new_pyscf_calls": stats.get("calls", 0),
        "seconds_per_pyscf_call": stats["seconds"] / stats["calls"] if stats.get("calls") else None,
        "optimise_seconds": opt_s,
        "harmonic_seconds": h_s,
        "frequencies_cm-1": h.frequencies.tolist(),
        "intensities_km_mol": h.intensities.tolist(),
        "positions_angstrom": h.positions.tolist(),
        "numbers": opt.numbers.tolist(),
    }
    rows = "\n".join(f"| {f:.1f} | {i:.2f} |" for f, i in h.table())
    per = data["seconds_per_pyscf_call"]
    table = (
        f"{name} ({smiles}), {len(opt.numbers)} atoms. New PySCF energy+gradient calls this run: "
        f"{data['new_pyscf_calls']}"
        + (f", {per:.1f} s each (1 thread, shared machine)" if per else " (all cached)")
        + ".\n\n| harmonic frequency (cm⁻¹) | IR intensity (km/mol) |\n|---|---|\n"
        + rows
    )
    write_results(f"densnet_harmonic_{name}", data, table)
    return data


def load_reference(name: str) -> dict | None:
    """The stored reference of ``name`` (from :func:`reference`), or None."""
    import json

    p = RESULTS / f"densnet_harmonic_{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("system", help="ethanethiol | resorcinol | thiophene-N | SMILES")
    ap.add_argument("--fmax", type=float, default=0.01, help="DFT relaxation threshold, eV/Å")
    args = ap.parse_args()
    reference(args.system, args.fmax)


if __name__ == "__main__":
    main()

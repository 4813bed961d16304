"""DFT harmonic IR reference for any DenSNet system at the label level (PBE/def2-SVP, RI-J, grid 4).

The generalisation of ``densnet_harmonic_dft.py`` (ethanol) to any system name or SMILES of
:mod:`rhoml.md.sampling`: RDKit build → GFN2-xTB pre-optimisation → ASE BFGS on PySCF forces
(fmax 0.01 eV/Å) → harmonic IR. Two ways to the Hessian (same level of theory):

* ``--hessian fd`` (as for ethanol): central differences (0.005 Å) of analytic gradients and SCF
  dipoles, 6N PySCF gradient calls;
* ``--hessian analytic`` (default; about 3× cheaper on CPU): PySCF's analytic DF-RKS Hessian, and
  dipole derivatives by one-sided differences (0.005 Å) of 3N SCF dipoles (started from the
  minimum's density matrix). Intensities then carry an O(step) error; frequencies do not.
  The normal-mode analysis is :func:`rhoml.md.ir.harmonic_ir` applied to the exactly quadratic
  model built from the analytic Hessian (its central differences return that Hessian to
  round-off), so both routes share one implementation of modes and intensities.

Every PySCF call is cached on disk under ``runs/densnet/harmonic/<name>/`` (keyed by the
geometry), so a killed run resumes. Writes benchmarks/results/densnet_harmonic_<name>.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/densnet_harmonic_reference.py ethanethiol
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402

from rhoml.md.ir import harmonic_ir, optimise  # noqa: E402
from rhoml.md.reference import dft_potential  # noqa: E402
from rhoml.md.sampling import build_molecule, preoptimise, resolve  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402
from rhoml.store.labels import LabelSettings  # noqa: E402


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


def _mean_field(mol: Molecule):
    """Converged PySCF DF-RKS at the label level (:class:`LabelSettings`) and its PySCF mol."""
    from pyscf import dft

    from rhoml.density.basis import build_mol
    from rhoml.errors import CalculationError

    s = LabelSettings()
    pmol = build_mol(mol, s.basis)
    mf = dft.RKS(pmol)
    mf.xc, mf.grids.level, mf.conv_tol, mf.verbose = s.functional, s.grid_level, s.conv_tol, 0
    return mf.density_fit(), CalculationError


def analytic_model(opt: Molecule, step: float, folder: Path, stats: dict, progress: bool):
    """A function Molecule → {energy, forces, dipole} that is exactly quadratic around ``opt``
    (analytic DFT Hessian, kcal/mol/Å²) with dipoles from SCF at opt + step·e_k (one-sided)."""
    from tqdm.auto import tqdm

    from rhoml.units import convert

    folder.mkdir(parents=True, exist_ok=True)
    n3 = 3 * opt.n_atoms
    hfile = folder / "hessian.npz"
    mf, err = _mean_field(opt)
    t = time.perf_counter()
    mf.kernel()
    if not mf.converged:
        raise err(f"{opt.id}: SCF not converged at the minimum")
    dm0 = mf.make_rdm1()
    mu0 = np.asarray(mf.dip_moment(unit="Debye", verbose=0))
    timings = folder / "timings.json"  # seconds measured when the cache was filled
    done = json.loads(timings.read_text()) if timings.exists() else {}
    if hfile.exists():
        hess = np.load(hfile)["hessian"]
    else:
        h = np.asarray(mf.Hessian().kernel())  # (natm, natm, 3, 3) Hartree/Bohr²
        per_a2 = convert(1.0, "hartree", "kcal/mol") * convert(1.0, "angstrom^2", "bohr^2")
        hess = h.transpose(0, 2, 1, 3).reshape(n3, n3) * per_a2  # kcal/mol/Å²
        np.savez(hfile, hessian=hess)
        stats["hessian_seconds"] = time.perf_counter() - t
    dips = np.zeros((n3, 3))
    for k in tqdm(range(n3), desc="SCF dipoles", disable=not progress):
        f = folder / f"dipole_{k}_{step}.npy"
        if f.exists():
            dips[k] = np.load(f)
            continue
        p = opt.positions.copy()
        p[k // 3, k % 3] += step
        t = time.perf_counter()
        mfk, _ = _mean_field(Molecule(opt.numbers, p, opt.charge, opt.multiplicity, opt.id))
        mfk.kernel(dm0=dm0)
        if not mfk.converged:
            raise err(f"{opt.id}: SCF not converged at displacement {k}")
        dips[k] = mfk.dip_moment(unit="Debye", verbose=0)
        stats["scf_calls"] = stats.get("scf_calls", 0) + 1
        stats["scf_seconds"] = stats.get("scf_seconds", 0.0) + time.perf_counter() - t
        np.save(f, dips[k])
    for key in ("hessian_seconds", "scf_calls", "scf_seconds"):
        done[key] = done.get(key, 0) + stats.get(key, 0)
    timings.write_text(json.dumps(done))
    stats["cache_filled_with"] = done
    x0 = opt.positions.ravel()

    def fn(mol: Molecule) -> dict:
        dx = mol.positions.ravel() - x0
        k = int(np.argmax(np.abs(dx)))
        sign = 1.0 if abs(dx[k]) < 1e-12 else np.sign(dx[k]) * abs(dx[k]) / step
        return {
            "energy": float(0.5 * dx @ hess @ dx),
            "forces": -(hess @ dx).reshape(-1, 3),
            "dipole": mu0 + sign * (dips[k] - mu0),  # linear in the displacement
        }

    return fn


def reference(
    system: str, fmax: float = 0.01, hessian: str = "analytic", progress: bool = True
) -> dict:
    """Harmonic DFT IR of ``system`` (name or SMILES); writes and returns the results dict."""
    name, smiles = resolve(system)
    stats: dict = {}
    folder = Path("runs/densnet/harmonic") / name
    fn = cached(dft_potential().compute, folder, stats)
    start = preoptimise(build_molecule(system))
    t = time.perf_counter()
    opt = optimise(fn, start, fmax=fmax, log="-" if progress else None)
    opt_s = time.perf_counter() - t
    t = time.perf_counter()
    if hessian == "fd":
        h = harmonic_ir(fn, opt, progress=progress)
    else:
        model = analytic_model(opt, 0.005, folder / "analytic", stats, progress)
        h = harmonic_ir(model, opt, step=0.005)
    h_s = time.perf_counter() - t
    data = {
        "title": f"DFT harmonic IR of {name} (PBE/def2-SVP, PySCF, {hessian} Hessian)",
        "machine": machine(),
        "system": name,
        "smiles": smiles,
        "level": "PBE/def2-SVP RI-J grid 4",
        "fmax_eV_per_angstrom": fmax,
        "hessian": hessian,
        "stats": stats,
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
    filled = stats.get("cache_filled_with", {})
    cost = (
        f" Analytic DF-RKS Hessian {filled.get('hessian_seconds', 0):.0f} s, "
        f"{filled.get('scf_calls', 0)} displaced SCF dipoles "
        f"{filled.get('scf_seconds', 0):.0f} s (when computed; 1 thread, shared loaded machine)."
        if hessian == "analytic"
        else ""
    )
    table = (
        f"{name} ({smiles}), {len(opt.numbers)} atoms, relaxed to fmax {fmax} eV/Å. New PySCF "
        f"energy+gradient calls this run: {data['new_pyscf_calls']}"
        + (f", {per:.1f} s each" if per else " (optimisation replayed from the cache)")
        + f".{cost}\n\n| harmonic frequency (cm⁻¹) | IR intensity (km/mol) |\n|---|---|\n"
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
    ap.add_argument("--hessian", choices=["analytic", "fd"], default="analytic")
    args = ap.parse_args()
    reference(args.system, args.fmax, args.hessian)


if __name__ == "__main__":
    main()

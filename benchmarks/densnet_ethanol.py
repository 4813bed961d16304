"""DenSNet on rMD17 ethanol: density NMAE, energies, forces, dipoles on held-out frames, and the
check that PySCF labels reproduce rMD17.

NMAE = ∫|ρ_a − ρ_b| dr / N_e on PySCF Becke grids (level 3) for: the Δ model vs the DFT density
(density matrix), the Δ model vs its target (the aux-basis fit), the fit vs DFT (basis error
floor), the promolecule prior alone vs DFT, and the full-density ablation (same budget).

    OMP_NUM_THREADS=1 python benchmarks/densnet_ethanol.py runs/densnet/ethanol.rhoml \
        runs/densnet/ethanol_delta.pt runs/densnet/ethanol_full.pt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.density import compare as metrics  # noqa: E402
from rhoml.families.densnet_train import evaluate  # noqa: E402
from rhoml.represent.coefficients import label_values, load_frames  # noqa: E402
from rhoml.store.labels import LabelSettings  # noqa: E402
from rhoml.store.sqlite_store import Store  # noqa: E402


def rmd17_agreement(store_path) -> dict:
    """PySCF labels vs rMD17 labels: energy offset (mean, spread) and force MAE."""
    method = LabelSettings().method
    de, fe, fmax = [], [], []
    with Store.open(store_path, readonly=True) as st:
        for rec in st.records(method):
            mol = st.molecule(rec["molecule"])
            if rec["status"] != "ok" or "energy" not in mol.labels:
                continue
            energy, f = label_values(rec, f"{store_path}: molecule {rec['molecule']}")
            de.append(energy - mol.labels["energy"])
            diff = np.abs(f - np.asarray(mol.labels["forces"]))
            fe.append(diff.mean())
            fmax.append(diff.max())
    de = np.asarray(de)
    return {
        "n": len(de),
        "energy_offset_mean_kcal_mol": float(de.mean()),
        "energy_offset_std_kcal_mol": float(de.std()),
        "energy_mae_after_offset_kcal_mol": float(np.mean(np.abs(de - de.mean()))),
        "force_mae_kcal_mol_angstrom": float(np.mean(fe)),
        "force_max_abs_kcal_mol_angstrom": float(np.max(fmax)),
    }


def density_errors(model, frames, label_store, limit: int | None) -> dict:
    method = LabelSettings().method
    rows = {k: [] for k in ("model_vs_dft", "model_vs_fit", "fit_vs_dft", "prior_vs_dft")}
    basis = model.basis.pyscf_basis()
    t0 = time.perf_counter()
    with Store.open(label_store, readonly=True) as st:
        for f in frames[:limit]:
            dens = st.density(f.store_index, method)
            pts, w = metrics.becke_grid(f.molecule, level=3)
            n_e = float(f.molecule.numbers.sum())
            rho_dft = metrics.density_on_points(dens, pts)
            c = model.predict(f.molecule, forces=False, dipole=False)["coeff"]
            prior = model.coeff_net.prior_vector(f.molecule.numbers)
            rho_m, rho_f, rho_p = metrics.aux_on_points(
                f.molecule, basis, np.stack([c, f.coeff, prior], axis=1), pts
            ).T
            rows["model_vs_dft"].append(metrics.nmae(rho_m, rho_dft, w, n_e))
            rows["model_vs_fit"].append(metrics.nmae(rho_m, rho_f, w, n_e))
            rows["fit_vs_dft"].append(metrics.nmae(rho_f, rho_dft, w, n_e))
            rows["prior_vs_dft"].append(metrics.nmae(rho_p, rho_dft, w, n_e))
    n = len(rows["model_vs_dft"])
    return {
        k: {"mean_percent": 100 * float(np.mean(v)), "median_percent": 100 * float(np.median(v))}
        for k, v in rows.items()
    } | {"n": len(rows["model_vs_dft"]), "seconds_per_frame": (time.perf_counter() - t0) / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("delta_model")
    ap.add_argument("full_model", nargs="?")
    ap.add_argument("--limit", type=int, default=None, help="test frames for NMAE (default all)")
    args = ap.parse_args()
    delta = runs.load(args.delta_model).model.module  # run folders
    frames = load_frames(args.store, delta.basis, progress=False)
    test = [f for f in frames if f.split == "test"]
    out = {
        "title": "DenSNet on rMD17 ethanol (PBE/def2-SVP labels)",
        "machine": machine(),
        "rmd17_vs_pyscf": rmd17_agreement(args.store),
        "n_train": delta.meta.get("n_train"),
        "n_test": len(test),
        "basis": delta.basis.name,
    }
    out["delta"] = {
        "test": evaluate(delta, test),
        "nmae": density_errors(delta, test, args.store, args.limit),
    }
    if args.full_model:
        full = runs.load(args.full_model).model.module
        out["full"] = {
            "test": evaluate(full, test),
            "nmae": density_errors(full, test, args.store, args.limit),
        }
    r, d = out["rmd17_vs_pyscf"], out["delta"]
    lines = [
        f"Train frames {out['n_train']}, test frames {len(test)} (rMD17 split 01), aux basis "
        f"{out['basis']}.\n",
        "| quantity | value |",
        "|---|---|",
        f"| PySCF − rMD17 energy offset (mean ± std, {r['n']} frames) | "
        f"{r['energy_offset_mean_kcal_mol']:.4f} ± "
        f"{r['energy_offset_std_kcal_mol']:.4f} kcal/mol |",
        f"| PySCF vs rMD17 force MAE (max) | {r['force_mae_kcal_mol_angstrom']:.4f} "
        f"({r['force_max_abs_kcal_mol_angstrom']:.4f}) kcal/mol/Å |",
    ]
    for name in ("delta", "full"):
        if name not in out:
            continue
        n, t = out[name]["nmae"], out[name]["test"]
        lines += [
            f"| [{name}] NMAE model vs DFT (mean / median) | "
            f"{n['model_vs_dft']['mean_percent']:.3f}"
            f" / {n['model_vs_dft']['median_percent']:.3f} % |",
            f"| [{name}] NMAE model vs its fitted target | "
            f"{n['model_vs_fit']['mean_percent']:.3f} % |",
            f"| [{name}] Coulomb error (δρ|δρ) vs fit | {t['coulomb_error_hartree']:.2e} Ha |",
            f"| [{name}] dipole MAE vs fitted DFT density (per component) | "
            f"{t['dipole_mae_debye']:.4f} D |",
        ]
    n = d["nmae"]
    lines += [
        f"| NMAE fit vs DFT (basis floor) | {n['fit_vs_dft']['mean_percent']:.3f} % |",
        f"| NMAE promolecule prior alone vs DFT | {n['prior_vs_dft']['mean_percent']:.3f} % |",
        f"| [delta] energy MAE | {d['test']['energy_mae_kcal_mol']:.3f} kcal/mol |",
        f"| [delta] force MAE | {d['test']['force_mae_kcal_mol_angstrom']:.3f} kcal/mol/Å |",
    ]
    write_results("densnet_ethanol", out, "\n".join(lines))
    print(json.dumps(out["delta"], indent=1))


if __name__ == "__main__":
    main()

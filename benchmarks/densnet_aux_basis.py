"""DenSNet aux-basis floor: how close can a fitted density get to the DFT density?

For a few labelled ethanol frames (PBE/def2-SVP density matrices from the label store), fit the
density onto candidate auxiliary bases and measure NMAE = ∫|ρ_fit − ρ_DFT| dr / N_e on a Becke
grid (level 3; level 5 checked on the first frame). Two fits per basis:

* Coulomb metric, electron count preserved (``rhoml.density.fit.fit_density``: the DenSNet
  training target);
* overlap metric (least squares in L², electron count preserved), for comparison.

The floor of the Coulomb fit bounds every model trained on that target. Also reported: functions
per C/H atom and per ethanol, and the fit time (median per frame, Coulomb fit).

    OMP_NUM_THREADS=1 python benchmarks/densnet_aux_basis.py runs/densnet/ethanol.rhoml
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

from rhoml.density import compare as metrics  # noqa: E402
from rhoml.density.basis import basis_only_mol, function_integrals  # noqa: E402
from rhoml.density.fit import fit_density  # noqa: E402
from rhoml.density.flexible_basis import FlexibleBasis  # noqa: E402
from rhoml.store.labels import LabelSettings  # noqa: E402
from rhoml.store.sqlite_store import Store  # noqa: E402

ALL = 10  # "no truncation" of l
CANDIDATES = [  # (label, PySCF / generated basis name, lmax per element)
    ("def2-universal-jfit l≤2/3 (shipped)", "def2-universal-jfit", {"H": 2, "C": 3, "O": 3}),
    ("def2-universal-jfit", "def2-universal-jfit", ALL),
    ("def2-universal-jkfit", "def2-universal-jkfit", ALL),
    ("def2-svp-ri", "def2-svp-ri", ALL),
    ("def2-tzvpp-ri", "def2-tzvpp-ri", ALL),
    ("cc-pvtz-jkfit", "cc-pvtz-jkfit", ALL),
    ("cc-pvqz-jkfit", "cc-pvqz-jkfit", ALL),
    ("def2-qzvpp-ri", "def2-qzvpp-ri", ALL),
    ("autoaux(def2-SVP)", "autoaux:def2-svp", ALL),
    ("even-tempered aug_etb(def2-SVP, β=2.0)", "etb:def2-svp:2.0", ALL),
    ("even-tempered aug_etb(def2-SVP, β=2.0) l≤2/3", "etb:def2-svp:2.0", {"H": 2, "C": 3, "O": 3}),
    ("even-tempered aug_etb(def2-SVP, β=1.9)", "etb:def2-svp:1.9", ALL),
    ("even-tempered aug_etb(def2-SVP, β=1.8) (chosen)", "etb:def2-svp:1.8", ALL),
    ("even-tempered aug_etb(def2-SVP, β=1.8) l≤2/3", "etb:def2-svp:1.8", {"H": 2, "C": 3, "O": 3}),
    ("even-tempered aug_etb(def2-SVP, β=1.7)", "etb:def2-svp:1.7", ALL),
    ("even-tempered aug_etb(def2-SVP, β=1.6)", "etb:def2-svp:1.6", ALL),
    ("autoaux(def2-TZVP)", "autoaux:def2-tzvp", ALL),
    ("even-tempered aug_etb(def2-TZVP, β=2.0)", "etb:def2-tzvp:2.0", ALL),
]


def overlap_fit(dens, basis: dict) -> np.ndarray:
    """Aux coefficients minimising ∫(ρ − ρ̃)² with ∫ρ̃ = ∫ρ (L² metric), PySCF order."""
    from pyscf import df, lib

    aux = basis_only_mol(dens.molecule, basis)
    mol = dens.mol
    dm = dens.data
    ints = df.incore.aux_e2(mol, aux, "int3c1e", aosym="s2ij")  # (npair, naux)
    b = lib.pack_tril(dm + dm.T - np.diag(np.diag(dm))) @ ints
    s = aux.intor("int1e_ovlp")
    cho = scipy.linalg.cho_factor(s + 1e-12 * np.eye(len(s)) * np.abs(s).max())
    c = scipy.linalg.cho_solve(cho, b)
    q, _ = function_integrals(aux)
    sq = scipy.linalg.cho_solve(cho, q)
    return c + (dens.electron_count() - q @ c) / (q @ sq) * sq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("--frames", type=int, default=5)
    args = ap.parse_args()
    method = LabelSettings().method
    with Store.open(args.store, readonly=True) as st:
        idx = sorted(st.finished(method, include_failed=False))
        dens = [st.density(i, method) for i in idx[: args.frames]]
    grids, rho_dft = [], []
    for d in dens:
        pts, w = metrics.becke_grid(d.molecule, level=3)
        grids.append((pts, w))
        rho_dft.append(metrics.density_on_points(d, pts))
    fine_pts, fine_w = metrics.becke_grid(dens[0].molecule, level=5)
    fine_rho = metrics.density_on_points(dens[0], fine_pts)
    rows = []
    for label, name, lmax in CANDIDATES:
        fb = FlexibleBasis.from_pyscf(name, ["H", "C", "O"], lmax)
        pb = fb.pyscf_basis()
        cou, ovl, secs = [], [], []
        for d, (pts, w), rho in zip(dens, grids, rho_dft, strict=True):
            n_e = float(d.molecule.numbers.sum())
            t0 = time.perf_counter()
            c = fit_density(d, pb).data
            secs.append(time.perf_counter() - t0)
            cou.append(metrics.nmae(metrics.aux_on_points(d.molecule, pb, c, pts), rho, w, n_e))
            co = overlap_fit(d, pb)
            ovl.append(metrics.nmae(metrics.aux_on_points(d.molecule, pb, co, pts), rho, w, n_e))
        c0 = fit_density(dens[0], pb).data
        fine = metrics.nmae(
            metrics.aux_on_points(dens[0].molecule, pb, c0, fine_pts),
            fine_rho,
            fine_w,
            float(dens[0].molecule.numbers.sum()),
        )
        n_mol = sum(fb.n_functions(el) for el in ["C", "C", "O"] + ["H"] * 6)
        row = {
            "label": label,
            "basis": name,
            "lmax": lmax,
            "n_functions": {el: fb.n_functions(el) for el in ("H", "C", "O")},
            "n_shells": {el: len(fb.ls(el)) for el in ("H", "C", "O")},
            "n_functions_ethanol": n_mol,
            "coulomb_nmae_percent": [100 * v for v in cou],
            "coulomb_nmae_mean_percent": 100 * float(np.mean(cou)),
            "coulomb_nmae_frame0_grid5_percent": 100 * fine,
            "overlap_nmae_mean_percent": 100 * float(np.mean(ovl)),
            "fit_seconds_median": float(np.median(secs)),
        }
        rows.append(row)
        print(
            f"{label}: {n_mol} fns, Coulomb {row['coulomb_nmae_mean_percent']:.3f} % "
            f"(grid5 {100 * fine:.3f}), overlap {row['overlap_nmae_mean_percent']:.3f} %, "
            f"{row['fit_seconds_median']:.2f} s",
            flush=True,
        )
    load = Path("/proc/loadavg").read_text().split()[:3]
    data = {
        "title": "DenSNet aux-basis floor: fitted vs DFT density (rMD17 ethanol, PBE/def2-SVP)",
        "machine": machine(),
        "frames": [d.molecule.id for d in dens],
        "grid_level": 3,
        "load_average_at_end": load,
        "rows": rows,
    }
    lines = [
        f"{len(dens)} labelled frames ({', '.join(d.molecule.id for d in dens)}); NMAE "
        "= ∫|ρ_fit − ρ_DFT| / N_e on Becke grids (level 3; the level-5 column is frame 0 only). "
        "Fit time is the median per frame of the Coulomb fit (machine shared, load average "
        f"{' '.join(load)}).\n",
        "| aux basis | fns H / C / O | fns per ethanol | NMAE Coulomb fit (%) | "
        "same, grid 5 frame 0 (%) | NMAE overlap fit (%) | fit time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = r["n_functions"]
        lines.append(
            f"| {r['label']} | {n['H']} / {n['C']} / {n['O']} | {r['n_functions_ethanol']} | "
            f"{r['coulomb_nmae_mean_percent']:.3f} | {r['coulomb_nmae_frame0_grid5_percent']:.3f} "
            f"| {r['overlap_nmae_mean_percent']:.3f} | {r['fit_seconds_median']:.2f} |"
        )
    write_results("densnet_aux_basis", data, "\n".join(lines))


if __name__ == "__main__":
    main()

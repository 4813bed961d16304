"""Flexible basis: optimise per-element, per-l exponent scales of def2-universal-jfit (l ≤ 3/2)
on the Coulomb fit error of 2 training DFT densities, then compare fit NMAE vs the DFT density
on 3 held-out frames (Becke grid level 3) before and after.

    OMP_NUM_THREADS=1 python benchmarks/densnet_basis_scales.py runs/densnet/ethanol.rhoml
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

from rhoml.density import compare as metrics  # noqa: E402
from rhoml.density.fit import fit_density  # noqa: E402
from rhoml.density.fit_scales import fit_error, optimise_scales  # noqa: E402
from rhoml.density.flexible_basis import default_basis  # noqa: E402
from rhoml.store.labels import LabelSettings  # noqa: E402
from rhoml.store.sqlite_store import Store  # noqa: E402


def nmae_of_fit(dens, basis) -> float:
    fit = fit_density(dens, basis.pyscf_basis())
    pts, w = metrics.becke_grid(dens.molecule, level=3)
    rho = metrics.density_on_points(dens, pts)
    rho_f = metrics.aux_on_points(dens.molecule, basis.pyscf_basis(), fit.data, pts)
    return 100 * metrics.nmae(rho_f, rho, w, float(dens.molecule.numbers.sum()))


def main() -> None:
    method = LabelSettings().method
    with Store.open(sys.argv[1], readonly=True) as st:
        idx = sorted(st.finished(method, include_failed=False))
        dens = [st.density(i, method) for i in idx]
    train = [d for d in dens if "_train_" in d.molecule.id][:2]
    test = [d for d in dens if "_test_" in d.molecule.id][:3]
    base = default_basis()
    t = time.perf_counter()
    opt, hist = optimise_scales(train, base, steps=(-0.25, 0.25), log=print)
    seconds = time.perf_counter() - t
    before = [nmae_of_fit(d, base) for d in test]
    after = [nmae_of_fit(d, opt) for d in test]
    data = {
        "title": "DenSNet flexible basis: exponent-scale optimisation (ethanol)",
        "machine": machine(),
        "basis": base.name,
        "train_fit_error_hartree": hist,
        "test_fit_error_before_hartree": fit_error(test, base),
        "test_fit_error_after_hartree": fit_error(test, opt),
        "test_fit_nmae_before_percent": before,
        "test_fit_nmae_after_percent": after,
        "log_scales": opt.log_scales,
        "seconds": seconds,
    }
    table = (
        "| | Coulomb fit error, 3 test frames (Ha) | fit NMAE vs DFT (mean %) |\n|---|---|---|\n"
        f"| standard exponents | {data['test_fit_error_before_hartree']:.2e} | "
        f"{np.mean(before):.3f} |\n"
        f"| optimised scales (2 training frames, {seconds:.0f} s) | "
        f"{data['test_fit_error_after_hartree']:.2e} | {np.mean(after):.3f} |"
    )
    write_results("densnet_basis_scales", data, table)


if __name__ == "__main__":
    main()

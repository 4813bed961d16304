"""Optimising the flexible basis: per-element, per-angular-momentum exponent scales chosen to
minimise the Coulomb fit error (δρ|δρ) (Hartree) of DFT densities (coordinate descent on
log-scales; each trial is an exact Coulomb-metric fit with PySCF integrals)."""

from __future__ import annotations

import copy

import numpy as np

from rhoml.density.base import Density
from rhoml.density.flexible_basis import FlexibleBasis


def fit_error(densities: list[Density], basis: FlexibleBasis) -> float:
    """Mean Coulomb norm of the fit residual (Hartree) of ``densities`` in ``basis``."""
    from rhoml.density.fit import fit_density

    pb = basis.pyscf_basis()
    fits = [fit_density(d, pb, coulomb_error=True) for d in densities]
    return float(np.mean([f.properties["fit_coulomb_error"] for f in fits]))


def optimise_scales(
    densities: list[Density],
    basis: FlexibleBasis,
    *,
    steps: tuple[float, ...] = (-0.2, 0.2),
    sweeps: int = 1,
    log=None,
) -> tuple[FlexibleBasis, list[float]]:
    """Coordinate descent over one log-scale per (element, l) group of shells; a trial step is
    kept when it lowers :func:`fit_error`. Returns the optimised basis and the error history."""
    best = copy.deepcopy(basis)
    err = fit_error(densities, best)
    history = [err]
    groups = [(el, l) for el in best.elements for l in sorted(set(best.ls(el)))]
    for _ in range(sweeps):
        for el, l in groups:
            for step in steps:
                trial = copy.deepcopy(best)
                trial.log_scales[el] = [
                    s + step if sl == l else s
                    for s, sl in zip(trial.log_scales[el], trial.ls(el), strict=True)
                ]
                e = fit_error(densities, trial)
                if e < err:
                    best, err = trial, e
                    if log:
                        log(f"{el} l={l} log-scale {step:+.2f}: (δρ|δρ) {e:.3e} Ha")
                    break
            history.append(err)
    return best, history

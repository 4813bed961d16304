"""Density error metrics on a molecular (Becke) quadrature.

NMAE = ∫|ρ_a − ρ_b| dr / N_e, integrated with PySCF's Becke/Treutler grids (not a cube: the
all-electron cusp needs atom-centred radial grids). Densities are given as rhoml ``Density``
objects (a density matrix or aux coefficients) or as raw aux coefficients with their basis.
"""

from __future__ import annotations

import numpy as np

from rhoml.density.base import Density
from rhoml.molecule import Molecule


def becke_grid(molecule: Molecule, level: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Becke grid points (Bohr, (n, 3)) and weights (Bohr³, (n,)) for ``molecule``."""
    from pyscf.dft import gen_grid

    from rhoml.density.basis import basis_only_mol

    mol = basis_only_mol(molecule, "sto-3g")
    grids = gen_grid.Grids(mol)
    grids.level = level
    grids.build(with_non0tab=False)
    return np.asarray(grids.coords), np.asarray(grids.weights)


def density_on_points(density: Density, coords_bohr: np.ndarray) -> np.ndarray:
    """ρ (e/Bohr³) of ``density`` at points given in Bohr."""
    from rhoml.units import bohr_to_angstrom

    return density.evaluate(bohr_to_angstrom(coords_bohr))


def aux_on_points(molecule: Molecule, basis: dict, coeffs: np.ndarray, coords_bohr) -> np.ndarray:
    """ρ (e/Bohr³) of aux coefficients (PySCF order) at points in Bohr."""
    from rhoml.density.basis import basis_only_mol

    mol = basis_only_mol(molecule, basis)
    return mol.eval_gto("GTOval_sph", coords_bohr) @ coeffs


def nmae(rho_a: np.ndarray, rho_b: np.ndarray, weights: np.ndarray, n_electrons: float) -> float:
    """∫|ρ_a − ρ_b| / N_e as a fraction (multiply by 100 for %)."""
    return float(np.sum(weights * np.abs(rho_a - rho_b)) / n_electrons)

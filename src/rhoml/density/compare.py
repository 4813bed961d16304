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


def primitive_map(molecule: Molecule, basis: dict):
    """The uncontracted aux basis of ``molecule`` and the map to it.

    Returns ``(pmol, t)``: a PySCF Mole whose shells are the distinct primitives (per atom and l)
    of ``basis``, and ``t`` (n_prim_ao, n_ao) with χ_contracted = χ_prim @ t, so coefficients
    transform exactly as c_prim = t @ c. Orthogonalised shells share one exponent set per l,
    so the primitive basis is several times smaller than the contracted-shell expansion.
    """
    from rhoml.density.basis import basis_only_mol

    mol = basis_only_mol(molecule, basis)
    pmol, t = mol.decontract_basis(aggregate=True)
    return pmol, np.asarray(t)


def aux_on_points(
    molecule: Molecule, basis: dict, coeffs: np.ndarray, coords_bohr, *, primitive: bool = True
) -> np.ndarray:
    """ρ (e/Bohr³) of aux coefficients (PySCF order, (n_ao,) or (n_ao, k)) at points in Bohr.

    By default the coefficients are mapped to the primitive basis (:func:`primitive_map`) and
    ρ is evaluated there in chunks of points, skipping blocks where a shell is below PySCF's
    screening cutoff (same ρ up to rounding; several times faster for many-term contractions);
    ``primitive=False`` evaluates the contracted functions directly. Shape (n,) or (n, k).
    """
    from rhoml.density.basis import basis_only_mol

    if primitive:
        from pyscf.dft.gen_grid import BLKSIZE, make_mask

        pmol, t = primitive_map(molecule, basis)
        c = t @ np.asarray(coeffs)
        coords = np.asarray(coords_bohr, dtype=float)
        step = 64 * BLKSIZE  # chunks bound the AO matrix; the mask skips negligible blocks
        return np.concatenate(
            [
                pmol.eval_gto("GTOval_sph", p, non0tab=make_mask(pmol, p)) @ c
                for p in (coords[i : i + step] for i in range(0, len(coords), step))
            ]
        )
    mol = basis_only_mol(molecule, basis)
    return mol.eval_gto("GTOval_sph", coords_bohr) @ coeffs


def nmae(rho_a: np.ndarray, rho_b: np.ndarray, weights: np.ndarray, n_electrons: float) -> float:
    """∫|ρ_a − ρ_b| / N_e as a fraction (multiply by 100 for %)."""
    return float(np.sum(weights * np.abs(rho_a - rho_b)) / n_electrons)

"""Density fitting onto an auxiliary Gaussian basis in the Coulomb metric.

Minimises the Coulomb self-energy of the error, (ρ − ρ̃ | ρ − ρ̃), optionally subject to
∫ρ̃ = ∫ρ (a Lagrange multiplier). The result is a ``coefficients`` :class:`Density` in the
auxiliary basis, which gives the electron count, dipole and ESP analytically.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from rhoml.density.base import Density
from rhoml.density.basis import basis_only_mol, function_integrals, mol_basis_dict

DEFAULT_AUXBASIS = "def2-universal-jkfit"


def auxiliary_projections(density: Density, auxmol) -> np.ndarray:
    """(k|ρ) = Σ_μν P_μν (k|μν) for every auxiliary function k, shape (naux,)."""
    from pyscf import df, lib

    mol = density.mol
    if density.kind == "coefficients":
        from pyscf import gto

        return gto.mole.intor_cross("int2c2e", auxmol, mol) @ density.data
    dm = density.data
    packed = lib.pack_tril(dm + dm.T - np.diag(np.diag(dm)))
    out = np.zeros(auxmol.nao_nr())
    loc = auxmol.ao_loc_nr()
    # block over auxiliary shells so the 3-index integrals stay within ~200 MB
    per_shell = packed.size * 8 * max(1, int(np.max(np.diff(loc))))
    step = max(1, int(2e8 // per_shell))
    for b0 in range(0, auxmol.nbas, step):
        b1 = min(auxmol.nbas, b0 + step)
        ints = df.incore.aux_e2(
            mol, auxmol, "int3c2e", aosym="s2ij", shls_slice=(0, mol.nbas, 0, mol.nbas, b0, b1)
        )
        out[loc[b0] : loc[b1]] = packed @ ints
    return out


def fit_density(
    density: Density,
    auxbasis: str | dict = DEFAULT_AUXBASIS,
    *,
    preserve_count: bool = True,
    coulomb_error: bool = False,
) -> Density:
    """Fit ``density`` onto ``auxbasis`` (a PySCF basis name or per-element dict).

    Returns a ``coefficients`` density. With ``coulomb_error``, ``properties["fit_coulomb_error"]``
    is the Coulomb norm of the residual, (δρ|δρ) in Hartree; it needs the exact (ρ|ρ), i.e.
    four-index integrals for a density matrix, which costs far more than the fit itself.
    """
    auxmol = basis_only_mol(density.molecule, auxbasis)
    metric = auxmol.intor("int2c2e")
    b = auxiliary_projections(density, auxmol)
    cho = scipy.linalg.cho_factor(metric)
    coeff = scipy.linalg.cho_solve(cho, b)
    q, _ = function_integrals(auxmol)
    target = density.electron_count()
    if preserve_count:
        jq = scipy.linalg.cho_solve(cho, q)
        coeff = coeff + (target - q @ coeff) / (q @ jq) * jq
    properties = {"target_electrons": float(target)}
    units = {"target_electrons": "e"}
    if coulomb_error:
        error = _self_coulomb(density) - 2 * coeff @ b + coeff @ metric @ coeff
        properties["fit_coulomb_error"] = float(error)
        units["fit_coulomb_error"] = "hartree"
    return Density(
        molecule=density.molecule,
        basis=mol_basis_dict(auxmol),
        kind="coefficients",
        data=coeff,
        nuclear_charges=density.nuclear_charges,
        engine="fit",
        level=f"{density.level} fit:{auxbasis if isinstance(auxbasis, str) else 'custom'}",
        valence=density.valence,
        properties=properties,
        property_units=units,
        provenance={
            "parent_engine": density.engine,
            "auxbasis": auxbasis if isinstance(auxbasis, str) else "custom",
            "metric": "coulomb",
            "preserve_count": preserve_count,
        },
    )


def _self_coulomb(density: Density) -> float:
    """(ρ|ρ) in Hartree."""
    mol = density.mol
    if density.kind == "coefficients":
        return float(density.data @ mol.intor("int2c2e") @ density.data)
    from pyscf import scf

    vj = scf.hf.get_jk(mol, density.data, with_k=False)[0]
    return float(np.einsum("ij,ji->", vj, density.data))

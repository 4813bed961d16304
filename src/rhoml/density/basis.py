"""Gaussian basis sets as plain data and the PySCF molecules built from them.

A basis is stored as PySCF's internal per-element format, which is JSON-serialisable::

    {"O": [[l, [exp, c1, c2, ...], [exp, c1, ...], ...], ...], "H": [...]}

with contraction coefficients referring to normalised primitives (PySCF's convention). Every
density in rhoml is expanded in such a basis, so one evaluator serves all engines.
"""

from __future__ import annotations

import numpy as np
from pyscf import gto

from rhoml.molecule import Molecule
from rhoml.units import ANGSTROM_IN_BOHR

# libcint folds the real-spherical-harmonic factor of s and p functions into the integrals
# (CINTcommon_fac_sp): Y00 = 1/sqrt(4 pi), and sqrt(3/(4 pi)) for p.
_S_FACTOR = 0.282094791773878143
_P_FACTOR = 0.488602511902919921


def build_mol(
    molecule: Molecule, basis: dict | str, *, charge: int | None = None, spin: int | None = None
) -> gto.Mole:
    """A PySCF ``Mole`` for ``molecule`` (positions in Å, passed to PySCF in Bohr) in ``basis``
    (spherical functions).

    ``charge``/``spin`` default to the molecule's. Engines that only need the basis (xTB valence
    densities, auxiliary fits) pass values that keep PySCF's electron-count check quiet.
    """
    mol = gto.Mole()
    # pass Bohr so atom centres use rhoml's CODATA 2018 constant, like evaluation points do
    bohr = molecule.positions * ANGSTROM_IN_BOHR
    mol.atom = [(s, tuple(map(float, p))) for s, p in zip(molecule.symbols, bohr, strict=True)]
    mol.unit = "Bohr"
    mol.basis = basis
    mol.cart = False
    mol.charge = molecule.charge if charge is None else charge
    mol.spin = molecule.multiplicity - 1 if spin is None else spin
    mol.verbose = 0
    mol.build(parse_arg=False)
    return mol


def basis_only_mol(molecule: Molecule, basis: dict | str) -> gto.Mole:
    """A ``Mole`` used only for its basis functions (electron count irrelevant)."""
    nelec = int(molecule.numbers.sum())
    return build_mol(molecule, basis, charge=0, spin=nelec % 2)


def mol_basis_dict(mol: gto.Mole) -> dict:
    """The per-element basis of a built ``Mole``, as plain JSON-serialisable lists."""
    out = {}
    for sym, shells in mol._basis.items():
        out[sym] = [[shell[0]] + [list(map(float, prim)) for prim in shell[1:]] for shell in shells]
    return out


def function_integrals(mol: gto.Mole) -> tuple[np.ndarray, np.ndarray]:
    """Analytic ∫χ_k dr and ∫ r χ_k dr for every basis function.

    Returns ``(q, m)`` with shapes (nao,) and (nao, 3), in Bohr units (m in Bohr). Only s
    functions have a nonzero integral; s and p functions have a nonzero first moment.
    PySCF p order is (x, y, z).
    """
    nao = mol.nao_nr()
    q = np.zeros(nao)
    m = np.zeros((nao, 3))
    offsets = mol.ao_loc_nr()
    for b in range(mol.nbas):
        l = mol.bas_angular(b)
        exps = mol.bas_exp(b)
        coef = mol.bas_ctr_coeff(b) * gto.gto_norm(l, exps)[:, None]
        centre = mol.bas_coord(b)
        start = offsets[b]
        nctr = mol.bas_nctr(b)
        gauss = (np.pi / exps) ** 1.5  # ∫ exp(-a r²) d³r
        if l == 0:
            vals = _S_FACTOR * (coef * gauss[:, None]).sum(axis=0)
            q[start : start + nctr] = vals
            m[start : start + nctr] = vals[:, None] * centre[None, :]
        elif l == 1:
            # ∫ x · x exp(-a r²) = (π/a)^{3/2} / (2a)
            vals = _P_FACTOR * (coef * (gauss / (2 * exps))[:, None]).sum(axis=0)
            for k in range(nctr):
                for xyz in range(3):
                    m[start + 3 * k + xyz, xyz] = vals[k]
    return q, m

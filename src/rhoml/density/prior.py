"""The promolecule (superposed spherical atoms) prior, expressed in the flexible aux basis.

For each element the spherically averaged free-atom density of :mod:`rhoml.density.promolecule`
is fitted (Coulomb metric, electron count = Z) onto that atom's own aux functions; only l=0
coefficients are non-zero. The molecular prior is the concatenation of the per-atom vectors —
exact, cheap, geometry-independent. The network predicts the difference Δc = c_DFT − c_prior.
"""

from __future__ import annotations

import numpy as np

from rhoml.density.flexible_basis import FlexibleBasis
from rhoml.elements import atomic_number


def atomic_prior(basis: FlexibleBasis, element: str) -> np.ndarray:
    """(nfun,) coefficients (electrons) of the free-atom density of ``element`` in ``basis``."""
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.molecule import Molecule

    z = atomic_number(element)
    atom = Molecule([z], [[0.0, 0.0, 0.0]], multiplicity=1 + z % 2, id=element)
    fit = fit_density(compute_promolecule(atom), {element: basis.pyscf_basis()[element]})
    c = np.asarray(fit.data, dtype=float)
    ls = np.repeat(basis.ls(element), [2 * l + 1 for l in basis.ls(element)])
    c[ls > 0] = 0.0  # a spherical density has no l>0 part (removes fit round-off)
    return c


def prior_table(basis: FlexibleBasis) -> dict[str, np.ndarray]:
    """{element: atomic prior coefficients} for every element of ``basis``."""
    return {el: atomic_prior(basis, el) for el in basis.elements}


def molecule_prior(numbers, table: dict[str, np.ndarray]) -> np.ndarray:
    """(naux,) prior coefficients of a molecule with atomic ``numbers``, PySCF AO order."""
    from rhoml.elements import symbol

    return np.concatenate([table[symbol(int(z))] for z in numbers])

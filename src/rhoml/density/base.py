"""The analytic density every engine returns, evaluated at any points.

A :class:`Density` is a Gaussian basis (:mod:`rhoml.density.basis`) plus either a density matrix
``P`` (ρ(r) = Σ_μν P_μν χ_μ(r) χ_ν(r)) or expansion coefficients ``c`` (ρ(r) = Σ_k c_k χ_k(r)).
Points are in Å at the public boundary; values are in e/Bohr³ (gradients e/Bohr⁴, ESP Hartree/e).
Electron counts and dipoles come analytically from ``P`` or ``c`` (never from a grid sum: the
all-electron cusp is undersampled on any practical cube: ethanol on a 0.2 Å grid sums
to 28.8 electrons instead of 26).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from rhoml.density.basis import basis_only_mol, function_integrals
from rhoml.density.shells import n_functions
from rhoml.molecule import Molecule
from rhoml.units import ANGSTROM_IN_BOHR, AU_DIPOLE_IN_DEBYE

Kind = Literal["density_matrix", "coefficients"]

# Points per evaluation block; bounds memory at about BLOCK * nao * 8 bytes * 4 (value + grad).
BLOCK = 8192


@dataclass
class Density:
    """An electron density in an atom-centred Gaussian basis.

    Attributes:
        molecule: the geometry (Å) the basis functions sit on.
        basis: per-element basis in PySCF's format (JSON-serialisable).
        kind: ``"density_matrix"`` (``data`` is (nao, nao)) or ``"coefficients"`` ((nao,)).
        data: the density matrix or coefficient vector, in electrons.
        nuclear_charges: (n_atoms,) charges of the nuclei (or cores) this density neutralises:
            Z for all-electron densities, valence charges for xTB, used for dipole and ESP.
        engine: name of the engine that produced it (``promolecule``, ``xtb``, ``dft``, ``fit``).
        level: level of theory (``GFN2-xTB``, ``B3LYP/6-31G**``...).
        valence: True if core electrons are not included.
        properties: engine results with units in ``property_units`` (energies in Hartree...).
        provenance: software versions and settings.
    """

    molecule: Molecule
    basis: dict
    kind: Kind
    data: np.ndarray
    nuclear_charges: np.ndarray
    engine: str
    level: str = ""
    valence: bool = False
    properties: dict[str, Any] = field(default_factory=dict)
    property_units: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float64)
        self.nuclear_charges = np.asarray(self.nuclear_charges, dtype=np.float64)
        nao = n_functions(self.molecule, self.basis)  # per-element tables, no PySCF molecule
        expected = (nao, nao) if self.kind == "density_matrix" else (nao,)
        if self.data.shape != expected:
            raise ValueError(f"{self.kind} has shape {self.data.shape}, basis needs {expected}")

    @cached_property
    def mol(self):
        """PySCF ``Mole`` carrying the basis (built on first use, not pickled)."""
        return basis_only_mol(self.molecule, self.basis)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("mol", None)
        return state

    # -- analytic moments -------------------------------------------------------------------
    def electron_count(self) -> float:
        """∫ρ dr from the density matrix or coefficients (exact)."""
        if self.kind == "density_matrix":
            return float(np.einsum("ij,ji->", self.data, self.mol.intor_symmetric("int1e_ovlp")))
        q, _ = function_integrals(self.mol)
        return float(q @ self.data)

    def dipole(self) -> np.ndarray:
        """Dipole moment (3,) in Debye: Σ_A Z_A R_A − ∫ r ρ(r) dr (origin-free when neutral)."""
        coords = self.mol.atom_coords()  # Bohr
        nuclear = self.nuclear_charges @ coords
        if self.kind == "density_matrix":
            with self.mol.with_common_orig((0.0, 0.0, 0.0)):
                r_ints = self.mol.intor_symmetric("int1e_r", comp=3)
            electronic = np.einsum("xij,ji->x", r_ints, self.data)
        else:
            _, m = function_integrals(self.mol)
            electronic = m.T @ self.data
        return (nuclear - electronic) * AU_DIPOLE_IN_DEBYE

    # -- evaluation on points ---------------------------------------------------------------
    def evaluate(self, points, *, gradient: bool = False, block: int = BLOCK) -> np.ndarray:
        """ρ at ``points`` (N, 3) in Å → (N,) e/Bohr³; with ``gradient`` → (N, 4): ρ, ∂ρ/∂x,y,z
        (e/Bohr⁴)."""
        from rhoml.density.evaluate import evaluate_density

        return evaluate_density(self, points, gradient=gradient, block=block)

    def gradient_norm(self, points, *, block: int = BLOCK) -> np.ndarray:
        """|∇ρ| at ``points`` (N, 3) Å → (N,) e/Bohr⁴."""
        g = self.evaluate(points, gradient=True, block=block)
        return np.linalg.norm(g[:, 1:], axis=1)

    def esp(self, points, *, block: int = 2048) -> np.ndarray:
        """Electrostatic potential of nuclei (``nuclear_charges``) and electrons at ``points``
        (N, 3) Å → (N,) Hartree/e (atomic units). Points on a nucleus give inf."""
        from rhoml.density.evaluate import electrostatic_potential

        return electrostatic_potential(self, points, block=block)

    def points_bohr(self, points) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3)) * (
            ANGSTROM_IN_BOHR
        )

    def __repr__(self) -> str:
        return (
            f"Density(engine={self.engine!r}, level={self.level!r}, kind={self.kind!r}, "
            f"nao={self.mol.nao_nr()}, molecule={self.molecule.id!r})"
        )

"""The :class:`Molecule`: what every reader produces and every engine consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rhoml.elements import atomic_number, symbol
from rhoml.errors import ChargeSpinError, InputError, UnknownElementError


@dataclass
class Molecule:
    """A molecule (or complex) with its labels.

    Attributes:
        numbers: (n_atoms,) int atomic numbers.
        positions: (n_atoms, 3) float Cartesian coordinates in Å.
        charge: total charge in e.
        multiplicity: spin multiplicity 2S+1.
        id: a name unique within a data set (file stem, QM9 index, ``<file>#<frame>``...).
        labels: scalar or array properties; each key ``k`` has its unit in ``label_units[k]``.
        label_units: unit name per label (see :mod:`rhoml.units`).
        groups: optional per-atom integer group (e.g. 0 = protein/pocket, 1 = ligand).
        source: file (and record) the molecule came from, for error messages.
    """

    numbers: np.ndarray
    positions: np.ndarray
    charge: int = 0
    multiplicity: int = 1
    id: str = "molecule"
    labels: dict[str, Any] = field(default_factory=dict)
    label_units: dict[str, str] = field(default_factory=dict)
    groups: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        # copies: a molecule must not alias a caller's array (e.g. ASE's positions, updated in
        # place by MD integrators)
        self.numbers = np.array(self.numbers, dtype=np.int64).reshape(-1)
        self.positions = np.array(self.positions, dtype=np.float64).reshape(-1, 3)
        where = f"{self.source or self.id}: "
        if len(self.numbers) == 0:
            raise InputError(f"{where}molecule has no atoms")
        if len(self.numbers) != len(self.positions):
            raise InputError(
                f"{where}{len(self.numbers)} atomic numbers but {len(self.positions)} positions"
            )
        for z in self.numbers:
            if not 1 <= int(z) <= 118:
                raise UnknownElementError(f"{where}unknown atomic number {int(z)}")
        if not np.all(np.isfinite(self.positions)):
            raise InputError(f"{where}non-finite coordinates")
        self.charge = int(self.charge)
        self.multiplicity = int(self.multiplicity)
        if self.groups is not None:
            self.groups = np.asarray(self.groups, dtype=np.int64).reshape(-1)
        self.check_charge_spin()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_symbols(cls, symbols, positions, **kwargs) -> Molecule:
        """Build from element symbols and positions in Å."""
        where = f"{kwargs.get('source') or kwargs.get('id', 'molecule')}: "
        return cls(np.array([atomic_number(s, where) for s in symbols]), positions, **kwargs)

    # -- derived ---------------------------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        return int(len(self.numbers))

    @property
    def symbols(self) -> list[str]:
        return [symbol(int(z)) for z in self.numbers]

    @property
    def n_electrons(self) -> int:
        """Total electron count: sum of Z minus the charge."""
        return int(self.numbers.sum()) - self.charge

    @property
    def formula(self) -> str:
        syms = self.symbols
        order = sorted(set(syms), key=lambda s: (s != "C", s != "H", s))
        return "".join(f"{s}{syms.count(s) if syms.count(s) > 1 else ''}" for s in order)

    def check_charge_spin(self) -> None:
        """Raise :class:`ChargeSpinError` if charge and multiplicity do not fit the electrons."""
        n = self.n_electrons
        where = f"{self.source or self.id}"
        if self.multiplicity < 1:
            raise ChargeSpinError(f"{where}: multiplicity {self.multiplicity} < 1")
        if n < 0:
            raise ChargeSpinError(f"{where}: charge {self.charge:+d} leaves {n} electrons")
        unpaired = self.multiplicity - 1
        if unpaired > n or (n - unpaired) % 2:
            raise ChargeSpinError(
                f"{where}: charge {self.charge:+d} gives {n} electrons, "
                f"inconsistent with multiplicity {self.multiplicity}"
            )

    def centroid(self) -> np.ndarray:
        """Geometric centre of the atoms in Å, shape (3,)."""
        return self.positions.mean(axis=0)

    def transformed(self, rotation=None, translation=None) -> Molecule:
        """A copy with positions ``R @ x + t`` (rotation (3,3), translation (3,) in Å)."""
        pos = self.positions.copy()
        if rotation is not None:
            pos = pos @ np.asarray(rotation, dtype=float).T
        if translation is not None:
            pos = pos + np.asarray(translation, dtype=float)
        return Molecule(
            self.numbers.copy(), pos, self.charge, self.multiplicity, self.id,
            dict(self.labels), dict(self.label_units),
            None if self.groups is None else self.groups.copy(), self.source,
        )  # fmt: skip

    def to_pyscf_atom(self) -> list[tuple[str, tuple[float, float, float]]]:
        """PySCF ``atom`` list (symbols, positions in Å)."""
        return [
            (s, tuple(map(float, p))) for s, p in zip(self.symbols, self.positions, strict=True)
        ]

    def __repr__(self) -> str:
        return (
            f"Molecule(id={self.id!r}, formula={self.formula}, n_atoms={self.n_atoms}, "
            f"charge={self.charge}, multiplicity={self.multiplicity})"
        )

"""ASE calculators (thin adapters: energies in eV, forces in eV/Å, dipole in e·Å).

:class:`FunctionCalculator` wraps any ``fn(Molecule) -> {"energy": kcal/mol, "forces": kcal/mol/Å,
"dipole": Debye}``; :class:`DenSNetCalculator` wraps a trained DenSNet and can also return the
predicted density (``calc.get_density(atoms)``); :func:`dft_function` gives the PySCF DFT labeller
in that form (for geometry optimisation and harmonic references).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from rhoml.molecule import Molecule
from rhoml.units import AU_DIPOLE_IN_DEBYE, BOHR_IN_ANGSTROM, convert

DEBYE_IN_E_ANGSTROM = BOHR_IN_ANGSTROM / AU_DIPOLE_IN_DEBYE  # 1 D in e·Å
_ENERGY = float(convert(1.0, "kcal/mol", "eV"))  # eV per kcal/mol
_FORCE = float(convert(1.0, "kcal/mol/angstrom", "eV/angstrom"))  # eV/Å per kcal/mol/Å


def atoms_to_molecule(atoms, charge: int = 0) -> Molecule:
    return Molecule(
        atoms.get_atomic_numbers(),
        atoms.get_positions(),
        charge=charge,
        multiplicity=1 + (int(atoms.get_atomic_numbers().sum()) - charge) % 2,
    )


class FunctionCalculator(Calculator):
    """ASE calculator over ``fn(Molecule) -> dict`` in kcal/mol, kcal/mol/Å and Debye."""

    implemented_properties = ["energy", "forces", "dipole"]

    def __init__(self, fn: Callable[[Molecule], dict], charge: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fn = fn
        self.charge = charge

    def check_state(self, atoms, tol=1e-15):
        """ASE's change check with exact array comparisons (ASE's ``compare_atoms`` is slow
        next to a fast potential; ``tol`` is kept for the interface)."""
        old = self.atoms
        if old is None:
            return list(all_changes)
        changes = []
        if not np.array_equal(old.cell.array, atoms.cell.array):
            changes.append("cell")
        if not np.array_equal(old.pbc, atoms.pbc):
            changes.append("pbc")
        a1, a2 = old.arrays, atoms.arrays
        for prop in all_changes:
            if (prop in a1) != (prop in a2):
                changes.append(prop)
            elif prop in a1 and not np.array_equal(a1[prop], a2[prop]):
                changes.append(prop)
        return changes

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = self.fn(atoms_to_molecule(self.atoms, self.charge))
        self.results["energy"] = float(convert(out["energy"], "kcal/mol", "eV"))
        self.results["forces"] = np.asarray(
            convert(out["forces"], "kcal/mol/angstrom", "eV/angstrom")
        )
        if out.get("dipole") is not None:
            self.results["dipole"] = np.asarray(out["dipole"]) * DEBYE_IN_E_ANGSTROM


class DenSNetCalculator(FunctionCalculator):
    """ASE calculator for a trained :class:`~rhoml.densnet.potential.DenSNet`.

    Energy, forces and dipole come from one evaluation of the model's fast
    :class:`~rhoml.densnet.fast.Evaluator`, built on first use for the atom list and charge and
    then kept (the model's parameters are taken as fixed while the calculator is in use).
    ``compile=True``: see :class:`~rhoml.densnet.fast.Evaluator`."""

    def __init__(self, model, charge: int = 0, *, compile: bool = False, **kwargs) -> None:
        self.model = model
        self.compile = compile
        self._evaluator = None
        super().__init__(lambda m: model.predict(m), charge, **kwargs)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        ev = self._evaluator
        if ev is None or not np.array_equal(ev.numbers.cpu().numpy(), self.atoms.numbers):
            ev = self.model.evaluator(self.atoms.numbers, self.charge, compile=self.compile)
            self._evaluator = ev
        out = ev(self.atoms.positions)
        self.results["energy"] = out["energy"] * _ENERGY
        self.results["forces"] = out["forces"] * _FORCE
        self.results["dipole"] = out["dipole"] * DEBYE_IN_E_ANGSTROM

    def get_density(self, atoms):
        """The predicted density of ``atoms`` as a rhoml ``Density`` (aux coefficients)."""
        return self.model.density(atoms_to_molecule(atoms, self.charge))


def dft_function(settings=None) -> Callable[[Molecule], dict]:
    """PySCF energy/forces/dipole (kcal/mol, kcal/mol/Å, Debye) at the DenSNet label level."""
    from rhoml.densnet.labels import dft_energy_forces

    def fn(mol: Molecule) -> dict:
        dens, forces = dft_energy_forces(mol, settings)
        return {
            "energy": convert(dens.properties["energy"], "hartree", "kcal/mol"),
            "forces": forces,
            "dipole": np.asarray(dens.properties["dipole"]),
        }

    return fn

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
    """ASE calculator for a trained :class:`~rhoml.densnet.potential.DenSNet`."""

    def __init__(self, model, charge: int = 0, **kwargs) -> None:
        self.model = model
        super().__init__(lambda m: model.predict(m), charge, **kwargs)

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

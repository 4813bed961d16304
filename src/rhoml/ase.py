"""ASE calculator over any rhoml potential: a thin adapter returning ASE units.

>>> from rhoml.ase import RhomlCalculator
>>> atoms.calc = RhomlCalculator("ethanol")          # a shipped run, a run folder, or a model
>>> atoms.get_potential_energy(), atoms.get_forces()  # doctest: +SKIP

:class:`RhomlCalculator` takes a :class:`~rhoml.families.Potential` (e.g. ``run.potential()``),
a :class:`~rhoml.runs.Run`, or a run folder / shipped run name, and returns energy in eV, forces
in eV/Å and the dipole in e·Å, converted from the potential's ``potential_units`` with
:mod:`rhoml.units`. A potential with a fast per-topology evaluator (DenSNet: ``evaluator``) is
evaluated through it, built once for the atom list and charge and then reused.
:class:`FunctionPotential` turns a plain function (a reference method, an analytic test
potential) into a potential, so it runs through the same calculator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from rhoml.errors import InputError
from rhoml.molecule import Molecule
from rhoml.units import AU_DIPOLE_IN_DEBYE, BOHR_IN_ANGSTROM, convert

__all__ = [
    "DEBYE_IN_E_ANGSTROM",
    "FunctionPotential",
    "RhomlCalculator",
    "as_potential",
    "atoms_to_molecule",
    "molecule_to_atoms",
    "trained_dtype",
]

DEBYE_IN_E_ANGSTROM = BOHR_IN_ANGSTROM / AU_DIPOLE_IN_DEBYE  # 1 D in e·Å
KCAL_UNITS = {"energy": "kcal/mol", "forces": "kcal/mol/angstrom", "dipole": "debye"}


def atoms_to_molecule(atoms, charge: int = 0) -> Molecule:
    """An ASE ``Atoms`` as a :class:`Molecule` (Å), lowest multiplicity for its electron count."""
    return Molecule(
        atoms.get_atomic_numbers(),
        atoms.get_positions(),
        charge=charge,
        multiplicity=1 + (int(atoms.get_atomic_numbers().sum()) - charge) % 2,
    )


def molecule_to_atoms(molecule: Molecule):
    """A :class:`Molecule` as an ASE ``Atoms`` (positions in Å, no cell)."""
    from ase import Atoms

    return Atoms(numbers=molecule.numbers, positions=molecule.positions)


class FunctionPotential:
    """A :class:`~rhoml.families.Potential` over ``fn(Molecule) -> {"energy", "forces",
    "dipole"?}`` in ``units`` (default kcal/mol, kcal/mol/Å, Debye)."""

    family = "function"

    def __init__(self, fn: Callable[[Molecule], dict], units: dict[str, str] | None = None):
        self.fn = fn
        self.potential_units = dict(units or KCAL_UNITS)
        self.outputs = dict(self.potential_units)

    def compute(self, molecule: Molecule) -> dict[str, Any]:
        return self.fn(molecule)

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        rows = []
        for m in molecules:
            out = self.fn(m)
            rows.append({"id": m.id, **{q: out[q] for q in self.outputs if q in out}})
        return rows

    def check_molecule(self, molecule: Molecule) -> None:
        return None


def as_potential(model, device: str = "cpu"):
    """``model`` as a potential: a potential itself, a :class:`~rhoml.runs.Run`, a run folder
    or shipped run name, or a plain function (:class:`FunctionPotential`). One-line
    :class:`InputError` when it predicts no energies and forces."""
    from rhoml.families import is_potential
    from rhoml.runs import Run, load

    if is_potential(model):
        return model
    if isinstance(model, str | Path):
        model = load(model, device=device)
    if isinstance(model, Run):
        return model.potential()
    if callable(model) and not hasattr(model, "outputs") and not hasattr(model, "parameters"):
        return FunctionPotential(model)  # a plain function, not a torch module
    if hasattr(model, "outputs"):
        family = getattr(model, "family", type(model).__name__)
        raise InputError(f"a {family} model predicts no energies and forces: not a potential")
    raise InputError(f"{type(model).__name__}: not a potential (give a Potential, a Run, a run "
                     "folder or a shipped run name)")  # fmt: skip


def trained_dtype(model) -> str | None:
    """``"float32"`` when ``model`` is a :class:`~rhoml.runs.Run` trained in float32 whose
    potential can change precision (DenSNet), else None (evaluate as loaded, float64). MD in the
    training precision conserves energy as well as float64 and is about 1.4x faster
    (``benchmarks/results/densnet_md_dtype.md``)."""
    from rhoml.runs import Run

    if not isinstance(model, Run):
        return None
    want = (model.config.get("train") or {}).get("dtype")
    return "float32" if want == "float32" and hasattr(model.model, "astype") else None


class RhomlCalculator(Calculator):
    """ASE calculator for a rhoml potential (see the module docstring).

    ``charge``: total charge of every structure (e). ``dtype``: ``float32``/``float64`` for a
    potential that can change precision (DenSNet ``astype``); ``"auto"``: the precision the run
    was trained in (``[train].dtype`` of its config) for such a potential given as a run, run
    folder or shipped name (float32 for the shipped DenSNet runs), else as loaded (see
    :func:`trained_dtype`). ``compile``: ``torch.compile`` the
    fast evaluator (DenSNet; see :class:`~rhoml.models.densnet.fast.Evaluator`). Every new atom
    list is
    checked once with the potential's ``check_molecule`` (one-line :class:`InputError` for a
    molecule the model was not made for)."""

    implemented_properties = ["energy", "free_energy", "forces", "dipole"]

    def __init__(self, model, charge: int = 0, *, device: str = "cpu", dtype: str | None = None,
                 compile: bool = False, **kwargs) -> None:  # fmt: skip
        super().__init__(**kwargs)
        if dtype == "auto":
            from rhoml.runs import load

            if isinstance(model, str | Path):
                model = load(model, device=device)
            dtype = trained_dtype(model)
        pot = as_potential(model, device)
        if dtype is not None:
            if not hasattr(pot, "astype"):
                raise InputError(f"a {pot.family} potential has no {dtype} mode")
            pot = pot.astype(dtype)
        self.potential = pot
        self.dtype = dtype  # the precision asked for (None: as loaded)
        self.charge = int(charge)
        self.compile = bool(compile)
        if compile and not hasattr(pot, "evaluator"):
            raise InputError(f"a {pot.family} potential has no compiled evaluator")
        u = pot.potential_units
        self._energy = float(convert(1.0, u["energy"], "eV"))
        self._force = float(convert(1.0, u["forces"], "eV/angstrom"))
        self._dipole = (float(convert(1.0, u["dipole"], "debye")) * DEBYE_IN_E_ANGSTROM
                        if "dipole" in u else None)  # fmt: skip
        self._numbers: np.ndarray | None = None
        self._evaluator = None

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

    def _new_atom_list(self) -> None:
        numbers = self.atoms.numbers.copy()
        self.potential.check_molecule(atoms_to_molecule(self.atoms, self.charge))
        self._numbers = numbers
        evaluator = getattr(self.potential, "evaluator", None)
        self._evaluator = (evaluator(numbers, self.charge, compile=self.compile)
                           if evaluator is not None else None)  # fmt: skip

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self._numbers is None or not np.array_equal(self._numbers, self.atoms.numbers):
            self._new_atom_list()
        if self._evaluator is not None:
            out = self._evaluator(self.atoms.positions)
        else:
            out = self.potential.compute(atoms_to_molecule(self.atoms, self.charge))
        energy = out["energy"] * self._energy
        self.results["energy"] = self.results["free_energy"] = energy
        self.results["forces"] = np.asarray(out["forces"]) * self._force
        if self._dipole is not None and out.get("dipole") is not None:
            self.results["dipole"] = np.asarray(out["dipole"]) * self._dipole

    def get_density(self, atoms):
        """The predicted density of ``atoms`` as a rhoml ``Density`` (potentials that predict
        one: DenSNet)."""
        density = getattr(self.potential, "density", None)
        if density is None:
            raise InputError(f"a {self.potential.family} potential predicts no density")
        return density(atoms_to_molecule(atoms, self.charge))

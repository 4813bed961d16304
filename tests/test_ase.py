"""The ASE calculator over rhoml potentials: units, forces = −dE/dr, NVE energy conservation
with ase.md, refusals (not a potential, a molecule the model was not trained for)."""

from __future__ import annotations

import numpy as np
import pytest
from densnet_fixtures import small_potential

from rhoml.ase import FunctionPotential, RhomlCalculator, molecule_to_atoms
from rhoml.errors import InputError
from rhoml.units import convert


@pytest.fixture(scope="module")
def potential():
    return small_potential()


def test_units_energy_forces_dipole_density(potential, ethanol):
    atoms = molecule_to_atoms(ethanol)
    atoms.calc = RhomlCalculator(potential)
    ref = potential.compute(ethanol)
    assert atoms.get_potential_energy() == pytest.approx(convert(ref["energy"], "kcal/mol", "eV"),
                                                         rel=1e-14)  # fmt: skip
    np.testing.assert_allclose(atoms.get_forces(),
                               convert(ref["forces"], "kcal/mol/angstrom", "eV/angstrom"),
                               rtol=1e-13)  # fmt: skip
    # 1 D = 0.20819434 e·Å
    np.testing.assert_allclose(atoms.get_dipole_moment(), ref["dipole"] * 0.2081943, rtol=1e-6)
    dens = atoms.calc.get_density(atoms)
    assert dens.electron_count() == pytest.approx(26.0, abs=1e-8)
    np.testing.assert_allclose(dens.dipole(), ref["dipole"], atol=1e-8)


def _ase_outputs(calc):
    """``fn(numbers, positions)`` → the calculator's energy (eV), forces (eV/Å), dipole (e·Å)."""
    from ase import Atoms

    def fn(numbers, positions):
        atoms = Atoms(numbers=numbers, positions=positions)
        atoms.calc = calc
        return {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
                "dipole": atoms.get_dipole_moment()}  # fmt: skip

    return fn


def test_forces_are_minus_energy_gradient(potential, ethanol):
    """Central differences of the ASE energy (eV) against the ASE forces (eV/Å), all 27
    components."""
    from rhoml.testing import assert_forces_match_energy

    fn = _ase_outputs(RhomlCalculator(potential))
    out = fn(ethanol.numbers, ethanol.positions)
    assert_forces_match_energy(lambda z, p: fn(z, p)["energy"], out["forces"], ethanol.numbers,
                               ethanol.positions, h=1e-4, rtol=1e-5, atol=1e-7)  # fmt: skip


def test_outputs_rotate_with_the_molecule(potential, ethanol):
    """Energy invariant, forces and dipole equivariant under rotation, reflection, translation
    and atom permutation, through the calculator (eV, eV/Å, e·Å)."""
    from rhoml.testing import assert_equivariant

    kinds = {"energy": "scalar", "forces": "atom_vector", "dipole": "vector"}
    assert_equivariant(_ase_outputs(RhomlCalculator(potential)), ethanol.numbers,
                       ethanol.positions, kinds, atol=1e-9, rtol=1e-9)  # fmt: skip


def test_ase_velocity_verlet_conserves_energy(potential, ethanol):
    """20 steps of ase.md VelocityVerlet at 0.25 fs: total energy constant to a small fraction
    of the potential-energy swing."""
    from ase import units
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = molecule_to_atoms(ethanol)
    atoms.calc = RhomlCalculator(potential)
    thermalize_momenta(atoms, temperature_K=500, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    epot, etot = [], []

    def record():
        epot.append(atoms.get_potential_energy())
        etot.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())

    dyn.attach(record, interval=1)
    dyn.run(20)
    swing = max(epot) - min(epot)
    assert swing > 1e-3
    assert max(etot) - min(etot) < 0.02 * swing


def test_fast_and_generic_paths_agree(potential, ethanol):
    """The DenSNet fast evaluator and the generic compute() path give the same results."""
    fast = RhomlCalculator(potential)
    generic = RhomlCalculator(FunctionPotential(potential.compute))
    a, b = molecule_to_atoms(ethanol), molecule_to_atoms(ethanol)
    a.calc, b.calc = fast, generic
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), rel=1e-14)
    np.testing.assert_allclose(a.get_forces(), b.get_forces(), rtol=1e-12, atol=1e-12)
    assert fast._evaluator is not None and generic._evaluator is None


def test_refusals(potential, water):
    atoms = molecule_to_atoms(water)
    atoms.calc = RhomlCalculator(potential)
    with pytest.raises(InputError, match="3 atoms"):
        atoms.get_potential_energy()
    with pytest.raises(InputError, match="not a potential"):
        RhomlCalculator(object())
    with pytest.raises(InputError, match="DenSNet: not a potential"):
        RhomlCalculator(potential.module)  # the torch module, not the loaded potential
    with pytest.raises(InputError, match="no such run"):
        RhomlCalculator("no_such_run")
    with pytest.raises(InputError, match="no float16"):
        RhomlCalculator(FunctionPotential(lambda m: {}), dtype="float16")


def test_shipped_run_by_name(ethanol):
    """A shipped run name gives the DenSNet potential with its fast evaluator, in float32 too."""
    calc = RhomlCalculator("ethanol")
    atoms = molecule_to_atoms(ethanol)
    atoms.calc = calc
    e64 = atoms.get_potential_energy()
    atoms32 = molecule_to_atoms(ethanol)
    atoms32.calc = RhomlCalculator("ethanol", dtype="float32")
    assert atoms32.get_potential_energy() == pytest.approx(e64, abs=1e-3)
    assert calc.potential.family == "densnet" and calc._evaluator is not None


def test_auto_precision_is_the_training_precision(potential):
    """``dtype="auto"``: float32 for a run trained in float32 that can change precision (the
    shipped DenSNet runs), as loaded for a potential object or a function."""
    from rhoml import runs
    from rhoml.ase import trained_dtype

    run = runs.load("ethanol")
    assert run.config["train"]["dtype"] == "float32"
    assert trained_dtype(run) == "float32"
    assert trained_dtype(potential) is None and trained_dtype("ethanol") is None
    calc = RhomlCalculator("ethanol", dtype="auto")
    assert calc.dtype == "float32"
    assert next(calc.potential.module.parameters()).dtype.is_floating_point
    assert str(next(calc.potential.module.parameters()).dtype) == "torch.float32"
    assert RhomlCalculator(potential, dtype="auto").dtype is None
    assert RhomlCalculator(FunctionPotential(lambda m: {}), dtype="auto").dtype is None

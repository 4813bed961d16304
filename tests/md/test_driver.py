"""MD with a (small, untrained) DenSNet through the ASE calculator: units, dipoles, NVE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml.densnet.basis import default_basis
from rhoml.densnet.model import NetConfig
from rhoml.densnet.potential import DenSNet, load_model
from rhoml.densnet.prior import prior_table
from rhoml.md.calculator import DenSNetCalculator
from rhoml.md.driver import MDSettings, load_trajectory, run_md

CFG = NetConfig(channels=8, vectors=4, lmax=1, lmax_sh=2, layers=1, cutoff=4.0, radial=6)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    basis = default_basis()
    scales = {el: np.full(basis.n_functions(el), 0.02) for el in basis.elements}
    m = DenSNet(basis, prior_table(basis), scales, CFG, CFG, {1: -0.5, 6: -1.0, 8: -2.0}, 30.0)
    return m.double().eval()


def test_calculator_units_and_saved_model(model, ethanol, tmp_path):
    from ase import Atoms

    from rhoml.units import convert

    atoms = Atoms(numbers=ethanol.numbers, positions=ethanol.positions)
    atoms.calc = DenSNetCalculator(model)
    ref = model.predict(ethanol)
    assert atoms.get_potential_energy() == pytest.approx(convert(ref["energy"], "kcal/mol", "eV"))
    np.testing.assert_allclose(
        atoms.get_forces(), convert(ref["forces"], "kcal/mol/angstrom", "eV/angstrom")
    )
    dens = atoms.calc.get_density(atoms)
    assert dens.electron_count() == pytest.approx(26.0, abs=1e-8)
    np.testing.assert_allclose(dens.dipole(), ref["dipole"], atol=1e-8)
    model.save(tmp_path / "m.pt")
    again = load_model(tmp_path / "m.pt")
    assert again.predict(ethanol)["energy"] == pytest.approx(ref["energy"], abs=1e-10)


def test_nve_conserves_energy_and_writes_dipoles(model, ethanol, tmp_path):
    s = MDSettings(steps=60, dt_fs=0.25, ensemble="nve", temperature=300.0, seed=1)
    traj = run_md(DenSNetCalculator(model), ethanol, s, path=tmp_path / "t.npz", progress=False)
    a = traj.arrays()
    drift = np.abs(a["total"] - a["total"][0]).max()
    swing = a["potential"].max() - a["potential"].min()
    assert swing > 1e-3  # atoms move on a non-flat surface
    assert drift < 0.02 * swing
    t = load_trajectory(tmp_path / "t.npz")
    assert t["dipole"].shape == (61, 3) and np.ptp(t["dipole"][:, 0]) > 0


def test_langevin_runs(model, ethanol):
    s = MDSettings(steps=10, dt_fs=0.5, ensemble="langevin", temperature=300.0, friction=0.01)
    traj = run_md(DenSNetCalculator(model), ethanol, s, progress=False)
    assert len(traj.arrays()["time_fs"]) == 11

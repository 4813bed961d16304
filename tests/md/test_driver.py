"""MD with a (small, untrained) DenSNet potential through the ASE calculator: NVE energy
conservation, recorded dipoles, Langevin."""

from __future__ import annotations

import numpy as np
import pytest
from densnet_fixtures import small_potential

from rhoml.ase import RhomlCalculator
from rhoml.md.driver import MDSettings, load_trajectory, run_md


@pytest.fixture(scope="module")
def potential():
    return small_potential()


def test_nve_conserves_energy_and_writes_dipoles(potential, ethanol, tmp_path):
    s = MDSettings(steps=60, dt_fs=0.25, ensemble="nve", temperature=300.0, seed=1)
    traj = run_md(RhomlCalculator(potential), ethanol, s, path=tmp_path / "t.npz", progress=False)
    a = traj.arrays()
    drift = np.abs(a["total"] - a["total"][0]).max()
    swing = a["potential"].max() - a["potential"].min()
    assert swing > 1e-3  # atoms move on a non-flat surface
    assert drift < 0.02 * swing
    t = load_trajectory(tmp_path / "t.npz")
    assert t["dipole"].shape == (61, 3) and np.ptp(t["dipole"][:, 0]) > 0
    # recorded dipoles are the potential's (Debye) at the recorded positions
    from rhoml.molecule import Molecule

    mu = potential.compute(Molecule(ethanol.numbers, t["positions"][7]))["dipole"]
    np.testing.assert_allclose(t["dipole"][7], mu, rtol=1e-12, atol=1e-12)


def test_langevin_runs(potential, ethanol):
    s = MDSettings(steps=10, dt_fs=0.5, ensemble="langevin", temperature=300.0, friction=0.01)
    traj = run_md(RhomlCalculator(potential), ethanol, s, progress=False)
    assert len(traj.arrays()["time_fs"]) == 11

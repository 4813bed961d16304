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


def test_md_that_blows_up_stops_with_one_line_and_keeps_the_finite_frames(ethanol, tmp_path):
    """A potential that turns NaN at its 6th call: the run stops with the step named, and the
    frames simulated before are saved."""
    import numpy as np

    from rhoml.ase import FunctionPotential, RhomlCalculator
    from rhoml.errors import CalculationError
    from rhoml.md.driver import MDSettings, load_trajectory, run_md

    calls = {"n": 0}

    def harmonic(mol):
        calls["n"] += 1
        d = mol.positions - ethanol.positions
        e = float((d**2).sum()) * (np.nan if calls["n"] >= 6 else 1.0)
        return {"energy": e, "forces": -2 * d, "dipole": np.zeros(3)}

    calc = RhomlCalculator(FunctionPotential(harmonic))
    path = tmp_path / "t.npz"
    with pytest.raises(CalculationError, match=r"non-finite at step \d+ .* finite frames kept"):
        run_md(calc, ethanol, MDSettings(steps=20, dt_fs=0.5), path=path, progress=False)
    traj = np.load(path)
    assert 2 <= len(traj["time_fs"]) < 20 and np.all(np.isfinite(traj["potential"]))
    # a trajectory file with non-finite frames is refused
    bad = {k: traj[k] for k in traj.files}
    bad["dipole"] = bad["dipole"].copy()
    bad["dipole"][-1, 0] = np.nan
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(Exception, match="non-finite dipole"):
        load_trajectory(tmp_path / "bad.npz")

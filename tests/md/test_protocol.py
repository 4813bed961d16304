"""The IR protocol on a cheap analytic potential (springs between all atom pairs, fixed
charges): files, NVE-only drift, serial = parallel, blow-ups stopped with the step named and the
simulated frames kept, NaN trajectory files refused."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.ase import FunctionPotential
from rhoml.errors import CalculationError, InputError
from rhoml.md.protocol import ProtocolSettings, run_protocol, spectrum_from_files
from rhoml.molecule import Molecule

# ethanol-like geometry (C C O H6) and partial charges (e) for the dipole
X0 = np.array([
    [-0.0493, 0.5578, 0.0], [1.3899, 0.1220, 0.0], [-0.9196, -0.5352, 0.0],
    [-0.2794, 1.1694, 0.8789], [-0.2794, 1.1694, -0.8789], [1.5786, -0.4938, 0.8804],
    [1.5786, -0.4938, -0.8804], [2.0571, 0.9865, 0.0], [-1.8243, -0.2113, 0.0],
])  # fmt: skip
NUMBERS = np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])
CHARGES = np.array([-0.2, -0.1, -0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4])
R0 = np.linalg.norm(X0[:, None] - X0[None], axis=-1)
K = 300.0 / np.maximum(R0, 1.0) ** 3  # kcal/mol/Å², weaker for distant pairs
DEBYE_PER_E_A = 4.80320


def springs(mol: Molecule) -> dict:
    """Harmonic springs between all pairs at their X0 lengths (rotation invariant)."""
    d = mol.positions[:, None] - mol.positions[None]
    r = np.linalg.norm(d, axis=-1) + np.eye(len(d))
    dr = (r - R0) * (1 - np.eye(len(d)))
    f = -(K * dr / r)[..., None] * d
    return {"energy": 0.25 * float((K * dr**2).sum()), "forces": f.sum(axis=1),
            "dipole": DEBYE_PER_E_A * CHARGES @ mol.positions}  # fmt: skip


def pushed(mol: Molecule) -> dict:
    """Springs with a force that is no gradient: energy is not conserved (a blow-up)."""
    out = springs(mol)
    out["forces"] = out["forces"] + 8.0 * np.sign(mol.positions - X0)
    return out


TINY = ProtocolSettings(equilibration_steps=40, trajectories=3, nve_steps=400,
                        max_lag_fs=100.0, friction=0.05, sampling="langevin",
                        conformers=False)  # fmt: skip


def test_protocol_writes_trajectories_and_reports_nve_drift(tmp_path):
    import torch

    mol = Molecule(NUMBERS, X0 + 0.02, id="springs")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = run_protocol(FunctionPotential(springs), mol, TINY, out=tmp_path, workers=1,
                           progress=False, threads=1)  # fmt: skip
        assert torch.get_num_threads() == 2  # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    names = sorted(p.name for p in (tmp_path / "trajectories").iterdir())
    assert names == ["langevin_00.npz", "langevin_01.npz", "langevin_02.npz", "nve_00.npz",
                     "nve_01.npz", "nve_02.npz"]  # fmt: skip
    np.testing.assert_allclose(res.minimum.positions - res.minimum.positions.mean(0),
                               X0 - X0.mean(0), atol=0.02)  # fmt: skip
    assert res.spectrum.per_trajectory.shape[0] == 3
    assert len(res.nve) == 3 and all(abs(t["drift_eV_per_ps"]) < 0.05 for t in res.nve)
    assert all(100 < t["vibrational_temperature_K"] < 700 for t in res.nve)
    meta = res.metadata()
    for key in ("model run", "temperature", "time step", "trajectories", "total time", "window",
                "quantum correction"):  # fmt: skip
        assert key in meta
    assert meta["total time"].startswith("0.6 ps")
    # the NVE runs start from different Langevin conformers
    with (
        np.load(tmp_path / "trajectories" / "nve_00.npz") as a,
        np.load(tmp_path / "trajectories" / "nve_01.npz") as b,
    ):
        assert np.abs(a["positions"][0] - b["positions"][0]).max() > 1e-3
        assert "langevin" not in str(a["meta"]) or "nve" in str(a["meta"])
    # the same spectrum from the files
    ens, dt, integrator = spectrum_from_files(
        sorted((tmp_path / "trajectories").glob("nve_*.npz")), max_lag_fs=100.0
    )
    assert dt == 0.5 and integrator == 0.5  # the Verlet shift is removed as in the protocol
    np.testing.assert_allclose(ens.mean().intensity, res.spectrum.mean().intensity, atol=1e-12)
    bands = res.bands()  # picked with bootstrap uncertainties
    assert bands and all(np.isfinite(b.uncertainty) for b in bands if b.intensity > 0.3)


@pytest.mark.slow  # spawns two processes that import torch: ~30 s on 2 loaded cores
def test_parallel_workers_give_the_serial_result(tmp_path):
    mol = Molecule(NUMBERS, X0, id="springs")
    s = ProtocolSettings(**{**TINY.__dict__, "trajectories": 2, "nve_steps": 60})
    one = run_protocol(FunctionPotential(springs), mol, s, workers=1, progress=False)
    two = run_protocol(FunctionPotential(springs), mol, s, workers=2, progress=False)
    np.testing.assert_allclose(two.spectrum.per_trajectory, one.spectrum.per_trajectory)


def test_a_blow_up_stops_with_the_step_and_drift_named_and_keeps_the_files(tmp_path):
    mol = Molecule(NUMBERS, X0, id="springs")
    with pytest.raises(CalculationError) as exc:
        run_protocol(FunctionPotential(pushed), mol, TINY, out=tmp_path, workers=1,
                     progress=False)  # fmt: skip
    msg = str(exc.value)
    assert "\n" not in msg
    assert "NVE trajectory 0" in msg and "blew up" in msg and "at step" in msg
    assert "NVE total-energy drift" in msg and "kept" in msg
    kept = np.load(tmp_path / "trajectories" / "nve_00.npz")
    assert 1 < len(kept["time_fs"]) < TINY.nve_steps + 1
    assert np.all(np.isfinite(kept["total"]))


def test_nan_trajectory_files_are_refused(tmp_path):
    mol = Molecule(NUMBERS, X0, id="springs")
    s = ProtocolSettings(**{**TINY.__dict__, "trajectories": 1, "nve_steps": 40})
    run_protocol(FunctionPotential(springs), mol, s, out=tmp_path, workers=1, progress=False)
    with np.load(tmp_path / "trajectories" / "nve_00.npz") as z:
        bad = {k: z[k] for k in z.files}
    bad["positions"] = bad["positions"].copy()
    bad["positions"][30, 2, 1] = np.nan
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(InputError, match=r"bad.npz: non-finite positions from frame 30"):
        spectrum_from_files([tmp_path / "bad.npz"])


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="16 steps"):
        ProtocolSettings(nve_steps=5).check()
    with pytest.raises(InputError, match="temperature"):
        ProtocolSettings(temperature=0).check()

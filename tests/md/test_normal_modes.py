"""Normal modes by finite differences and fixed-energy normal-mode initial conditions, on the
all-pairs spring potential of the protocol tests (harmonic near its minimum)."""

from __future__ import annotations

import numpy as np
import pytest
from test_protocol import NUMBERS, X0, springs

from rhoml.ase import FunctionPotential, RhomlCalculator
from rhoml.errors import InputError
from rhoml.md.driver import KB_EV_PER_K
from rhoml.md.ir import harmonic_ir
from rhoml.md.normal_modes import initial_conditions, normal_modes
from rhoml.md.protocol import ProtocolSettings, run_protocol
from rhoml.molecule import Molecule


def test_modes_match_the_ase_vibrations_analysis():
    calc = RhomlCalculator(FunctionPotential(springs))
    mol = Molecule(NUMBERS, X0, id="springs")
    nm = normal_modes(calc, mol, step=0.005)
    ref = harmonic_ir(FunctionPotential(springs), mol, step=0.005)
    assert nm.omega.shape == (21,) and nm.vectors.shape == (21, 9, 3)
    np.testing.assert_allclose(nm.wavenumbers, ref.frequencies, rtol=1e-6)
    flat = nm.vectors.reshape(21, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(21), atol=1e-10)  # orthonormal


@pytest.mark.parametrize("temperature", [20.0, 300.0])
def test_every_mode_starts_with_kT_and_the_total_energy_is_the_target(temperature):
    calc = RhomlCalculator(FunctionPotential(springs))
    mol = Molecule(NUMBERS, X0, id="springs")
    nm = normal_modes(calc, mol)
    kt = KB_EV_PER_K * temperature
    pos, mom, info = initial_conditions(nm, calc, temperature, np.random.default_rng(1))
    assert info["start_energy_ev"] == pytest.approx(nm.energy_ev + 21 * kt, abs=1e-9)
    np.testing.assert_allclose(mom.sum(axis=0), 0.0, atol=1e-10)  # no centre-of-mass motion
    sqrt_m = np.sqrt(nm.masses)[:, None]
    q = np.tensordot(nm.vectors, sqrt_m * (pos - X0), axes=([1, 2], [0, 1]))
    p = np.tensordot(nm.vectors, mom / sqrt_m, axes=([1, 2], [0, 1]))
    energy = 0.5 * p**2 + 0.5 * nm.omega**2 * q**2
    # the springs are anharmonic in Cartesian coordinates (cubic terms ~ amplitude / length):
    # the velocity scale that restores the total energy moves each mode by a few %
    tol = 0.05 if temperature < 50 else 0.2
    np.testing.assert_allclose(energy / kt, 1.0, atol=tol)
    # another seed: other phases, the same energies
    pos2, _, _ = initial_conditions(nm, calc, temperature, np.random.default_rng(2))
    assert np.abs(pos2 - pos).max() > 1e-4


def test_protocol_with_normal_mode_starts_and_conformers(tmp_path):
    mol = Molecule(NUMBERS, X0 + 0.01, id="springs")
    s = ProtocolSettings(trajectories=3, nve_steps=200, settle_steps=20, max_lag_fs=50.0,
                         sampling="normal-modes", conformers=True)  # fmt: skip
    res = run_protocol(FunctionPotential(springs), mol, s, out=tmp_path, workers=1,
                       progress=False)  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "trajectories").iterdir())
    assert names == ["nve_00.npz", "nve_01.npz", "nve_02.npz", "settle_00.npz",
                     "settle_01.npz", "settle_02.npz"]  # fmt: skip
    # all-pair springs: turning the OH relaxes back, one conformer of all 3 starts
    assert len(res.conformers) == 1 and res.conformers[0]["count"] == 3
    assert res.conformers[0]["trajectories"] == 3 and res.langevin == {}
    assert all(100 < t["vibrational_temperature_K"] < 600 for t in res.nve)
    meta = res.metadata()["trajectories"]
    assert "normal-mode" in meta and "conformers: 3 at 0.00 kcal/mol" in meta
    # no settling: the NVE trajectory starts at the sampled point
    s0 = ProtocolSettings(**{**s.__dict__, "settle_steps": 0, "conformers": False,
                             "trajectories": 1})  # fmt: skip
    res0 = run_protocol(FunctionPotential(springs), mol, s0, out=tmp_path / "b", workers=1,
                        progress=False)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "b" / "trajectories").iterdir()) == ["nve_00.npz"]
    assert res0.conformers == []


def test_bad_sampling_settings_are_refused():
    with pytest.raises(InputError, match="sampling must be one of"):
        ProtocolSettings(sampling="replica").check()
    with pytest.raises(InputError, match="settle steps"):
        ProtocolSettings(settle_steps=-1).check()


def test_a_start_on_a_stiffening_potential_is_shrunk_to_keep_the_total_energy():
    """A quartic wall the Hessian does not see: the straight-line start would hold more than
    the energy to distribute; the displacement shrinks and the total is still the target."""

    def stiff(mol: Molecule) -> dict:
        out = springs(mol)
        d = mol.positions - X0
        out["energy"] += 1e6 * float((d**4).sum())
        out["forces"] = out["forces"] - 4e6 * d**3
        return out

    calc = RhomlCalculator(FunctionPotential(stiff))
    nm = normal_modes(calc, Molecule(NUMBERS, X0, id="stiff"))
    kt = KB_EV_PER_K * 300.0
    _, _, info = initial_conditions(nm, calc, 300.0, np.random.default_rng(0), soft_cm=0.0)
    assert info["displacement_scale"] < 1.0
    assert info["start_energy_ev"] == pytest.approx(nm.energy_ev + 21 * kt, abs=1e-9)

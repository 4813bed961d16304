"""IR spectra: synthetic harmonic dipole signals and an analytic harmonic diatomic."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.errors import InputError
from rhoml.md.ir import C_CM_PER_S, harmonic_ir, ir_from_dipoles
from rhoml.molecule import Molecule


@pytest.mark.parametrize("correction", ["harmonic", "none"])
def test_synthetic_dipole_peaks_at_its_wavenumber(correction):
    dt = 0.5  # fs
    t = np.arange(8000) * dt
    rng = np.random.default_rng(0)
    mu = np.zeros((len(t), 3))
    for wn, amp, axis in [(1050.0, 0.3, 0), (2950.0, 0.1, 2)]:
        f = wn * C_CM_PER_S * 1e-15  # cycles per fs
        mu[:, axis] += amp * np.cos(2 * np.pi * f * t + rng.uniform(0, 6))
    mu += 1e-4 * rng.normal(size=mu.shape)
    spec = ir_from_dipoles(mu, dt, correction=correction, max_lag_fs=1500)
    peaks = [w for w, _ in spec.peaks(n=2)]
    assert peaks == pytest.approx([1050.0, 2950.0], abs=6.0)
    # with the harmonic correction (∝ ω²) the 2950 line is relatively stronger than without
    y = dict((round(w), i) for w, i in spec.peaks(n=2))
    ratio = y[min(y, key=lambda w: abs(w - 2950))] / y[min(y, key=lambda w: abs(w - 1050))]
    if correction == "harmonic":
        assert ratio == pytest.approx((0.1 * 2950) ** 2 / (0.3 * 1050) ** 2, rel=0.25)


def test_bad_dipole_shape_is_rejected():
    with pytest.raises(InputError):
        ir_from_dipoles(np.zeros((100, 2)), 0.5)


def test_harmonic_ir_of_a_diatomic_spring():
    """Spring k between H and F with a dipole linear in the bond length: one line at
    ω = √(k/μ) and intensity 42.2561·(dμ/dr)²/μ_red km/mol."""
    from ase.data import atomic_masses

    k = 500.0  # kcal/mol/Å²
    q = 0.4  # D/Å
    r0 = 0.92

    def fn(m: Molecule) -> dict:
        d = m.positions[1] - m.positions[0]
        r = np.linalg.norm(d)
        u = d / r
        f1 = -k * (r - r0) * u
        return {
            "energy": 0.5 * k * (r - r0) ** 2,
            "forces": np.stack([-f1, f1]),
            "dipole": q * (r - r0) * u,
        }

    mol = Molecule([1, 9], [[0.0, 0.0, 0.0], [0.3, 0.5, r0 * 0.7]])
    mol.positions[1] = mol.positions[1] / np.linalg.norm(mol.positions[1]) * r0
    h = harmonic_ir(fn, mol, step=1e-3)
    mu_red = atomic_masses[1] * atomic_masses[9] / (atomic_masses[1] + atomic_masses[9])
    # ω = √(k/μ): k in kcal/mol/Å² → J/m², μ in kg; wavenumber = ω / (2π c)
    k_si = k * 4184.0 / 6.02214076e23 / 1e-20
    wn = np.sqrt(k_si / (mu_red * 1.66053906660e-27)) / (2 * np.pi * C_CM_PER_S)
    assert h.frequencies[-1] == pytest.approx(wn, rel=1e-4)
    assert h.intensities[-1] == pytest.approx(42.2561 * q**2 / mu_red, rel=1e-4)

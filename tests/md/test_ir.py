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


def _hand_written_harmonic(fn, molecule, step=0.005):
    """The normal-mode analysis rhoml used before ase.vibrations: central differences of
    forces (kcal/mol/Å) and dipoles (D), symmetrised Hessian, mass-weighted eigenmodes,
    intensities 42.2561·|∂μ/∂Q|² km/mol. Kept here as the reference the ASE path must match."""
    from ase import units
    from ase.data import atomic_masses

    from rhoml.units import convert

    pos0 = molecule.positions
    n = len(pos0)
    hess = np.zeros((3 * n, 3 * n))
    dmu = np.zeros((3 * n, 3))
    for k in range(3 * n):
        out = []
        for sgn in (1, -1):
            p = pos0.copy()
            p[k // 3, k % 3] += sgn * step
            out.append(fn(Molecule(molecule.numbers, p)))
        hess[k] = -(out[0]["forces"] - out[1]["forces"]).ravel() / (2 * step)
        dmu[k] = (np.asarray(out[0]["dipole"]) - np.asarray(out[1]["dipole"])) / (2 * step)
    hess = convert(0.5 * (hess + hess.T), "kcal/mol", "eV")
    m = np.repeat(atomic_masses[molecule.numbers], 3)
    lam, vec = np.linalg.eigh(hess / np.sqrt(m[:, None] * m[None, :]))
    s = units._hbar * 1e10 / np.sqrt(units._e * units._amu)
    wn = s * np.sqrt(np.abs(lam)) * np.sign(lam) / units.invcm
    order = np.argsort(np.abs(wn))[6:]
    order = order[np.argsort(wn[order])]
    dmu_dq = (vec[:, order] / np.sqrt(m)[:, None]).T @ dmu
    return wn[order], 42.2561 * np.sum(dmu_dq**2, axis=1)


def test_ase_vibrations_path_equals_the_hand_written_analysis():
    """Shipped `ethanol-small` run (the model of the committed benchmark table densnet_md_ir.json)
    at its own minimum: frequencies to 1e-8 cm⁻¹ and intensities to 1e-7 relative (ASE's Debye
    constant differs from PySCF's in the 9th digit) against the hand-written analysis, and the
    committed table."""
    import json
    from pathlib import Path

    from rhoml import runs
    from rhoml.md.ir import optimise

    root = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    ref = json.loads((root / "densnet_harmonic_dft.json").read_text())
    pot = runs.load("ethanol-small").potential()
    mol = optimise(pot, Molecule(ref["numbers"], ref["positions_angstrom"]), fmax=1e-3)
    h = harmonic_ir(pot, mol, step=0.005)
    wn, inten = _hand_written_harmonic(pot.compute, mol)
    np.testing.assert_allclose(h.frequencies, wn, rtol=0, atol=1e-8)
    np.testing.assert_allclose(h.intensities, inten, rtol=1e-7, atol=1e-9)
    committed = json.loads((root / "densnet_md_ir.json").read_text())
    np.testing.assert_allclose(h.frequencies, committed["ml_harmonic_cm-1"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(h.intensities, committed["ml_harmonic_km_mol"], rtol=1e-6)


def _oscillator_trajectories(n: int, rng, dt: float = 1.0, steps: int = 2000) -> np.ndarray:
    """``n`` dipole series (n, steps, 3), each one oscillator whose wavenumber scatters around
    1000 cm⁻¹ (σ 10 cm⁻¹: conformers) with a random phase, direction, and noise."""
    t = np.arange(steps) * dt
    out = np.empty((n, steps, 3))
    for k in range(n):
        f = (1000.0 + rng.normal(0, 10.0)) * C_CM_PER_S * 1e-15
        axis = rng.normal(size=3)
        out[k] = (
            np.cos(2 * np.pi * f * t + rng.uniform(0, 6))[:, None] * axis / np.linalg.norm(axis)
        )
        out[k] += 0.01 * rng.normal(size=(steps, 3))
    return out


def test_averaging_over_trajectories_reduces_the_spread():
    """Band position of the averaged spectrum over independent groups of 2 and of 16
    trajectories: the spread shrinks (about as 1/√N), and the bootstrap error estimates it
    (for 16 trajectories; two are too few for a bootstrap)."""
    from rhoml.md.bands import find_bands
    from rhoml.md.ir import EnsembleSpectrum, dipole_spectra

    rng = np.random.default_rng(3)
    spread, boot = {}, {}
    for n in (2, 16):
        pos, unc = [], []
        for _ in range(40):
            ens = EnsembleSpectrum(*dipole_spectra(_oscillator_trajectories(n, rng), 1.0,
                                                   max_lag_fs=1000.0))  # fmt: skip
            m = ens.mean()
            b = max(find_bands(m.wavenumber, m.intensity, lo=800, hi=1200,
                               samples=ens.bootstrap(100), noise_sigmas=0.0),
                    key=lambda b: b.intensity)  # fmt: skip
            pos.append(b.position)
            unc.append(b.uncertainty)
        spread[n], boot[n] = np.std(pos), np.nanmedian(unc)
    assert spread[16] < 0.5 * spread[2]  # 1/√8 ≈ 0.35 expected
    assert boot[16] < boot[2]
    # with 16 trajectories the bootstrap error is of the order of the true spread
    assert 0.5 * spread[16] < boot[16] < 2.0 * spread[16]


def test_ensemble_spectrum_is_normalised_on_the_strongest_mid_ir_band():
    """A far-IR feature stronger than every mid-IR band does not set the scale, and the mean of
    per-trajectory spectra is the spectrum of the averaged ACF."""
    from rhoml.md.ir import EnsembleSpectrum, dipole_spectra

    dt = 0.5
    t = np.arange(6000) * dt
    mu = np.zeros((2, len(t), 3))
    for k, phase in enumerate((0.3, 2.0)):
        mu[k, :, 0] = 5.0 * np.cos(2 * np.pi * 150.0 * C_CM_PER_S * 1e-15 * t + phase)
        mu[k, :, 1] = 0.2 * np.cos(2 * np.pi * 1200.0 * C_CM_PER_S * 1e-15 * t + phase)
    ens = EnsembleSpectrum(*dipole_spectra(list(mu), dt, max_lag_fs=1000.0))
    spec = ens.mean()
    mid = (spec.wavenumber >= 500) & (spec.wavenumber <= 4000)
    assert spec.intensity[mid].max() == pytest.approx(1.0)
    assert spec.intensity[spec.wavenumber < 300].max() > 1.0
    np.testing.assert_allclose(ir_from_dipoles(mu, dt, max_lag_fs=1000.0).intensity, spec.intensity)
    assert ens.std().shape == spec.wavenumber.shape


def test_harmonic_frequencies_of_a_quadratic_potential_with_known_hessian():
    """E = ½ ΔxᵀKΔx with K free of translations and rotations at x0 and μ = μ0 + QΔx: the
    harmonic analysis returns the eigenvalues of M^-½KM^-½ and 42.2561·|∂μ/∂q|² km/mol."""
    from ase import units
    from ase.data import atomic_masses

    from rhoml.units import convert

    numbers = np.array([8, 8, 1, 1])
    x0 = np.array([[0.0, 0.72, -0.05], [0.05, -0.72, 0.0], [0.9, 0.9, 0.4], [-0.85, -0.95, 0.45]])
    n = len(numbers)
    rng = np.random.default_rng(7)
    c = x0 - x0.mean(axis=0)
    basis = [np.tile(np.eye(3)[i], n) for i in range(3)]
    basis += [np.cross(np.eye(3)[i], c).ravel() for i in range(3)]
    q, _ = np.linalg.qr(np.array(basis).T)
    proj = np.eye(3 * n) - q @ q.T
    a = rng.normal(size=(3 * n, 3 * n))
    k_mat = proj @ (a @ a.T * 40.0 + 300.0 * np.eye(3 * n)) @ proj  # kcal/mol/Å²
    dip = rng.normal(size=(3, 3 * n))  # D/Å

    def fn(m: Molecule) -> dict:
        d = (m.positions - x0).ravel()
        return {"energy": 0.5 * d @ k_mat @ d, "forces": -(k_mat @ d).reshape(n, 3),
                "dipole": np.array([0.1, 0.2, 0.3]) + dip @ d}  # fmt: skip

    h = harmonic_ir(fn, Molecule(numbers, x0), step=1e-3)
    m = np.repeat(atomic_masses[numbers], 3)
    lam, vec = np.linalg.eigh(convert(1.0, "kcal/mol", "eV") * k_mat / np.sqrt(np.outer(m, m)))
    order = np.argsort(lam)[6:]
    s = units._hbar * 1e10 / np.sqrt(units._e * units._amu) / units.invcm
    np.testing.assert_allclose(h.frequencies, s * np.sqrt(lam[order]), rtol=1e-6)
    dmu_dq = (vec[:, order] / np.sqrt(m)[:, None]).T @ dip.T
    np.testing.assert_allclose(h.intensities, 42.2561 * (dmu_dq**2).sum(axis=1), rtol=1e-5)


def test_conformers_combine_into_one_weighted_stick_spectrum():
    from rhoml.md.bands import mode_deviation
    from rhoml.md.ir import HarmonicIR, combine_conformers

    a = HarmonicIR(np.array([1000.0, 3000.0]), np.array([10.0, 20.0]), np.zeros((3, 3)))
    b = HarmonicIR(np.array([1050.0, 2900.0]), np.array([30.0, 5.0]), np.ones((3, 3)))
    assert combine_conformers([(1.0, a)]) is a
    both = combine_conformers([(1.0, a), (3.0, b)])
    assert both.weights == (0.25, 0.75) and both.conformer.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(both.intensities, [2.5, 5.0, 22.5, 3.75])
    np.testing.assert_allclose(both.positions, b.positions)  # the heavier conformer's
    (wa, fa, ia), (wb, fb, ib) = both.blocks()
    assert (wa, wb) == (0.25, 0.75)
    np.testing.assert_allclose(ia, a.intensities) and np.testing.assert_allclose(ib, b.intensities)
    # conformers are paired with conformers: a vs a and b vs b, not modes across them
    shifted = combine_conformers([(1.0, a), (3.0, HarmonicIR(b.frequencies + 5, b.intensities,
                                                               b.positions))])  # fmt: skip
    assert mode_deviation(shifted, both) == {"n_modes": 4, "max_abs_cm-1": 5.0,
                                             "mean_abs_cm-1": 2.5, "within_20": 4}  # fmt: skip
    with pytest.raises(ValueError, match="reference modes"):
        mode_deviation(both, a)
    with pytest.raises(InputError, match="weights"):
        combine_conformers([(0.0, a), (1.0, b)])


def test_verlet_correction_puts_a_harmonic_band_back_at_its_frequency():
    """A harmonic oscillator at 3000 cm⁻¹ integrated by velocity Verlet with Δt = 1 fs rings at
    (2/Δt)·arcsin(ωΔt/2): about 41 cm⁻¹ too high; the correction removes that."""
    from rhoml.md.ir import dipole_spectra, verlet_correction

    dt, nu = 1.0, 3000.0
    omega = 2 * np.pi * C_CM_PER_S * 1e-15 * nu  # rad/fs
    x, v, xs = 1.0, 0.0, []
    for _ in range(8000):
        v -= 0.5 * dt * omega**2 * x
        x += dt * v
        v -= 0.5 * dt * omega**2 * x
        xs.append(x)
    dip = np.zeros((len(xs), 3))
    dip[:, 0] = xs
    wn, spec = dipole_spectra([dip], dt, max_lag_fs=4000.0)
    seen = wn[np.argmax(spec[0])]
    fixed = wn[np.argmax(verlet_correction(wn, spec, dt)[0])]
    expected = 2 / dt * np.arcsin(omega * dt / 2) / (2 * np.pi * C_CM_PER_S * 1e-15)
    assert abs(seen - expected) < 2.0 and seen - nu > 35.0
    assert abs(fixed - nu) < 2.0
    with pytest.raises(InputError, match="time step"):
        verlet_correction(wn, spec, 0.0)

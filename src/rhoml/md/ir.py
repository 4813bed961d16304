"""IR spectra: from a dipole time series (MD) and harmonic (PySCF DFT) references.

MD spectrum (Martin et al., PCCP 15, 6608 (2013); quantum correction: Ramírez et al.,
J. Phys. Chem. A 108, 3 (2004)): the autocorrelation of the dipole derivative μ̇ (central
differences, Debye/fs) by FFT (Wiener–Khinchin), truncated to ``max_lag`` and multiplied by a Hann
window, zero-padded, cosine-transformed. Classically α(ω)n(ω) ∝ ω²·C̃_μμ(ω) = C̃_μ̇μ̇(ω); the
quantum lineshape is ω(1−e^{−βħω})·C̃ (angular ω, ħω not ħν), and the harmonic quantum-correction
factor βħω/(1−e^{−βħω}) applied to the classical C̃ gives back ∝ ω²·C̃_cl: ``correction="harmonic"``
returns C̃_μ̇μ̇, ``"none"`` returns ω(1−e^{−βħω})·C̃_μμ (the uncorrected classical estimate).
Intensities are in arbitrary units normalised to a maximum of 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rhoml.errors import InputError

C_CM_PER_S = 2.99792458e10  # speed of light, cm/s
KB_CM = 0.695034800  # Boltzmann constant in cm⁻¹/K (CODATA 2018: k/hc)


@dataclass
class Spectrum:
    """wavenumber (cm⁻¹) and intensity (arb. units, max 1)."""

    wavenumber: np.ndarray
    intensity: np.ndarray

    def peaks(
        self, n: int = 10, lo: float = 400.0, hi: float = 4000.0, prominence: float = 0.02
    ) -> list[tuple[float, float]]:
        """The ``n`` strongest local maxima in [lo, hi] cm⁻¹ as (wavenumber, intensity)."""
        from scipy.signal import find_peaks

        m = (self.wavenumber >= lo) & (self.wavenumber <= hi)
        w, y = self.wavenumber[m], self.intensity[m]
        idx, _ = find_peaks(y, prominence=prominence * y.max() if y.size else 0)
        idx = idx[np.argsort(y[idx])[::-1][:n]]
        return sorted((float(w[i]), float(y[i])) for i in idx)


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Unbiased autocorrelation ⟨x(0)·x(t)⟩ of a (n_steps, d) series by FFT, shape (n_steps,)."""
    x = np.asarray(x, float)
    if x.ndim == 1:
        x = x[:, None]
    n = len(x)
    f = np.fft.rfft(x, n=2 * n, axis=0)
    acf = np.fft.irfft((f * f.conj()), axis=0)[:n].real.sum(axis=1)
    return acf / (n - np.arange(n))


def ir_from_dipoles(
    dipoles: np.ndarray,
    dt_fs: float,
    *,
    temperature: float = 300.0,
    max_lag_fs: float = 2000.0,
    pad: int = 4,
    correction: str = "harmonic",
) -> Spectrum:
    """IR spectrum of a dipole series ``dipoles`` (n_steps, 3) Debye sampled every ``dt_fs`` fs
    (or (n_traj, n_steps, 3): ACFs are averaged)."""
    d = np.asarray(dipoles, float)
    if d.ndim == 2:
        d = d[None]
    if d.ndim != 3 or d.shape[-1] != 3 or d.shape[1] < 8:
        raise InputError(f"dipoles of shape {d.shape}: expected (n_steps ≥ 8, 3)")
    if correction not in ("harmonic", "none"):
        raise InputError(f"correction must be 'harmonic' or 'none', got {correction!r}")
    n_lag = min(d.shape[1] - 2, max(8, int(round(max_lag_fs / dt_fs))))
    if correction == "harmonic":
        series = [(x[2:] - x[:-2]) / (2 * dt_fs) for x in d]  # μ̇, central differences
    else:
        series = [x - x.mean(axis=0) for x in d]
    acf = np.mean([autocorrelation(s)[:n_lag] for s in series], axis=0)
    window = np.hanning(2 * n_lag)[n_lag:]  # right half: 1 → 0
    a = acf * window
    n_fft = pad * 2 * n_lag
    mirrored = np.concatenate([a, np.zeros(n_fft - 2 * n_lag + 1), a[:0:-1]])
    spec = np.fft.rfft(mirrored).real * dt_fs
    freq_hz = np.fft.rfftfreq(len(mirrored), d=dt_fs * 1e-15)
    wn = freq_hz / C_CM_PER_S
    if correction == "none":
        bh_omega = wn / (KB_CM * temperature)  # βħω = hcν̃/kT
        spec = wn * (1 - np.exp(-bh_omega)) * spec
    spec = np.clip(spec, 0, None)
    top = spec[wn > 100].max() if np.any(wn > 100) else spec.max()
    return Spectrum(wn, spec / top if top > 0 else spec)


def broaden(
    freqs_cm: np.ndarray, intensities: np.ndarray, grid: np.ndarray, fwhm: float = 20.0
) -> np.ndarray:
    """Lorentzian stick broadening of harmonic lines onto ``grid`` (cm⁻¹), max-normalised."""
    g = fwhm / 2
    y = np.sum(
        intensities[:, None] * g**2 / ((grid[None, :] - freqs_cm[:, None]) ** 2 + g**2), axis=0
    )
    return y / y.max() if y.max() > 0 else y


def write_spectrum(
    spectrum: Spectrum,
    csv_path,
    png_path=None,
    *,
    title: str = "",
    reference: Spectrum | None = None,
    sticks=None,
) -> None:
    """CSV (wavenumber_cm-1, intensity_arb) and optionally a PNG plot (400–4000 cm⁻¹)."""
    from pathlib import Path

    m = (spectrum.wavenumber >= 0) & (spectrum.wavenumber <= 4500)
    np.savetxt(
        Path(csv_path),
        np.column_stack([spectrum.wavenumber[m], spectrum.intensity[m]]),
        delimiter=",",
        header="wavenumber_cm-1,intensity_arb",
        comments="",
        fmt="%.4f",
    )
    if png_path is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(spectrum.wavenumber[m], spectrum.intensity[m], lw=1, label="ML MD (dipole ACF)")
    if reference is not None:
        r = (reference.wavenumber >= 0) & (reference.wavenumber <= 4500)
        ax.plot(
            reference.wavenumber[r],
            reference.intensity[r],
            lw=1,
            alpha=0.8,
            label="DFT harmonic (Lorentzian 20 cm⁻¹)",
        )
    if sticks is not None:
        f, i = sticks
        ax.vlines(f, 0, i / i.max(), colors="k", lw=0.6, alpha=0.5, label="DFT harmonic lines")
    ax.set_xlim(400, 4000)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("wavenumber (cm⁻¹)")
    ax.set_ylabel("intensity (arb.)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(png_path), dpi=120)
    plt.close(fig)


@dataclass
class HarmonicIR:
    """Harmonic frequencies (cm⁻¹, ascending, 3N−6 or 3N−5) and IR intensities (km/mol)."""

    frequencies: np.ndarray
    intensities: np.ndarray
    positions: np.ndarray  # optimised geometry (Å)

    def table(self, min_intensity: float = 0.0) -> list[tuple[float, float]]:
        return [
            (float(f), float(i))
            for f, i in zip(self.frequencies, self.intensities, strict=True)
            if i >= min_intensity
        ]


def optimise(fn, molecule, fmax: float = 0.01, steps: int = 200, log=None):
    """Relax ``molecule`` with ASE BFGS on ``fn`` (see :class:`FunctionCalculator`); ``fmax``
    in eV/Å. Returns the relaxed :class:`Molecule`."""
    from ase import Atoms
    from ase.optimize import BFGS

    from rhoml.md.calculator import FunctionCalculator, atoms_to_molecule

    atoms = Atoms(numbers=molecule.numbers, positions=molecule.positions)
    atoms.calc = FunctionCalculator(fn, molecule.charge)
    BFGS(atoms, logfile=log).run(fmax=fmax, steps=steps)
    return atoms_to_molecule(atoms, molecule.charge)


def harmonic_ir(fn, molecule, step: float = 0.005, progress: bool = False) -> HarmonicIR:
    """Harmonic IR at ``molecule`` (already a minimum) by central finite differences (``step``
    Å) of analytic forces and dipoles from ``fn`` (kcal/mol/Å, Debye): Hessian → mass-weighted
    normal modes; intensity = 42.2561·|∂μ/∂Q|² km/mol with μ in D, Q in Å·amu^½ (the standard
    conversion used e.g. by ASE's ``Infrared``)."""
    from ase import units
    from ase.data import atomic_masses
    from tqdm.auto import tqdm

    from rhoml.molecule import Molecule
    from rhoml.units import convert

    pos0 = molecule.positions
    n = len(pos0)
    hess = np.zeros((3 * n, 3 * n))
    dmu = np.zeros((3 * n, 3))
    for k in tqdm(range(3 * n), desc="harmonic", disable=not progress):
        out = []
        for sgn in (1, -1):
            p = pos0.copy()
            p[k // 3, k % 3] += sgn * step
            out.append(
                fn(
                    Molecule(
                        molecule.numbers,
                        p,
                        charge=molecule.charge,
                        multiplicity=molecule.multiplicity,
                    )
                )
            )
        hess[k] = -(out[0]["forces"] - out[1]["forces"]).ravel() / (2 * step)
        dmu[k] = (np.asarray(out[0]["dipole"]) - np.asarray(out[1]["dipole"])) / (2 * step)
    hess = 0.5 * (hess + hess.T)
    hess_ev = convert(hess, "kcal/mol", "eV")  # eV/Å²
    m = np.repeat(atomic_masses[molecule.numbers], 3)
    mw = hess_ev / np.sqrt(m[:, None] * m[None, :])
    lam, vec = np.linalg.eigh(mw)
    # ħω in eV from λ (eV/Å²/amu), as in ase.vibrations
    s = units._hbar * 1e10 / np.sqrt(units._e * units._amu)
    energies = s * np.sqrt(np.abs(lam)) * np.sign(lam)
    wn = energies / units.invcm
    centred = pos0 - pos0.mean(axis=0)
    linear = np.linalg.matrix_rank(centred, tol=1e-6) <= 1
    n_zero = 3 if n == 1 else (5 if linear else 6)
    order = np.argsort(np.abs(wn))[n_zero:]  # drop translations and rotations
    order = order[np.argsort(wn[order])]
    modes = vec[:, order] / np.sqrt(m)[:, None]  # Cartesian displacement per unit Q
    dmu_dq = modes.T @ dmu  # D/(Å·amu^½)
    inten = 42.2561 * np.sum(dmu_dq**2, axis=1)
    return HarmonicIR(wn[order], inten, pos0.copy())

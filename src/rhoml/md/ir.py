"""IR spectra: from a dipole time series (MD) and harmonic (normal modes of any potential).

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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


MID_IR = (500.0, 4000.0)  # cm⁻¹: the range a spectrum is normalised on (its strongest band)


def mid_ir_max(wavenumber: np.ndarray, intensity: np.ndarray) -> float:
    """Largest intensity in the mid IR (:data:`MID_IR`), or anywhere when nothing lies there."""
    m = (wavenumber >= MID_IR[0]) & (wavenumber <= MID_IR[1])
    y = intensity[m] if np.any(m) else intensity
    return float(y.max()) if y.size else 0.0


def dipole_spectra(
    dipoles,
    dt_fs: float,
    *,
    temperature: float = 300.0,
    max_lag_fs: float = 1000.0,
    pad: int = 4,
    correction: str = "harmonic",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-trajectory IR spectra of dipole series, unnormalised and on one common grid.

    ``dipoles``: a sequence of (n_steps, 3) arrays in Debye sampled every ``dt_fs`` fs (lengths
    may differ), or one (n_traj, n_steps, 3) array. Returns (wavenumber (n_wn,) cm⁻¹,
    spectra (n_traj, n_wn) arb. units on a common scale). Spectra are linear in the ACF: their
    mean is the spectrum of the averaged ACF."""
    if isinstance(dipoles, np.ndarray) and dipoles.ndim == 2:
        dipoles = [dipoles]
    series = [np.asarray(d, float) for d in dipoles]
    for d in series:
        if d.ndim != 2 or d.shape[-1] != 3 or d.shape[0] < 8:
            raise InputError(f"dipoles of shape {d.shape}: expected (n_steps ≥ 8, 3)")
    if not series:
        raise InputError("no dipole series given")
    if correction not in ("harmonic", "none"):
        raise InputError(f"correction must be 'harmonic' or 'none', got {correction!r}")
    if not dt_fs > 0:
        raise InputError(f"time step must be > 0 fs, got {dt_fs}")
    n_min = min(len(d) for d in series)
    n_lag = min(n_min - 2, max(8, int(round(max_lag_fs / dt_fs))))
    window = np.hanning(2 * n_lag)[n_lag:]  # right half: 1 → 0
    n_fft = pad * 2 * n_lag
    out = []
    for x in series:
        if correction == "harmonic":
            y = (x[2:] - x[:-2]) / (2 * dt_fs)  # μ̇, central differences
        else:
            y = x - x.mean(axis=0)
        a = autocorrelation(y)[:n_lag] * window
        mirrored = np.concatenate([a, np.zeros(n_fft - 2 * n_lag + 1), a[:0:-1]])
        out.append(np.fft.rfft(mirrored).real * dt_fs)
    freq_hz = np.fft.rfftfreq(n_fft, d=dt_fs * 1e-15)
    wn = freq_hz / C_CM_PER_S
    spec = np.asarray(out)
    if correction == "none":
        bh_omega = wn / (KB_CM * temperature)  # βħω = hcν̃/kT
        spec = wn * (1 - np.exp(-bh_omega)) * spec
    return wn, spec


def verlet_correction(wavenumber: np.ndarray, spectra: np.ndarray, dt_fs: float) -> np.ndarray:
    """``spectra`` (n_wn,) or (n, n_wn) on the ascending grid ``wavenumber`` (cm⁻¹) of a
    velocity-Verlet trajectory with time step ``dt_fs`` fs, moved to the frequencies the
    integrator's frequency shift came from, on the same grid.

    Velocity Verlet turns a harmonic mode of frequency ω into an oscillation at
    Ω = (2/Δt)·arcsin(ωΔt/2) > ω (e.g. +10 cm⁻¹ at 3000 cm⁻¹ and +19 at 3700 for Δt =
    0.5 fs); its inverse ν̃ = ν̃_obs·sin(x)/x with x = πcΔt·ν̃_obs (c in cm/fs) maps every
    observed wavenumber back, and intensity moves with it (I(ν̃) = I_obs/cos x). Exact for
    harmonic modes, the leading correction for anharmonic ones."""
    wn = np.asarray(wavenumber, float)
    y = np.asarray(spectra, float)
    if not dt_fs > 0:
        raise InputError(f"time step must be > 0 fs, got {dt_fs}")
    x = np.pi * C_CM_PER_S * 1e-15 * dt_fs * wn
    ok = x < 0.49 * np.pi  # below the integrator's own Nyquist frequency, where sin x/x turns
    true = wn[ok] * np.sinc(x[ok] / np.pi)
    moved = np.atleast_2d(y)[:, ok] / np.cos(x[ok])
    return np.stack([np.interp(wn, true, row, right=0.0) for row in moved]).reshape(y.shape)


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
    (or (n_traj, n_steps, 3): ACFs are averaged), normalised on its strongest mid-IR band."""
    d = np.asarray(dipoles, float)
    if d.ndim == 2:
        d = d[None]
    if d.ndim != 3:
        raise InputError(f"dipoles of shape {d.shape}: expected (n_steps ≥ 8, 3)")
    return EnsembleSpectrum(
        *dipole_spectra(
            list(d),
            dt_fs,
            temperature=temperature,
            max_lag_fs=max_lag_fs,
            pad=pad,
            correction=correction,
        )  # fmt: skip
    ).mean()


@dataclass
class EnsembleSpectrum:
    """IR spectra of independent trajectories on one grid: ``wavenumber`` (n_wn,) cm⁻¹ and
    ``per_trajectory`` (n_traj, n_wn), unnormalised on a common scale. The ensemble spectrum is
    their mean; bootstrap resamples of the trajectories give its uncertainty. Everything
    returned is normalised on the strongest mid-IR band of the mean (max 1 in 500–4000 cm⁻¹)."""

    wavenumber: np.ndarray
    per_trajectory: np.ndarray

    @property
    def n_trajectories(self) -> int:
        return int(len(self.per_trajectory))

    def scale(self) -> float:
        top = mid_ir_max(self.wavenumber, np.clip(self.per_trajectory.mean(axis=0), 0, None))
        return top if top > 0 else 1.0

    def mean(self) -> Spectrum:
        y = np.clip(self.per_trajectory.mean(axis=0), 0, None) / self.scale()
        return Spectrum(self.wavenumber, y)

    def trajectories(self) -> np.ndarray:
        """(n_traj, n_wn) per-trajectory spectra on the mean's scale (each averages to it)."""
        return self.per_trajectory / self.scale()

    def bootstrap(self, n: int = 200, seed: int = 0) -> np.ndarray:
        """(n, n_wn) means of ``n`` bootstrap resamples of the trajectories, on the mean's
        scale (all equal to the mean for one trajectory)."""
        rng = np.random.default_rng(seed)
        k = self.n_trajectories
        counts = np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(n)])
        return np.clip(counts @ self.per_trajectory / k, 0, None) / self.scale()

    def std(self, n: int = 200, seed: int = 0) -> np.ndarray:
        """(n_wn,) bootstrap standard error of the mean spectrum (0 for one trajectory)."""
        return self.bootstrap(n, seed).std(axis=0)


def broaden(
    freqs_cm: np.ndarray,
    intensities: np.ndarray,
    grid: np.ndarray,
    fwhm: float = 20.0,
    shape: str = "lorentzian",
) -> np.ndarray:
    """Stick broadening of harmonic lines onto ``grid`` (cm⁻¹) with ``shape`` "lorentzian" or
    "gaussian" lines of ``fwhm`` cm⁻¹, max-normalised."""
    d = grid[None, :] - np.asarray(freqs_cm, float)[:, None]
    if shape == "lorentzian":
        g = fwhm / 2
        lines = g**2 / (d**2 + g**2)
    elif shape == "gaussian":
        lines = np.exp(-0.5 * (d / (fwhm / 2.3548)) ** 2)
    else:
        raise InputError(f"line shape must be 'lorentzian' or 'gaussian', got {shape!r}")
    y = np.sum(np.asarray(intensities, float)[:, None] * lines, axis=0)
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
    """CSV (wavenumber_cm-1, intensity_arb) and optionally a PNG plot (4000–400 cm⁻¹,
    wavenumber decreasing to the right). The protocol's richer outputs (metadata header,
    uncertainty, experiment overlay) are in :mod:`rhoml.md.ir_report`."""
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
    ax.plot(spectrum.wavenumber[m], spectrum.intensity[m], lw=1, label="MD dipole-derivative ACF")
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
    ax.set_xlim(4000, 400)
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
    """Harmonic frequencies (cm⁻¹, ascending, 3N−6 or 3N−5) and IR intensities (km/mol).

    Made by :func:`combine_conformers`, it holds the modes of several conformers, block after
    block (each ascending): ``conformer`` (n_modes,) the conformer index of each mode,
    ``weights`` the conformer weights (summing to 1), ``intensities`` multiplied by their
    conformer's weight, ``positions`` the geometry of the heaviest conformer."""

    frequencies: np.ndarray
    intensities: np.ndarray
    positions: np.ndarray  # optimised geometry (Å)
    conformer: np.ndarray | None = None
    weights: tuple[float, ...] = ()

    def blocks(self) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """Per conformer: (weight, frequencies cm⁻¹, intensities km/mol of that conformer
        alone); one block of weight 1 for a single geometry."""
        if self.conformer is None or not self.weights:
            return [(1.0, np.asarray(self.frequencies), np.asarray(self.intensities))]
        c = np.asarray(self.conformer)
        return [(w, np.asarray(self.frequencies)[c == k], np.asarray(self.intensities)[c == k] / w)
                for k, w in enumerate(self.weights)]  # fmt: skip

    def table(self, min_intensity: float = 0.0) -> list[tuple[float, float]]:
        return [
            (float(f), float(i))
            for f, i in zip(self.frequencies, self.intensities, strict=True)
            if i >= min_intensity
        ]


def combine_conformers(results: Sequence[tuple[float, HarmonicIR]]) -> HarmonicIR:
    """One :class:`HarmonicIR` of several conformers (``(weight, result)`` pairs, e.g.
    Boltzmann weights × degeneracy; normalised here): the stick spectrum an equilibrium
    mixture shows, comparable with MD over the same conformers. One conformer is returned
    unchanged."""
    if not results:
        raise InputError("combine_conformers: no conformers given")
    if len(results) == 1:
        return results[0][1]
    w = np.asarray([float(r[0]) for r in results])
    if np.any(w <= 0):
        raise InputError(f"conformer weights must be > 0, got {w.tolist()}")
    w = w / w.sum()
    hs = [r[1] for r in results]
    return HarmonicIR(
        np.concatenate([h.frequencies for h in hs]),
        np.concatenate([wk * np.asarray(h.intensities) for wk, h in zip(w, hs, strict=True)]),
        hs[int(np.argmax(w))].positions,
        np.concatenate([np.full(len(h.frequencies), k) for k, h in enumerate(hs)]),
        tuple(float(x) for x in w),
    )


def _calculator(potential, charge: int):
    """An ASE calculator: ``potential`` itself when it is one, else a
    :class:`~rhoml.ase.RhomlCalculator` over it (a potential, run, run folder or function)."""
    from ase.calculators.calculator import Calculator

    from rhoml.ase import RhomlCalculator

    if isinstance(potential, Calculator):
        return potential
    return RhomlCalculator(potential, charge)


def optimise(potential, molecule, fmax: float = 0.01, steps: int = 200, log=None):
    """Relax ``molecule`` with ASE BFGS on ``potential`` (an ASE calculator, or anything
    :class:`~rhoml.ase.RhomlCalculator` takes); ``fmax`` in eV/Å. Returns the relaxed
    :class:`Molecule`."""
    from ase.optimize import BFGS

    from rhoml.ase import atoms_to_molecule, molecule_to_atoms

    atoms = molecule_to_atoms(molecule)
    atoms.calc = _calculator(potential, molecule.charge)
    BFGS(atoms, logfile=log).run(fmax=fmax, steps=steps)
    out = atoms_to_molecule(atoms, molecule.charge)
    out.id = molecule.id
    return out


def external_modes(positions) -> int:
    """Translations and rotations among the 3N normal modes: 3 (one atom), 5 (linear), 6."""
    pos = np.asarray(positions, dtype=float)
    if len(pos) == 1:
        return 3
    linear = np.linalg.matrix_rank(pos - pos.mean(axis=0), tol=1e-6) <= 1
    return 5 if linear else 6


#: km/mol per (D/Å)²/amu: N_A π / (3 c²) with the dipole derivative in D/Å and the mass in amu
KM_MOL_PER_D2_A2_AMU = 42.2561


def harmonic_ir(potential, molecule, step: float = 0.005, progress: bool = False) -> HarmonicIR:
    """Harmonic IR at ``molecule`` (already a minimum) with :class:`ase.vibrations.Infrared`:
    central finite differences (``step`` Å) of the analytic forces and dipoles of ``potential``
    (an ASE calculator, or anything :class:`~rhoml.ase.RhomlCalculator` takes) → symmetrised
    Hessian → mass-weighted normal modes. The 6 (5 linear, 3 atom) modes of smallest |ν| are
    dropped as translations and rotations; imaginary modes are returned as negative
    wavenumbers. Intensity = 42.2561·|∂μ/∂Q|² km/mol (μ in D, Q in Å·amu^½)."""
    import tempfile

    from ase.vibrations import Infrared

    from rhoml.ase import molecule_to_atoms

    atoms = molecule_to_atoms(molecule)
    atoms.calc = _calculator(potential, molecule.charge)
    n = len(atoms)
    with tempfile.TemporaryDirectory(prefix="rhoml-ir-") as tmp:
        ir = Infrared(atoms, name=str(Path(tmp) / "ir"), delta=step, nfree=2)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=6 * n + 1, desc="harmonic", unit="point")
            calculate = ir.calculate

            def counted(a, disp):
                bar.update(1)
                return calculate(a, disp)

            ir.calculate = counted
        ir.run()
        ir.read()
        if bar is not None:
            bar.close()
        hnu = np.asarray(ir.hnu)
        inten = np.asarray(ir.intensities) * KM_MOL_PER_D2_A2_AMU  # from (D/Å)²/amu
    from ase import units

    wn = np.where(np.abs(hnu.imag) > 0, -np.abs(hnu.imag), hnu.real) / units.invcm
    n_zero = external_modes(molecule.positions)
    order = np.argsort(np.abs(wn))[n_zero:]  # drop translations and rotations
    order = order[np.argsort(wn[order])]
    return HarmonicIR(wn[order], inten[order], molecule.positions.copy())


def harmonic_at_minimum(potential, molecule, *, fmax: float = 1e-3, step: float = 0.005,
                        opt_steps: int = 1000, progress: bool = False) -> HarmonicIR:  # fmt: skip
    """:func:`harmonic_ir` at the minimum of ``potential`` reached from ``molecule`` by
    :func:`optimise` (``fmax`` eV/Å); ``.positions`` holds that minimum (Å)."""
    minimum = optimise(potential, molecule, fmax=fmax, steps=opt_steps)
    return harmonic_ir(potential, minimum, step=step, progress=progress)

"""Normal modes of a potential at a minimum, and MD initial conditions drawn from them.

:func:`normal_modes`: the Hessian by central finite differences of the forces (``step`` Å,
6N force calls), mass-weighted and diagonalised; the 6 (5 linear) modes of smallest |ω| are
translations and rotations and are dropped.

:func:`initial_conditions` (fixed-energy normal-mode sampling): every vibrational mode gets
exactly k_B T of energy with a random phase φ: Q = √(2 k_B T)/ω cos φ, Q̇ = −√(2 k_B T) sin φ
(mass-weighted), then the velocities are scaled so that the total energy on the potential is
E_min + n_modes k_B T (anharmonicity changes the potential energy of the displaced start).
Modes below ``soft_cm`` (torsions and other large-amplitude modes, for which a straight-line
displacement at k_B T stretches bonds) start with their energy as velocity only (φ = ±π/2).
Where the displaced start still holds more than ``max_potential`` of the energy to distribute
(anharmonic stiffening), the displacement is shrunk by factors of 0.8 until it does not, so
that the velocities always carry the rest and every start has the same total energy.
Band intensities of a harmonic molecule are linear in
the mode energies, so a canonical ensemble (exponentially distributed mode energies) and this
one give the same mean spectrum; trajectories started this way differ only by their phases,
which removes most of the trajectory-to-trajectory scatter of band intensities that the
mode-energy fluctuations of canonical starts cause. Energy flows between modes during the
trajectory (anharmonic coupling) as it does in any NVE run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rhoml.molecule import Molecule

__all__ = ["NormalModes", "initial_conditions", "normal_modes"]


def _cm_per_ase() -> float:
    """cm⁻¹ per unit of angular frequency in ASE units (1/ASE-time = √(eV/amu)/Å):
    ν̃ = ω / (2π c) with c in cm per ASE time unit (``units.second`` ASE time units per s)."""
    from ase import units

    return units.second / (2.0 * np.pi * units._c * 100.0)


@dataclass
class NormalModes:
    """``minimum`` (Å), its ``energy_ev``, ``masses`` (amu, N), vibrational ``omega`` (ASE units,
    √(eV/amu)/Å; negative for imaginary) ascending, ``vectors`` (M, N, 3) mass-weighted unit
    eigenvectors, ``wavenumbers`` (cm⁻¹)."""

    minimum: Molecule
    energy_ev: float
    masses: np.ndarray
    omega: np.ndarray
    vectors: np.ndarray

    @property
    def wavenumbers(self) -> np.ndarray:
        return self.omega * _cm_per_ase()


def _forces(calc, numbers, positions) -> np.ndarray:
    from ase import Atoms

    atoms = Atoms(numbers=numbers, positions=positions)
    atoms.calc = calc
    return np.asarray(atoms.get_forces(), dtype=float)


def normal_modes(calc, minimum: Molecule, *, step: float = 0.005) -> NormalModes:
    """Normal modes of the ASE calculator ``calc`` at ``minimum`` (module docstring)."""
    from ase.data import atomic_masses

    from rhoml.md.ir import external_modes

    n = minimum.n_atoms
    pos0 = np.asarray(minimum.positions, dtype=float)
    hess = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for c in range(3):
            plus, minus = pos0.copy(), pos0.copy()
            plus[i, c] += step
            minus[i, c] -= step
            df = _forces(calc, minimum.numbers, plus) - _forces(calc, minimum.numbers, minus)
            hess[:, 3 * i + c] = -df.reshape(-1) / (2.0 * step)
    hess = 0.5 * (hess + hess.T)  # eV/Å²
    masses = atomic_masses[np.asarray(minimum.numbers)]
    inv = 1.0 / np.sqrt(np.repeat(masses, 3))
    evals, evecs = np.linalg.eigh(hess * inv[:, None] * inv[None, :])
    order = np.argsort(np.abs(evals))[external_modes(pos0) :]
    order = order[np.argsort(evals[order])]
    omega = np.sign(evals[order]) * np.sqrt(np.abs(evals[order]))
    from ase import Atoms

    atoms = Atoms(numbers=minimum.numbers, positions=pos0)
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    return NormalModes(minimum, energy, masses, omega, evecs[:, order].T.reshape(-1, n, 3))


def initial_conditions(
    modes: NormalModes,
    calc,
    temperature: float,
    rng: np.random.Generator,
    *,
    soft_cm: float = 400.0,
    max_potential: float = 0.75,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Positions (N, 3) Å and momenta (N, 3) (ASE units, amu·Å/ASE-time) of one start (module
    docstring), and a dict: target and start total energy (eV), the displacement and velocity
    scales applied."""
    from ase import Atoms

    from rhoml.md.driver import KB_EV_PER_K

    kt = KB_EV_PER_K * temperature
    n_modes = len(modes.omega)
    phase = rng.uniform(0.0, 2.0 * np.pi, n_modes)
    soft = np.abs(modes.wavenumbers) < soft_cm
    phase[soft] = np.where(rng.random(int(soft.sum())) < 0.5, 0.5 * np.pi, 1.5 * np.pi)
    omega = np.abs(modes.omega)
    amp = np.where(soft | (modes.omega <= 0), 0.0, np.sqrt(2.0 * kt) / np.maximum(omega, 1e-12))
    q = amp * np.cos(phase)  # Å·√amu
    qdot = -np.sqrt(2.0 * kt) * np.sin(phase)
    inv_sqrt_m = 1.0 / np.sqrt(modes.masses)[:, None]
    shift = inv_sqrt_m * np.tensordot(q, modes.vectors, 1)
    velocities = inv_sqrt_m * np.tensordot(qdot, modes.vectors, 1)
    momenta = modes.masses[:, None] * velocities
    atoms = Atoms(numbers=modes.minimum.numbers, positions=modes.minimum.positions)
    atoms.calc = calc
    target = modes.energy_ev + n_modes * kt
    lam = 1.0
    for _ in range(30):
        positions = modes.minimum.positions + lam * shift
        atoms.set_positions(positions)
        potential = float(atoms.get_potential_energy())
        if potential - modes.energy_ev <= max_potential * n_modes * kt:
            break
        lam *= 0.8
    kinetic = float(0.5 * np.sum(momenta * velocities))
    scale = float(np.sqrt((target - potential) / kinetic)) if target > potential else 1.0
    momenta = momenta * scale
    info = {"target_energy_ev": target, "start_energy_ev": potential + kinetic * scale**2,
            "displacement_scale": lam, "velocity_scale": scale}  # fmt: skip
    return positions, momenta, info

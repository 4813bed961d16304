"""MD driver: NVE (velocity Verlet) or Langevin with ASE, recording energies and dipoles.

The trajectory is written as ``.npz`` with ``time_fs`` (n,), ``positions`` (n, N, 3) Å,
``numbers`` (N,), ``dipole`` (n, 3) Debye, ``potential``/``kinetic``/``total`` (n,) eV,
``temperature`` (n,) K, and ``units``/``meta`` (JSON strings). Hooks ``fn(step, atoms)`` run after
every recorded step.

A run that turns non-finite, or blows up (NVE: total energy off by more than
``max_energy_error_ev``; any ensemble: temperature above ``max_temperature_factor`` × the target),
stops with a one-line :class:`~rhoml.errors.CalculationError` naming the step and (NVE) the energy
drift; the frames simulated until then are saved to ``path`` first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rhoml.ase import DEBYE_IN_E_ANGSTROM
from rhoml.errors import InputError
from rhoml.molecule import Molecule

KB_EV_PER_K = 8.617333262e-5  # Boltzmann constant, eV/K (CODATA 2018)

UNITS = {
    "time_fs": "fs",
    "positions": "angstrom",
    "dipole": "debye",
    "potential": "eV",
    "kinetic": "eV",
    "total": "eV",
    "temperature": "K",
}


@dataclass(frozen=True)
class MDSettings:
    """``ensemble`` "nve" | "langevin"; ``dt_fs`` fs; ``temperature`` K (initial velocities and
    Langevin bath); ``friction`` 1/fs; ``every``: record every n steps. Blow-up limits:
    ``max_energy_error_ev`` (NVE total-energy error, eV; None: 3·N·k_B·max(T, 100 K), the thermal
    energy of the molecule twice over) and ``max_temperature_factor`` (instantaneous temperature
    above this × max(T, 100 K))."""

    steps: int = 1000
    dt_fs: float = 0.5
    ensemble: str = "nve"
    temperature: float = 300.0
    friction: float = 0.002
    every: int = 1
    seed: int = 0
    max_energy_error_ev: float | None = None
    max_temperature_factor: float = 10.0

    def energy_limit_ev(self, n_atoms: int) -> float:
        """The NVE total-energy error (eV) above which the run counts as blown up."""
        if self.max_energy_error_ev is not None:
            return float(self.max_energy_error_ev)
        return 3 * n_atoms * KB_EV_PER_K * max(self.temperature, 100.0)


@dataclass
class Trajectory:
    numbers: np.ndarray
    time_fs: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    dipole: list = field(default_factory=list)
    potential: list = field(default_factory=list)
    kinetic: list = field(default_factory=list)
    temperature: list = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.asarray(getattr(self, k)) for k in UNITS if k != "total"}
        out["total"] = out["potential"] + out["kinetic"]
        out["numbers"] = np.asarray(self.numbers)
        return out

    def save(self, path, meta: dict | None = None) -> None:
        """Write the trajectory as ``.npz`` (to a temporary file, renamed when complete)."""
        import io

        from rhoml.io.atomic import atomic_write

        buf = io.BytesIO()
        np.savez_compressed(
            buf, **self.arrays(), units=json.dumps(UNITS), meta=json.dumps(meta or {})
        )
        atomic_write(Path(path), buf.getvalue())


def _stop(traj: Trajectory, s: MDSettings, step: int, path, meta, reason: str) -> None:
    """Save the frames kept so far to ``path`` (when given) and raise a one-line error naming
    the step and, for NVE, the total-energy drift up to the last kept frame."""
    from rhoml.errors import CalculationError

    kept = len(traj.time_fs)
    if s.ensemble == "nve":
        drift = traj.potential[-1] + traj.kinetic[-1] - traj.potential[0] - traj.kinetic[0]
        state = f"NVE total-energy drift {drift:+.4g} eV"
    else:
        state = f"Langevin, temperature {traj.temperature[-1]:.0f} K"
    where = ""
    if path is not None:
        traj.save(path, {**(meta or {}), "settings": asdict(s), "stopped_at_step": step})
        where = f"; {kept} finite frames kept in {path}"
    raise CalculationError(
        f"MD {reason} at step {step} ({step * s.dt_fs:g} fs; {state} at the last kept frame){where}"
    )


def _check_frame(traj: Trajectory, s: MDSettings, step: int, path, meta) -> None:
    """Stop when the last recorded frame is non-finite (dropped) or the run blew up (kept)."""
    if not (np.isfinite(traj.potential[-1]) and np.all(np.isfinite(traj.positions[-1]))
            and np.all(np.isfinite(traj.dipole[-1]))):  # fmt: skip
        for key in ("time_fs", "positions", "dipole", "potential", "kinetic", "temperature"):
            getattr(traj, key).pop()  # drop the non-finite frame
        _stop(traj, s, step, path, meta, "became non-finite")
    t_max = s.max_temperature_factor * max(s.temperature, 100.0)
    if traj.temperature[-1] > t_max:
        _stop(traj, s, step, path, meta, f"blew up (temperature above {t_max:.0f} K)")
    if s.ensemble == "nve":
        err = traj.potential[-1] + traj.kinetic[-1] - traj.potential[0] - traj.kinetic[0]
        limit = s.energy_limit_ev(len(traj.numbers))
        if abs(err) > limit:
            _stop(
                traj, s, step, path, meta, f"blew up (NVE total-energy error above {limit:.3g} eV)"
            )


def nve_drift(time_fs: np.ndarray, total: np.ndarray) -> dict[str, float]:
    """Energy conservation of an NVE segment: ``drift_eV_per_ps`` (least-squares slope of the
    total energy against time), ``max_error_eV`` (largest |E(t) − E(0)|) and ``span_ps``."""
    t = np.asarray(time_fs, float) / 1000.0
    e = np.asarray(total, float)
    slope = float(np.polyfit(t - t[0], e, 1)[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
    return {
        "drift_eV_per_ps": slope,
        "max_error_eV": float(np.abs(e - e[0]).max()) if len(e) else 0.0,
        "span_ps": float(t[-1] - t[0]) if len(t) else 0.0,
    }


def load_trajectory(path) -> dict[str, np.ndarray]:
    """The arrays of a trajectory written by :func:`run_md`; a missing or unreadable file, or one
    with non-finite frames, is refused with a one-line :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such trajectory")
    try:
        with np.load(p, allow_pickle=False) as z:
            if "dipole" not in z.files or "time_fs" not in z.files:
                raise InputError(f"{p}: not a rhoml MD trajectory (needs time_fs and dipole)")
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{p}: not a readable .npz trajectory ({type(exc).__name__})") from None
    for key in ("time_fs", "dipole", "positions", "potential", "kinetic", "total", "temperature"):
        if key in out and not np.all(np.isfinite(out[key])):
            finite = np.isfinite(out[key]).reshape(len(out[key]), -1).all(axis=1)
            raise InputError(
                f"{p}: non-finite {key} from frame {int(np.argmin(finite))} on; refusing to use it"
            )
    return out


def run_md(
    calc,
    molecule: Molecule,
    settings: MDSettings,
    *,
    path=None,
    hooks: list[Callable] | None = None,
    progress: bool = True,
    momenta: np.ndarray | None = None,
    meta: dict | None = None,
) -> Trajectory:
    """Run MD of ``molecule`` with ASE calculator ``calc``; save to ``path`` (.npz) if given,
    with ``meta`` added to the stored metadata. Initial momenta: ``momenta`` (N, 3) in ASE units
    (amu·Å/ASE-time, e.g. from ``atoms.get_momenta()``) when given, else Maxwell–Boltzmann at
    ``settings.temperature``; either way without centre-of-mass motion and rotation."""
    from ase import Atoms, units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
    from ase.md.verlet import VelocityVerlet
    from tqdm.auto import tqdm

    s = settings
    if s.ensemble not in ("nve", "langevin"):
        raise InputError(f"ensemble must be 'nve' or 'langevin', got {s.ensemble!r}")
    if s.steps < 1 or s.dt_fs <= 0 or s.every < 1:
        raise InputError("MD needs steps ≥ 1, dt_fs > 0 and every ≥ 1")
    atoms = Atoms(numbers=molecule.numbers, positions=molecule.positions)
    atoms.calc = calc
    rng = np.random.default_rng(s.seed)
    if momenta is not None:
        atoms.set_momenta(np.asarray(momenta, float))
    elif s.temperature > 0:
        thermalize_momenta(atoms, temperature_K=s.temperature, rng=rng)
    if momenta is not None or s.temperature > 0:
        Stationary(atoms)
        ZeroRotation(atoms)
    dt = s.dt_fs * units.fs
    if s.ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep=dt)
    else:
        dyn = Langevin(
            atoms,
            timestep=dt,
            temperature_K=s.temperature,
            friction=s.friction / units.fs,
            fixcm=False,
            rng=rng,
        )
    traj = Trajectory(numbers=molecule.numbers.copy())

    def record(step: int) -> None:
        traj.time_fs.append(step * s.dt_fs)
        traj.positions.append(atoms.get_positions().copy())
        traj.dipole.append(np.asarray(atoms.get_dipole_moment()) / DEBYE_IN_E_ANGSTROM)
        traj.potential.append(atoms.get_potential_energy())
        traj.kinetic.append(atoms.get_kinetic_energy())
        traj.temperature.append(atoms.get_temperature())
        for h in hooks or ():
            h(step, atoms)

    record(0)
    bar = tqdm(total=s.steps, desc=f"MD {s.ensemble}", unit="step", disable=not progress)
    done = 0
    try:
        while done < s.steps:
            n = min(s.every, s.steps - done)
            dyn.run(n)
            done += n
            bar.update(n)
            record(done)
            _check_frame(traj, s, done, path, meta)
    finally:
        bar.close()
    if path is not None:
        traj.save(path, {**(meta or {}), "settings": asdict(s)})
    return traj

"""MD driver: NVE (velocity Verlet) or Langevin with ASE, recording energies and dipoles.

The trajectory is written as ``.npz`` with ``time_fs`` (n,), ``positions`` (n, N, 3) Å,
``numbers`` (N,), ``dipole`` (n, 3) Debye, ``potential``/``kinetic``/``total`` (n,) eV,
``temperature`` (n,) K, and ``units``/``meta`` (JSON strings). Hooks ``fn(step, atoms)`` run after
every recorded step.
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
    Langevin bath); ``friction`` 1/fs; ``every``: record every n steps."""

    steps: int = 1000
    dt_fs: float = 0.5
    ensemble: str = "nve"
    temperature: float = 300.0
    friction: float = 0.002
    every: int = 1
    seed: int = 0


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


def _stop_non_finite(traj: Trajectory, s: MDSettings, step: int, path) -> None:
    """Keep the finite frames (saved to ``path`` when given) and raise a one-line error naming
    the step and the energy drift up to there."""
    from rhoml.errors import CalculationError

    for key in ("time_fs", "positions", "dipole", "potential", "kinetic", "temperature"):
        getattr(traj, key).pop()  # drop the non-finite frame
    kept = len(traj.time_fs)
    drift = traj.potential[-1] + traj.kinetic[-1] - traj.potential[0] - traj.kinetic[0]
    where = ""
    if path is not None:
        traj.save(path, {"settings": asdict(s), "stopped_at_step": step})
        where = f"; {kept} finite frames kept in {path}"
    raise CalculationError(
        f"MD became non-finite at step {step} ({step * s.dt_fs:g} fs; total-energy change "
        f"{drift:+.4g} eV before it){where}"
    )


def load_trajectory(path) -> dict[str, np.ndarray]:
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
    for key in ("time_fs", "dipole", "positions"):
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
) -> Trajectory:
    """Run MD of ``molecule`` with ASE calculator ``calc``; save to ``path`` (.npz) if given."""
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
    if s.temperature > 0:
        thermalize_momenta(atoms, temperature_K=s.temperature, rng=rng)
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
    while done < s.steps:
        n = min(s.every, s.steps - done)
        dyn.run(n)
        done += n
        bar.update(n)
        record(done)
        if not (np.isfinite(traj.potential[-1]) and np.all(np.isfinite(traj.positions[-1]))):
            bar.close()
            _stop_non_finite(traj, s, done, path)
    bar.close()
    if path is not None:
        traj.save(path, {"settings": asdict(s)})
    return traj

"""The MD IR spectrum protocol: one answer however it is seeded.

1. **optimise** the start geometry with the model (ASE BFGS, ``optimise_fmax`` eV/Å);
2. **conformers** (``conformers``, default on): :func:`rhoml.md.conformers.search` turns the
   rotatable bonds of the minimum by 120°, relaxes, groups and Boltzmann-weights the minima
   (energy and degeneracy), and the trajectories are given to them by weight (largest
   remainder: the same populations for every seed);
3. **starts** (``sampling``):
   * ``"normal-modes"`` (default): fixed-energy normal-mode initial conditions at each
     trajectory's conformer minimum (:mod:`rhoml.md.normal_modes`: k_B T per mode, random
     phases, seed ``(seed, k)``), then ``settle_steps`` of NVE that are not used. Trajectories
     then differ only by their phases, not by how much energy each mode got;
   * ``"langevin"``: one independent Langevin chain per trajectory at ``temperature`` from its
     minimum (own Maxwell–Boltzmann velocities and noise), ``equilibration_steps`` long; its
     last state (positions and momenta) is a canonical initial condition;
4. **NVE**: one trajectory of ``nve_steps`` from each start (centre-of-mass motion and
   rotation removed). Start and trajectory run together in one job, the jobs in parallel over
   local processes (each loads the model itself);
5. **spectra**: the dipole-derivative ACF spectrum of every trajectory
   (:func:`rhoml.md.ir.dipole_spectra`), moved back by the velocity-Verlet frequency shift
   (``timestep_correction``, :func:`rhoml.md.ir.verlet_correction`); their mean is the IR
   spectrum, bootstrap resamples of the trajectories give the uncertainty of every band
   (:func:`rhoml.md.bands.find_bands`).

Reproducibility across seeds (ethanol, ``benchmarks/results/ir_protocol_normal_modes.md`` vs
``ir_protocol.md``): see those files.

Resuming: with an output folder and a run folder or shipped run name as the model, a trajectory
whose NVE file (and start file) a previous run of the same protocol finished (same run,
trajectory-defining settings and index; written after the model file) is read back instead of
simulated again, so an interrupted protocol continues where it stopped and a change of the
analysis settings (:data:`ANALYSIS_SETTINGS`: window, corrections) costs no MD.

Energy drift is reported for the NVE trajectories only (a thermostat exchanges energy). A run
that turns non-finite or blows up stops with a one-line :class:`~rhoml.errors.CalculationError`
naming the trajectory, the step and the NVE energy drift; every trajectory file written so far
(the failing one up to its last finite frame) is kept.

>>> from rhoml.md.protocol import ProtocolSettings, run_protocol
>>> res = run_protocol("ethanol", molecule, ProtocolSettings(), out="ir-out", workers=2)
>>> res.spectrum.mean(), res.bands()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rhoml.errors import CalculationError, InputError
from rhoml.molecule import Molecule

if TYPE_CHECKING:  # imported where used: the CLI reads the defaults without loading ASE
    from rhoml.md.ir import EnsembleSpectrum

__all__ = ["ProtocolResult", "ProtocolSettings", "run_protocol", "spectrum_from_files"]


#: the ``time step`` header note of a spectrum whose Verlet frequency shift was removed
VERLET_NOTE = " (velocity Verlet frequency shift removed: nu = nu_obs sin(x)/x, x = pi c dt nu_obs)"

#: how each trajectory's start is drawn (module docstring)
SAMPLINGS = ("langevin", "normal-modes")


@dataclass(frozen=True)
class ProtocolSettings:
    """Protocol parameters. Temperatures in K, times in steps of ``dt_fs`` fs, ``friction`` in
    1/fs (Langevin), ``max_lag_fs`` the ACF window (fs), ``correction`` the quantum correction
    (``harmonic`` | ``none``, :mod:`rhoml.md.ir`). Defaults: 300 K, 0.5 fs, conformer search,
    normal-mode starts with 0.5 ps of settling NVE, 8 NVE trajectories of 4 ps, 1 ps window.
    ``sampling = "langevin"`` uses ``equilibration_steps`` (4 ps) and ``friction`` instead (1 ps
    chains from the minimum left the C–O region of ethanol under-equilibrated,
    benchmarks/results/ir_protocol*.md). ``timestep_correction`` removes the velocity-Verlet
    frequency shift from the spectrum (:func:`rhoml.md.ir.verlet_correction`). See the module
    docstring."""

    temperature: float = 300.0
    dt_fs: float = 0.5
    friction: float = 0.01
    optimise_fmax: float = 0.01
    optimise_steps: int = 500
    equilibration_steps: int = 8000
    trajectories: int = 8
    nve_steps: int = 8000
    max_lag_fs: float = 1000.0
    correction: str = "harmonic"
    seed: int = 0
    sampling: str = "normal-modes"
    conformers: bool = True
    settle_steps: int = 1000
    timestep_correction: bool = True

    def check(self) -> None:
        """One-line :class:`InputError` for settings the protocol cannot run."""
        if not self.temperature > 0:
            raise InputError(f"temperature must be > 0 K, got {self.temperature}")
        if not self.dt_fs > 0 or not self.friction > 0 or not self.max_lag_fs > 0:
            raise InputError("dt, friction and the ACF window must be > 0")
        if self.trajectories < 1 or self.equilibration_steps < 1:
            raise InputError("need ≥ 1 trajectory and ≥ 1 Langevin equilibration step")
        if self.sampling not in SAMPLINGS:
            raise InputError(f"sampling must be one of {', '.join(SAMPLINGS)}, got "
                             f"{self.sampling!r}")  # fmt: skip
        if self.settle_steps < 0:
            raise InputError(f"settle steps must be ≥ 0, got {self.settle_steps}")
        if self.nve_steps < 16:
            raise InputError(f"NVE trajectories need ≥ 16 steps, got {self.nve_steps}")
        if self.correction not in ("harmonic", "none"):
            raise InputError(f"correction must be 'harmonic' or 'none', got {self.correction!r}")

    @property
    def nve_ps(self) -> float:
        """Total NVE time (ps) over all trajectories."""
        return self.trajectories * self.nve_steps * self.dt_fs / 1000.0


@dataclass
class ProtocolResult:
    """What :func:`run_protocol` made: the model ``minimum`` (and its energy, eV), the
    ``spectrum`` (an :class:`~rhoml.md.ir.EnsembleSpectrum`), per-trajectory NVE statistics
    ``nve`` (vibrational temperature K, drift eV/ps, largest energy error eV), Langevin
    statistics, the trajectory files, wall times (s) and, with ``conformers``, one dict per
    conformer used (relative energy kcal/mol, weight, degeneracy count, trajectories)."""

    settings: ProtocolSettings
    model: str
    minimum: Molecule
    minimum_energy_ev: float
    spectrum: EnsembleSpectrum
    nve: list[dict] = field(default_factory=list)
    langevin: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    wall_s: dict = field(default_factory=dict)
    conformers: list[dict] = field(default_factory=list)
    precision: str = "float64"  # the model's evaluation precision in the MD

    def bands(self, *, lo: float = 400.0, hi: float = 4000.0, bootstrap: int = 200):
        """Bands of the mean spectrum with bootstrap uncertainties
        (:func:`rhoml.md.bands.find_bands`)."""
        from rhoml.md.bands import find_bands

        spec = self.spectrum.mean()
        samples = self.spectrum.bootstrap(bootstrap, self.settings.seed)
        return find_bands(spec.wavenumber, spec.intensity, lo=lo, hi=hi, samples=samples)

    def drift_summary(self) -> dict:
        """Median and largest |NVE drift| (eV/ps), largest |energy error| (eV), mean
        vibrational temperature (K) over the NVE trajectories."""
        d = np.abs([t["drift_eV_per_ps"] for t in self.nve])
        return {
            "median_abs_drift_eV_per_ps": float(np.median(d)),
            "max_abs_drift_eV_per_ps": float(d.max()),
            "max_error_eV": float(max(t["max_error_eV"] for t in self.nve)),
            "mean_vibrational_temperature_K": float(
                np.mean([t["vibrational_temperature_K"] for t in self.nve])
            ),
        }

    def _start_text(self) -> str:
        s = self.settings
        if s.sampling == "normal-modes":
            text = (f"each from fixed-energy normal-mode initial conditions (k_B T per mode) and "
                    f"{s.settle_steps * s.dt_fs / 1000:g} ps NVE not used")  # fmt: skip
        else:
            text = (f"each from its own Langevin chain ({s.equilibration_steps * s.dt_fs / 1000:g}"
                    f" ps, friction {s.friction:g}/fs)")  # fmt: skip
        if s.conformers:
            parts = ", ".join(
                f"{c['trajectories']} at {c['relative_energy_kcal_mol']:.2f} kcal/mol "
                f"(w {c['weight']:.2f})"
                for c in self.conformers
            )
            text += f"; conformers: {parts}"
        return text

    def metadata(self) -> dict:
        """Everything needed to say how the spectrum was made (for file headers)."""
        s = self.settings
        return {
            "model run": self.model,
            "temperature": f"{s.temperature:g} K",
            "time step": f"{s.dt_fs:g} fs" + (VERLET_NOTE if s.timestep_correction else ""),
            "trajectories": f"{self.spectrum.n_trajectories} NVE x "
            f"{s.nve_steps * s.dt_fs / 1000:g} ps, " + self._start_text(),
            "total time": f"{self.spectrum.n_trajectories * s.nve_steps * s.dt_fs / 1000:g} ps NVE",
            "window": f"{s.max_lag_fs:g} fs Hann (dipole-derivative ACF)",
            "quantum correction": s.correction,
            "model precision": self.precision,
            "NVE drift": "median |{median_abs_drift_eV_per_ps:.2g}| eV/ps, largest "
            "|{max_abs_drift_eV_per_ps:.2g}| eV/ps".format(**self.drift_summary()),
            "seed": str(s.seed),
        }


def _vib_temperature(kinetic_ev: np.ndarray, n_atoms: int) -> float:
    """Mean temperature (K) of the kinetic energy over 3N−6 degrees of freedom (no
    translation or rotation in the NVE runs)."""
    from rhoml.md.driver import KB_EV_PER_K

    dof = max(3 * n_atoms - 6, 1)
    return float(2 * np.mean(kinetic_ev) / (dof * KB_EV_PER_K))


_CALCULATORS: dict = {}


def _calculator(model, charge: int, dtype: str | None, compile: bool):
    """An ASE calculator for ``model``, reused within a process for a run name or folder."""
    from rhoml.ase import RhomlCalculator

    if not isinstance(model, str | Path):
        return RhomlCalculator(model, charge, dtype=dtype, compile=compile)
    key = (str(model), charge, dtype, compile)
    if key not in _CALCULATORS:
        _CALCULATORS[key] = RhomlCalculator(str(model), charge, dtype=dtype, compile=compile)
    return _CALCULATORS[key]


def _trajectory_job(job: dict) -> dict:
    """One Langevin chain from the minimum (or, for normal-mode starts, an NVE settling run
    from the given momenta), then the NVE trajectory from its last state (runs in a worker
    process or in-process)."""
    from rhoml.md.driver import nve_drift, run_md

    try:
        import torch

        torch.set_num_threads(job["threads"])
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    calc = _calculator(job["model"], job["charge"], job["dtype"], job["compile"])
    start = Molecule(job["numbers"], job["positions"], charge=job["charge"])
    last: dict[str, np.ndarray] = {}

    def keep_last(step: int, atoms) -> None:
        last["positions"] = atoms.get_positions().copy()
        last["momenta"] = atoms.get_momenta().copy()

    k = job["index"]
    first, what = job["langevin"], "Langevin chain"
    if first is None:
        first, what = job["settle"], "NVE settling run"
    temps = None
    if first is None:  # a normal-mode start without settling
        last = {"positions": start.positions, "momenta": job["momenta"]}
    else:
        try:
            chain = run_md(calc, start, first, path=job["langevin_path"],
                           momenta=job["momenta"], hooks=[keep_last], meta=job["meta"],
                           progress=False)  # fmt: skip
        except CalculationError as exc:
            raise CalculationError(f"{what} {k}: {exc}") from None
        temps = np.asarray(chain.temperature)
    conformer = Molecule(start.numbers, last["positions"], charge=start.charge)
    try:
        traj = run_md(calc, conformer, job["nve"], path=job["path"], momenta=last["momenta"],
                      meta=job["meta"], progress=False)  # fmt: skip
    except CalculationError as exc:
        raise CalculationError(f"NVE trajectory {k}: {exc}") from None
    a = traj.arrays()
    stats = nve_drift(a["time_fs"], a["total"])
    stats["vibrational_temperature_K"] = _vib_temperature(a["kinetic"], len(start.numbers))
    stats["langevin_temperature_K"] = (float(temps[len(temps) // 2 :].mean())
                                       if job["langevin"] is not None else None)  # fmt: skip
    return {"index": k, "dipole": a["dipole"], "time_fs": a["time_fs"], **stats}


#: protocol settings that change only the analysis of trajectories, not the trajectories
ANALYSIS_SETTINGS = ("max_lag_fs", "correction", "timestep_correction")


def _model_mtime(model) -> float | None:
    """Modification time of the model file of a run folder or shipped run name, else None."""
    if not isinstance(model, str | Path):
        return None
    from rhoml import runs

    try:
        f = runs.resolve(model) / "model.pt"
    except Exception:  # noqa: BLE001 - an unknown name is refused later, by the run itself
        return None
    return f.stat().st_mtime if f.is_file() else None


def _same_run(stored, current: str) -> bool:
    """Whether the run label a trajectory file records names the run of ``current`` (the same
    string, or a name or path that resolves to the same run folder from here)."""
    if stored == current:
        return True
    from rhoml import runs

    try:
        return runs.resolve(stored).resolve() == runs.resolve(current).resolve()
    except Exception:  # noqa: BLE001 - not a run (any more): not the same
        return False


def _finished(job: dict) -> dict | None:
    """The result of ``job`` read back from its trajectory files when an earlier run of the same
    protocol (same run, trajectory-defining settings and index, files newer than the model)
    finished it; else None. Lets an interrupted or re-analysed protocol skip finished work."""
    from rhoml.md.driver import load_trajectory, nve_drift

    path, first_path = job["path"], job["langevin_path"]
    if path is None or job["model_mtime"] is None or not Path(path).is_file():
        return None
    if first_path is not None and not Path(first_path).is_file():
        return None

    def same(meta: dict) -> bool:
        a, b = dict(meta.get("protocol", {})), dict(job["meta"]["protocol"])
        for key in ANALYSIS_SETTINGS:
            a.pop(key, None), b.pop(key, None)
        return (_same_run(meta.get("run"), job["meta"]["run"]) and a == b
                and meta.get("trajectory") == job["index"])  # fmt: skip

    try:
        t = load_trajectory(path)
        meta = json.loads(str(t["meta"]))
    except (InputError, KeyError, ValueError):
        return None
    if (not same(meta) or len(t["time_fs"]) != job["nve"].steps + 1
            or Path(path).stat().st_mtime < job["model_mtime"]):  # fmt: skip
        return None
    stats = nve_drift(t["time_fs"], t["total"])
    stats["vibrational_temperature_K"] = _vib_temperature(t["kinetic"], len(job["numbers"]))
    temps = None
    if job["langevin"] is not None:
        try:
            temps = load_trajectory(first_path)["temperature"]
        except (InputError, KeyError):
            return None
    stats["langevin_temperature_K"] = (float(temps[len(temps) // 2 :].mean())
                                       if temps is not None else None)  # fmt: skip
    return {"index": job["index"], "dipole": t["dipole"], "time_fs": t["time_fs"], **stats}


def _run_jobs(jobs: list[dict], workers: int, progress: bool) -> list[dict]:
    """Run ``jobs`` in-process (``workers`` 1) or on a spawn process pool; on the first failure
    the jobs not yet started are cancelled and the error is raised."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="start + NVE", unit="traj", disable=not progress)
    results = [r for r in map(_finished, jobs) if r is not None]
    done = {r["index"] for r in results}
    bar.update(len(results))
    jobs = [j for j in jobs if j["index"] not in done]
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                results.append(_trajectory_job(job))
                bar.update(1)
            return sorted(results, key=lambda r: r["index"])
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                   mp_context=mp.get_context("spawn"))  # fmt: skip
        try:
            futures = [pool.submit(_trajectory_job, job) for job in jobs]
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return sorted(results, key=lambda r: r["index"])
    finally:
        bar.close()


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_protocol(
    model,
    molecule: Molecule,
    settings: ProtocolSettings | None = None,
    *,
    out=None,
    workers: int | None = None,
    dtype: str | None = "auto",
    compile: bool = False,
    threads: int = 1,
    progress: bool = True,
    log=None,
) -> ProtocolResult:
    """Run the protocol (module docstring) for ``molecule`` with ``model``: a run folder or
    shipped run name (each worker loads it), or any potential :class:`~rhoml.ase.RhomlCalculator`
    takes (picklable when ``workers`` > 1). Trajectories go to ``out/trajectories/``
    (``langevin_00.npz``, ``nve_00.npz`` ...) when ``out`` is given. ``workers``: local
    processes for the chains and their NVE trajectories (default: all cores); ``threads``:
    torch threads per process; ``dtype``: the model's precision (``"auto"``: the one it was
    trained in, float32 for the shipped DenSNet runs; :class:`~rhoml.ase.RhomlCalculator`).
    ``log``: a function taking one progress line (e.g. ``logging.info``)."""
    s = settings or ProtocolSettings()
    s.check()
    say = log or (lambda msg: None)
    workers = workers or default_workers()
    folder = None
    if out is not None:
        folder = Path(out) / "trajectories"
        folder.mkdir(parents=True, exist_ok=True)
    label = str(model) if isinstance(model, str | Path) else type(model).__name__
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(model, molecule, s, folder, label, workers, dtype, compile, threads,
                    progress, say)  # fmt: skip
    finally:  # the caller's thread setting is its own
        torch.set_num_threads(before)


def _run(model, molecule, s, folder, label, workers, dtype, compile, threads, progress, say):
    """:func:`run_protocol` after its checks, with torch's threads set."""
    from rhoml.ase import molecule_to_atoms
    from rhoml.md.driver import MDSettings
    from rhoml.md.ir import EnsembleSpectrum, dipole_spectra, optimise, verlet_correction

    wall: dict[str, float] = {}
    t0 = time.perf_counter()
    calc = _calculator(model, molecule.charge, dtype, compile)

    say(f"optimising with the model (BFGS, fmax {s.optimise_fmax:g} eV/Å)")
    minimum = optimise(calc, molecule, fmax=s.optimise_fmax, steps=s.optimise_steps)
    atoms = molecule_to_atoms(minimum)
    atoms.calc = calc
    e_min = float(atoms.get_potential_energy())
    wall["optimise"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    starts, conformers = _starts(calc, minimum, e_min, s, say)
    wall["starts"] = time.perf_counter() - t1
    meta = {"run": label, "protocol": asdict(s)}
    model_mtime = _model_mtime(model) if folder is not None else None
    jobs = []
    first = "langevin" if s.sampling == "langevin" else "settle"
    for k, (positions, momenta, seed) in enumerate(starts):
        langevin = settle = None
        if s.sampling == "langevin":
            langevin = MDSettings(steps=s.equilibration_steps, dt_fs=s.dt_fs,
                                  ensemble="langevin", temperature=s.temperature,
                                  friction=s.friction, seed=seed)  # fmt: skip
        elif s.settle_steps:
            settle = MDSettings(steps=s.settle_steps, dt_fs=s.dt_fs, ensemble="nve",
                                temperature=s.temperature, seed=seed)  # fmt: skip
        nve = MDSettings(steps=s.nve_steps, dt_fs=s.dt_fs, ensemble="nve",
                         temperature=s.temperature, seed=seed)  # fmt: skip
        jobs.append({"index": k, "model": model, "charge": molecule.charge, "dtype": dtype,
                     "compile": compile, "threads": threads, "numbers": minimum.numbers,
                     "positions": positions, "momenta": momenta, "langevin": langevin,
                     "settle": settle, "nve": nve,
                     "langevin_path": folder / f"{first}_{k:02d}.npz"
                     if folder and (langevin or settle) else None,
                     "path": folder / f"nve_{k:02d}.npz" if folder else None,
                     "meta": {**meta, "trajectory": k}, "model_mtime": model_mtime})  # fmt: skip
    t1 = time.perf_counter()
    if s.sampling == "langevin":
        say(f"{s.trajectories} independent Langevin chains at {s.temperature:g} K "
            f"({s.equilibration_steps} steps) each followed by {s.nve_steps} NVE steps, on "
            f"{min(workers, s.trajectories)} process(es)")  # fmt: skip
    else:
        say(f"{s.trajectories} NVE trajectories from normal-mode starts at {s.temperature:g} K "
            f"({s.settle_steps} settling + {s.nve_steps} steps each), on "
            f"{min(workers, s.trajectories)} process(es)")  # fmt: skip
    try:
        results = _run_jobs(jobs, workers, progress)
    except CalculationError as exc:
        kept = f"; trajectories kept in {folder}" if folder is not None else ""
        raise CalculationError(f"{exc}{kept}") from None
    files = [str(j[key]) for j in jobs for key in ("langevin_path", "path") if j[key] is not None]
    wall["trajectories"] = time.perf_counter() - t1

    wn, spectra = dipole_spectra([r["dipole"] for r in results], s.dt_fs,
                                 temperature=s.temperature, max_lag_fs=s.max_lag_fs,
                                 correction=s.correction)  # fmt: skip
    if s.timestep_correction:
        spectra = verlet_correction(wn, spectra, s.dt_fs)
    wall["total"] = time.perf_counter() - t0
    nve_stats = [{k: v for k, v in r.items() if k not in ("dipole", "time_fs",
                                                          "langevin_temperature_K")}
                 for r in results]  # fmt: skip
    chain_temps = [r["langevin_temperature_K"] for r in results
                   if r["langevin_temperature_K"] is not None]  # fmt: skip
    return ProtocolResult(
        settings=s,
        model=label,
        precision=calc.dtype or "float64",
        minimum=minimum,
        minimum_energy_ev=e_min,
        spectrum=EnsembleSpectrum(wn, spectra),
        nve=nve_stats,
        langevin={
            "mean_temperature_K": float(np.mean(chain_temps)),
            "chains": s.trajectories,
            "steps_per_chain": s.equilibration_steps,
        }
        if s.sampling == "langevin"
        else {},  # fmt: skip
        files=files,
        wall_s=wall,
        conformers=conformers,
    )


def _starts(calc, minimum, e_min: float, s: ProtocolSettings, say):
    """Per trajectory: start positions (Å), momenta (ASE units, or None: Maxwell–Boltzmann in
    the Langevin chain) and seed; and the conformer table (empty without ``s.conformers``)."""
    from rhoml.md.conformers import Conformer, allocate, search
    from rhoml.units import EV_IN_KCAL_PER_MOL

    if s.conformers:
        say("searching conformers (rotatable bonds at 0/120/240°, relaxed with the model)")
        found = search(calc, minimum, temperature=s.temperature, fmax=s.optimise_fmax,
                       steps=s.optimise_steps)  # fmt: skip
    else:
        found = [Conformer(minimum, e_min)]
    which = allocate([c.weight for c in found], s.trajectories)
    table = []
    if s.conformers:
        e0 = found[0].energy_ev
        table = [{"relative_energy_kcal_mol": (c.energy_ev - e0) * EV_IN_KCAL_PER_MOL,
                  "weight": c.weight, "count": c.count, "trajectories": which.count(i),
                  "positions_angstrom": c.molecule.positions.tolist()}
                 for i, c in enumerate(found)]  # fmt: skip
        say("conformers: " + "; ".join(
            f"{t['relative_energy_kcal_mol']:.2f} kcal/mol, weight {t['weight']:.2f}, "
            f"{t['trajectories']} trajectories" for t in table))  # fmt: skip
    modes = {}
    if s.sampling == "normal-modes":
        from rhoml.md.normal_modes import normal_modes

        say("normal modes at each starting minimum (finite differences of the forces)")
        modes = {i: normal_modes(calc, found[i].molecule) for i in sorted(set(which))}
    starts = []
    for k, i in enumerate(which):
        seed = int(np.random.SeedSequence([s.seed, k]).generate_state(1)[0])
        if s.sampling == "normal-modes":
            from rhoml.md.normal_modes import initial_conditions

            pos, mom, _ = initial_conditions(modes[i], calc, s.temperature,
                                             np.random.default_rng(seed))  # fmt: skip
            starts.append((pos, mom, seed))
        else:
            starts.append((found[i].molecule.positions, None, seed))
    return starts, table


def _nve_time_step(trajectory: dict) -> float | None:
    """The integrator time step (fs) a trajectory file records for an NVE run, else None."""
    try:
        md = json.loads(str(trajectory["meta"])).get("settings", {})
    except (KeyError, ValueError, AttributeError):
        return None
    return float(md["dt_fs"]) if md.get("ensemble") == "nve" and md.get("dt_fs") else None


def spectrum_from_files(
    paths,
    *,
    temperature: float = 300.0,
    max_lag_fs: float = 1000.0,
    correction: str = "harmonic",
    timestep_correction: bool = True,
) -> tuple[EnsembleSpectrum, float, float | None]:
    """The ensemble spectrum of trajectory files written by :func:`rhoml.md.driver.run_md`
    (each refused with one line when unreadable or non-finite); returns it, the sampling
    interval (fs) and the integrator time step (fs) whose velocity-Verlet frequency shift was
    removed (``timestep_correction``: when every file records an NVE run with one time step;
    else None). Files must share the sampling interval."""
    from rhoml.md.driver import load_trajectory
    from rhoml.md.ir import EnsembleSpectrum, dipole_spectra, verlet_correction

    dips, dts, steps = [], [], set()
    for p in paths:
        t = load_trajectory(p)
        if len(t["time_fs"]) < 16:
            raise InputError(
                f"{p}: IR needs at least 16 recorded frames, found {len(t['time_fs'])}"
            )
        dts.append(float(t["time_fs"][1] - t["time_fs"][0]))
        dips.append(t["dipole"])
        steps.add(_nve_time_step(t))
    if not np.allclose(dts, dts[0]):
        raise InputError(f"trajectories with different time steps: {sorted(set(dts))} fs")
    wn, spectra = dipole_spectra(dips, dts[0], temperature=temperature, max_lag_fs=max_lag_fs,
                                 correction=correction)  # fmt: skip
    integrator = steps.pop() if len(steps) == 1 else None
    if timestep_correction and integrator:
        spectra = verlet_correction(wn, spectra, float(integrator))
    else:
        integrator = None
    return EnsembleSpectrum(wn, spectra), dts[0], integrator

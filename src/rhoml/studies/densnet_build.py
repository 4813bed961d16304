"""Molecule in → DenSNet model out: one resumable pipeline from a geometry file to a trained,
validated DenSNet potential (``rhoml densnet build GEOMETRY --out DIR``).

Stages, each skipped when its output is complete (a rerun resumes where it stopped):

1. ``DIR/geometry.xyz``: the input molecule (Å; first molecule of any file
   :func:`rhoml.io.read_molecules` reads);
2. ``DIR/samples/<name>-T<K>_{train,test}.xyz``: GFN2-xTB Langevin MD at each temperature
   (:func:`rhoml.md.sampling.sample_frames`, pre-optimised start; the test frames come from an
   independent trajectory with another seed);
3. ``DIR/labels.rhoml``: DFT energies, forces and densities of every frame in the store's batch
   runner (:func:`rhoml.store.labels.run_labels`: local processes or a Dask scheduler);
4. ``DIR/config.toml`` and ``DIR/run/``: a generated DenSNet config (defaults meant to work
   untuned: Δ on the promolecule, even-tempered aux basis of the orbital basis, the last 10 % of
   the training frames as validation for the energy stage) trained by :func:`rhoml.runs.train`;
5. ``DIR/report.json`` / ``report.md``: energy and force MAE (kcal/mol, kcal/mol/Å) and density
   NMAE (%, vs the DFT density on Becke grids) on the held-out test frames.

``DIR/build.json`` records the settings; a rerun with other settings is refused (give another
``--out``). The trained run is a normal run folder: ``rhoml md DIR/run``, ``rhoml ir DIR/run``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.errors import InputError
from rhoml.molecule import Molecule

__all__ = ["BuildSettings", "build_densnet", "density_nmae", "generated_config"]


@dataclass(frozen=True)
class BuildSettings:
    """Settings of :func:`build_densnet` (temperatures K, times fs; ``overrides``: config
    ``section.key=value`` items applied to the generated config, e.g. smaller networks)."""

    temperatures: tuple[float, ...] = (300.0, 600.0, 900.0)
    frames: int = 60  # training frames per temperature
    test_frames: int = 10  # test frames per temperature (independent trajectory)
    interval: int = 20  # MD steps between frames
    equilibration: int = 200  # MD steps before the first frame
    dt_fs: float = 0.5
    friction: float = 0.01  # 1/fs
    functional: str = "PBE"
    basis: str = "def2-SVP"
    aux_basis: str = ""  # default: etb:<basis>:1.8
    density_epochs: int = 150
    energy_epochs: int = 200
    validation_fraction: float = 0.1  # of the training frames, for the energy stage
    grid_level: int = 3  # Becke grid of the density NMAE in the report
    seed: int = 0
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        if not self.temperatures or any(t <= 0 for t in self.temperatures):
            raise InputError("build: temperatures must be given and positive (K)")
        if self.frames < 2 or self.test_frames < 1:
            raise InputError("build: at least 2 training and 1 test frame per temperature")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise InputError("build: validation fraction must be in [0, 1)")
        if self.density_epochs < 1 or self.energy_epochs < 1:
            raise InputError("build: density and energy epochs must be at least 1")


def _name_of(path: Path, name: str | None) -> str:
    raw = name or path.stem
    clean = re.sub(r"[^A-Za-z0-9.-]+", "-", raw).strip("-.") or "molecule"
    return clean[:40]


def _read_geometry(path) -> Molecule:
    from rhoml.io import read_molecules

    for m in read_molecules(path):
        return m
    raise InputError(f"{path}: no molecule")


def _claim(folder: Path, settings: BuildSettings, name: str, source: str) -> None:
    """Write ``build.json`` on the first run; refuse a folder built with other settings."""
    from rhoml.io.atomic import atomic_write

    record = {"name": name, "source": source, "settings": json.loads(json.dumps(asdict(settings)))}
    path = folder / "build.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if {k: old.get(k) for k in ("name", "settings")} != {
            "name": name,
            "settings": record["settings"],
        }:
            raise InputError(
                f"{folder}: built with other settings or another molecule (see build.json); "
                "give another --out"
            )
        return
    if folder.exists() and any(p.name != "geometry.xyz" for p in folder.iterdir()):
        raise InputError(f"{folder}: folder is not empty and holds no build; give another --out")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(record, indent=1) + "\n")


def _geometry(folder: Path, molecule: Molecule, name: str) -> Molecule:
    """``DIR/geometry.xyz`` (written once; a rerun checks that the molecule is the same)."""
    from rhoml.io.xyz import read_xyz, write_xyz

    path = folder / "geometry.xyz"
    mol = Molecule(molecule.numbers, molecule.positions, molecule.charge,
                   molecule.multiplicity, name)  # fmt: skip
    if path.is_file():
        (old,) = list(read_xyz(path))
        if not (np.array_equal(old.numbers, mol.numbers) and old.charge == mol.charge):
            raise InputError(f"{folder}: holds the build of another molecule; give another --out")
        return old
    write_xyz(path, mol)
    return mol


def sample(folder: Path, start: Molecule, name: str, s: BuildSettings, log, progress: bool):
    """Stage 2: training and test frames at every temperature (resumable). Training frames come
    first, interleaved over the temperatures (the last ones, the energy stage's validation
    frames, then span every temperature), then the test frames."""
    from rhoml.md.sampling import SampleSettings, sample_frames

    per_split: dict[str, list[list[Molecule]]] = {"train": [], "test": []}
    for k, temp in enumerate(s.temperatures):
        tag = f"{name}-T{temp:g}"
        for split, n, seed in (("train", s.frames, s.seed + k), ("test", s.test_frames,
                                                                  s.seed + 1000 + k)):  # fmt: skip
            ss = SampleSettings(frames=n, interval=s.interval, equilibration=s.equilibration,
                                dt_fs=s.dt_fs, temperature=temp, friction=s.friction, seed=seed,
                                split=split)  # fmt: skip
            out = folder / "samples" / f"{tag}_{split}.xyz"
            per_split[split].append(sample_frames(tag, ss, out, progress=progress,
                                                  molecule=start))  # fmt: skip
    frames = [m for group in zip(*per_split["train"], strict=True) for m in group]
    frames += [m for run in per_split["test"] for m in run]
    log(f"sampling: {len(frames)} frames at {', '.join(f'{t:g}' for t in s.temperatures)} K")
    return frames


def label(folder: Path, frames: list[Molecule], s: BuildSettings, *, workers, scheduler,
          progress: bool, log) -> dict:  # fmt: skip
    """Stage 3: DFT labels of every frame in ``DIR/labels.rhoml`` (finished frames skipped)."""
    from rhoml.store.labels import LabelSettings, run_labels

    ls = LabelSettings(functional=s.functional, basis=s.basis)
    report = run_labels(folder / "labels.rhoml", frames, ls, workers=workers,
                        scheduler=scheduler, progress=progress)  # fmt: skip
    log(report.line(folder / "labels.rhoml"))
    ok, failed = _label_counts(folder / "labels.rhoml")
    return {"ok": ok, "failed": failed, "level": ls.level}


def generated_config(s: BuildSettings, n_train: int) -> dict:
    """The DenSNet config of a build (plain dict, store path relative to ``DIR``) for
    ``n_train`` labelled training frames."""
    from rhoml.config import apply_overrides

    n_val = int(round(s.validation_fraction * n_train))
    n_val = min(n_val, n_train - 1)
    config = {
        "family": "densnet",
        "data": {"store": "labels.rhoml", "energy_validation": n_val},
        "basis": {
            "basis": s.aux_basis or f"etb:{s.basis.lower()}:1.8",
            "lmax_heavy": 4,
            "lmax_h": 2,
            "orthogonalise": "coulomb",
            "mode": "delta",
        },  # fmt: skip
        "density_net": {
            "channels": 24,
            "vectors": 12,
            "lmax": 2,
            "lmax_sh": 3,
            "layers": 2,
            "cutoff": 5.0,
        },  # fmt: skip
        "energy_net": {
            "channels": 16,
            "vectors": 8,
            "lmax": 1,
            "lmax_sh": 2,
            "layers": 2,
            "cutoff": 5.0,
        },  # fmt: skip
        "train": {
            "density_epochs": s.density_epochs,
            "energy_epochs": s.energy_epochs,
            "batch_size": 8,
            "lr": 5e-3,
            "force_weight": 10.0,
            "seed": s.seed,
            "dtype": "float32",
        },  # fmt: skip
    }
    return apply_overrides(config, list(s.overrides))


def density_nmae(module, store, frames, level: int = 3, method: str | None = None) -> dict:
    """Density NMAE (∫|ρ_model − ρ_DFT| / N_e, %) of the DenSNet ``module`` on ``frames``
    (:class:`~rhoml.represent.coefficients.Frame` of the label store ``store``) on PySCF Becke
    grids of ``level``: mean, median and per frame; also the NMAE of the aux-basis fit (the
    basis floor)."""
    from rhoml.density import compare
    from rhoml.represent.coefficients import label_method
    from rhoml.store.sqlite_store import Store

    basis = module.basis.pyscf_basis()
    model, fit = [], []
    with Store.open(store, readonly=True) as st:
        key = method or label_method(st)
        for f in frames:
            dens = st.density(f.store_index, key)
            pts, w = compare.becke_grid(f.molecule, level=level)
            n_e = float(f.molecule.numbers.sum() - f.molecule.charge)
            rho_dft = compare.density_on_points(dens, pts)
            c = module.predict(f.molecule, forces=False, dipole=False)["coeff"]
            rho_m, rho_f = compare.aux_on_points(f.molecule, basis, np.stack([c, f.coeff], 1),
                                                 pts).T  # fmt: skip
            model.append(100 * compare.nmae(rho_m, rho_dft, w, n_e))
            fit.append(100 * compare.nmae(rho_f, rho_dft, w, n_e))
    return {"mean_percent": float(np.mean(model)), "median_percent": float(np.median(model)),
            "fit_floor_percent": float(np.mean(fit)), "per_frame_percent": model,
            "n": len(model)}  # fmt: skip


def report(folder: Path, run_path: Path, s: BuildSettings, info: dict) -> dict:
    """Stage 5: validation metrics of the trained run on the held-out test frames."""
    from rhoml import runs
    from rhoml.families.densnet_train import evaluate
    from rhoml.represent.coefficients import load_frames

    run = runs.load(run_path)
    module = run.model.module
    store = folder / "labels.rhoml"
    test = [f for f in load_frames(store, module.basis, progress=False) if f.split == "test"]
    if not test:
        raise InputError(f"{store}: no labelled test frames")
    e = d = evaluate(module, test)
    out = {
        **info,
        "run": str(run_path),
        "n_train": run.manifest["metrics"].get("n_train"),
        "n_energy_validation": run.manifest["metrics"].get("n_energy_validation", 0),
        "n_test": len(test),
        "energy_mae_kcal_mol": e["energy_mae_kcal_mol"],
        "energy_mae_offset_removed_kcal_mol": e["energy_mae_offset_removed_kcal_mol"],
        "force_mae_kcal_mol_angstrom": e["force_mae_kcal_mol_angstrom"],
        "dipole_mae_debye": d["dipole_mae_debye"],
        "density_nmae": density_nmae(module, store, test, s.grid_level),
        "energy_std_test_kcal_mol": float(np.std([f.energy for f in test])),
        "force_mean_abs_test_kcal_mol_angstrom": float(
            np.mean(np.abs(np.concatenate([f.forces.ravel() for f in test])))
        ),
    }
    return out


def _markdown(r: dict) -> str:
    n = r["density_nmae"]
    return "\n".join([
        f"# DenSNet build of {r['name']} ({r['n_atoms']} atoms)\n",
        f"Labels {r['level']} ({r['labels_ok']} ok, {r['labels_failed']} failed); GFN2-xTB "
        f"Langevin sampling at {', '.join(f'{t:g}' for t in r['temperatures'])} K. Run: "
        f"`{r['run']}`.\n",
        "| held-out test frames | value |",
        "|---|---|",
        f"| training / energy-validation / test frames | {r['n_train']} / "
        f"{r['n_energy_validation']} / {r['n_test']} |",
        f"| energy MAE (offset removed) | {r['energy_mae_kcal_mol']:.3f} "
        f"({r['energy_mae_offset_removed_kcal_mol']:.3f}) kcal/mol |",
        f"| force MAE | {r['force_mae_kcal_mol_angstrom']:.3f} kcal/mol/Å |",
        f"| mean \\|force\\| of the test frames | "
        f"{r['force_mean_abs_test_kcal_mol_angstrom']:.2f} kcal/mol/Å |",
        f"| density NMAE vs DFT (mean / median) | {n['mean_percent']:.3f} / "
        f"{n['median_percent']:.3f} % |",
        f"| density NMAE of the aux-basis fit (floor) | {n['fit_floor_percent']:.3f} % |",
        f"| dipole MAE vs fitted DFT density (per component) | {r['dipole_mae_debye']:.4f} D |",
        "",
        f"Stage times (s): {', '.join(f'{k} {v:.0f}' for k, v in r['seconds'].items())}.",
        "",
    ])  # fmt: skip


def build_densnet(
    geometry,
    out,
    settings: BuildSettings | None = None,
    *,
    name: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    log=None,
) -> dict[str, Any]:
    """Build the DenSNet model of the molecule in ``geometry`` into the folder ``out`` (see the
    module docstring); every stage is skipped when its output is complete. Returns the report
    (also in ``out/report.json`` and ``out/report.md``)."""
    from rhoml import runs
    from rhoml.config import dump_toml
    from rhoml.io.atomic import atomic_write

    s = settings or BuildSettings()
    s.check()
    log = log or ((lambda m: print(m, flush=True)) if progress else (lambda m: None))
    folder = Path(out)
    src = Path(geometry)
    molecule = _read_geometry(src)
    name = _name_of(src, name)
    _claim(folder, s, name, str(src))
    times: dict[str, float] = {}
    t = time.perf_counter()
    start = _geometry(folder, molecule, name)
    frames = sample(folder, start, name, s, log, progress)
    times["sampling"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = label(folder, frames, s, workers=workers, scheduler=scheduler, progress=progress,
                   log=log)  # fmt: skip
    times["labels"] = time.perf_counter() - t
    n_train_ok = _labelled_train(folder / "labels.rhoml")
    if n_train_ok < 2:
        raise InputError(f"{folder / 'labels.rhoml'}: {n_train_ok} labelled training frames")
    config = generated_config(s, n_train_ok)
    config_path = folder / "config.toml"
    text = dump_toml(config)
    if not config_path.is_file() or config_path.read_text() != text:
        atomic_write(config_path, text)
    t = time.perf_counter()
    run = runs.train(config_path, folder / "run", progress=progress)
    times["training"] = time.perf_counter() - t
    report_path = folder / "report.json"
    model_time = (folder / "run" / "model.pt").stat().st_mtime
    if report_path.is_file() and report_path.stat().st_mtime >= model_time:
        log(f"{report_path}: up to date")
        return json.loads(report_path.read_text())
    t = time.perf_counter()
    info = {"name": name, "n_atoms": len(start.numbers), "temperatures": list(s.temperatures),
            "level": labels["level"], "labels_ok": labels["ok"], "labels_failed": labels["failed"],
            "seconds": times}  # fmt: skip
    r = report(folder, run.path, s, info)
    times["report"] = time.perf_counter() - t
    atomic_write(report_path, json.dumps(r, indent=1) + "\n")
    atomic_write(folder / "report.md", _markdown(r))
    log(f"{report_path}: force MAE {r['force_mae_kcal_mol_angstrom']:.3f} kcal/mol/Å, density "
        f"NMAE {r['density_nmae']['mean_percent']:.3f} % on {r['n_test']} test frames")  # fmt: skip
    return r


def _label_counts(store) -> tuple[int, int]:
    """(ok, failed) label records in ``store``."""
    from rhoml.represent.coefficients import label_method
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        key = label_method(st)
        ok = len(st.finished(key, include_failed=False))
        return ok, len(st.finished(key, include_failed=True)) - ok


def _labelled_train(store) -> int:
    """Labelled training-split frames in ``store``."""
    from rhoml.represent.coefficients import label_method
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        key = label_method(st)
        done = st.finished(key, include_failed=False)
        return sum(1 for i in done if "_train" in st.molecule(i).id.split("#")[0])

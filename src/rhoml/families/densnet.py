"""The DenSNet family: density-first ML potential trained from a config into a run folder.

Config (:mod:`rhoml.families.densnet_config`): ``family = "densnet"`` and the sections ``[data]``,
``[basis]``, ``[density_net]``, ``[energy_net]``, ``[train]``. Training runs two stages through
the shared loop (:func:`rhoml.train.loop.fit`), each with its checkpoints and ``metrics.csv`` in
``run.checkpoints("density")`` / ``run.checkpoints("energy")``, so a killed ``rhoml train``
resumes, and under ``torchrun`` trains with DDP. Stages are selected by their epochs: a config
with ``energy_epochs = 0`` trains a *density model* (coefficient network only); ``init`` continues
the model of another run folder (e.g. a longer energy stage on a trained density model).

Run folder: ``model.pt`` holds the weights (state_dict); ``manifest.json`` ``build`` holds the
rest (:meth:`~rhoml.models.densnet.potential.DenSNet.build_args`: basis, prior, scales, network
configs, energy shift and scale, mode, and ``meta``: level of theory, units, start geometry,
elements, atom counts of the training molecules) plus ``stages``, the stages trained so far.

Loaded (:meth:`DenSNetFamily.load`), a model with a trained energy stage is a
:class:`DenSNetPotential` (energy kcal/mol, forces kcal/mol/Å, dipole Debye; usable by
``rhoml md``/``rhoml ir`` and :class:`rhoml.ase.RhomlCalculator`); a density model is a
:class:`DenSNetDensityModel` (dipole and density only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rhoml.config import ConfigError
from rhoml.errors import InputError
from rhoml.families.densnet_config import SECTIONS
from rhoml.molecule import Molecule

FAMILY = "densnet"
STAGES = ("density", "energy")
POTENTIAL_UNITS = {"energy": "kcal/mol", "forces": "kcal/mol/angstrom", "dipole": "debye"}
DENSITY_OUTPUTS = {"dipole": "debye"}
INPUTS = {"numbers": "atomic number", "positions": "angstrom", "charge": "e"}
LEGACY_FORMAT = "rhoml-densnet-1"  # single-file models written before run folders

__all__ = [
    "DenSNetDensityModel",
    "DenSNetFamily",
    "DenSNetPotential",
    "load_module",
    "read_config",
    "run_from_legacy",
    "train_run",
]


# -- loaded models ----------------------------------------------------------------------------
class DenSNetDensityModel:
    """A trained coefficient network (a :class:`~rhoml.families.Predictor`): per molecule the
    dipole (Debye) of the predicted density; :meth:`density` gives the density itself.
    ``module`` is the :class:`~rhoml.models.densnet.potential.DenSNet` (float64, eval mode)."""

    family = FAMILY

    def __init__(self, module, build: dict, path: Path | None = None) -> None:
        self.module = module
        self.build = build
        self.path = path
        self.outputs = dict(DENSITY_OUTPUTS)

    @property
    def meta(self) -> dict:
        return self.module.meta

    @property
    def stages(self) -> list[str]:
        return list(self.build.get("stages", STAGES))

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        from tqdm.auto import tqdm

        rows = []
        for m in tqdm(molecules, desc="densnet", unit="mol", disable=not progress):
            out = self.module.predict(m, forces="forces" in self.outputs)
            rows.append({"id": m.id, **{q: out[q] for q in self.outputs}})
        return rows

    def density(self, molecule: Molecule):
        """The predicted density as a rhoml ``Density`` (aux-basis coefficients, electrons)."""
        return self.module.density(molecule)

    def astype(self, dtype: str):
        """The same model evaluated in ``dtype`` (``float32`` or ``float64``); derived buffers
        are rebuilt in float64 first, as on load."""
        from rhoml.families.densnet_train import torch_dtype
        from rhoml.models.densnet.potential import DenSNet

        state = self.module.state_dict()
        module = DenSNet.from_build(self.build, state, dtype=torch_dtype(dtype),
                                    device=str(next(self.module.parameters()).device))  # fmt: skip
        return type(self)(module, self.build, self.path)

    def start_molecule(self) -> Molecule | None:
        """The first training geometry (an MD start), or None when the model stores none."""
        meta = self.module.meta
        if "start_numbers" not in meta:
            return None
        return Molecule(meta["start_numbers"], meta["start_positions"], id="start")


class DenSNetPotential(DenSNetDensityModel):
    """A DenSNet with a trained energy network: a :class:`~rhoml.families.Potential`.

    ``compute`` and ``predict`` use the model's fast evaluator (dense rewrite of the networks,
    built once per atom list; equal to the e3nn modules to round-off); :meth:`evaluator` gives
    it to the ASE calculator."""

    potential_units: ClassVar[dict[str, str]] = dict(POTENTIAL_UNITS)

    def __init__(self, module, build: dict, path: Path | None = None) -> None:
        super().__init__(module, build, path)
        self.outputs = dict(POTENTIAL_UNITS)

    def compute(self, molecule: Molecule) -> dict[str, Any]:
        out = self.module.predict(molecule)
        return {"energy": out["energy"], "forces": out["forces"], "dipole": out["dipole"]}

    def evaluator(self, numbers, charge: int = 0, *, compile: bool = False):
        """The cached fast evaluator for ``numbers`` and ``charge``
        (:meth:`~rhoml.models.densnet.potential.DenSNet.evaluator`)."""
        return self.module.evaluator(numbers, charge, compile=compile)

    def check_molecule(self, molecule: Molecule) -> None:
        """Refuse molecules with elements the model has no basis for, or with an atom count
        unlike every training molecule (the potential was fitted to those molecules only)."""
        from rhoml.elements import symbol

        elements = list(self.build.get("meta", {}).get("elements") or self.module.basis.elements)
        counts = self.build.get("meta", {}).get("atom_counts")
        have = sorted({symbol(int(z)) for z in molecule.numbers})
        other = [e for e in have if e not in elements]
        trained = f"trained on {', '.join(elements)}"
        if counts:
            trained += f" molecules of {'/'.join(str(c) for c in counts)} atoms"
        name = molecule.id or "molecule"
        if other:
            raise InputError(
                f"{name}: element(s) {', '.join(other)} not in this DenSNet model ({trained})"
            )
        if counts and len(molecule.numbers) not in counts:
            raise InputError(f"{name}: {len(molecule.numbers)} atoms; this DenSNet was {trained}")


def model_for(module, build: dict, path: Path | None = None) -> DenSNetDensityModel:
    """The loaded model as a potential when its energy stage was trained."""
    cls = DenSNetPotential if "energy" in build.get("stages", STAGES) else DenSNetDensityModel
    return cls(module, build, path)


def load_module(folder, *, dtype=None, device: str = "cpu"):
    """The :class:`~rhoml.models.densnet.potential.DenSNet` of run folder ``folder`` (a
    :class:`~rhoml.train.run_folder.RunFolder` or a path) and its build arguments."""
    import torch

    from rhoml.models.densnet.potential import DenSNet
    from rhoml.train.run_folder import RunFolder

    run = folder if isinstance(folder, RunFolder) else RunFolder(folder, writer=False)
    if not run.manifest_path.is_file():
        raise InputError(f"{run.path}: not a run folder (no manifest.json)")
    manifest = run.read_manifest()
    if manifest.get("family") != FAMILY:
        raise InputError(f"{run.path}: a {manifest.get('family')} run, not a DenSNet run")
    build = manifest.get("build") or {}
    state = run.load_weights("cpu")
    module = DenSNet.from_build(build, state, dtype=dtype or torch.float64, device=device,
                                where=str(run.weights_path))  # fmt: skip
    return module, build


# -- training ---------------------------------------------------------------------------------
def _stages_of(config: dict, init_build: dict | None) -> list[str]:
    t = config["train"]
    done = list(init_build.get("stages", STAGES)) if init_build is not None else []
    if t.density_epochs > 0 and "density" not in done:
        done.append("density")
    if t.energy_epochs > 0 and "energy" not in done:
        done.append("energy")
    return [s for s in STAGES if s in done]


def _fingerprint(frames) -> str:
    from rhoml.train.run_folder import data_fingerprint

    items: list = []
    for f in frames:
        items += [f.molecule.id, f.molecule.numbers, f.molecule.positions,
                  np.float64(f.energy), f.forces, f.coeff]  # fmt: skip
    return data_fingerprint(items)


def _claim_checkpoints(run, fingerprint: str) -> None:
    """Refuse to resume checkpoints written for other training frames (same config, another
    store content): they would silently mix two runs."""
    from rhoml.io.atomic import atomic_write
    from rhoml.train.distributed import is_main_process

    stamp = run.checkpoints() / "data.json"
    if stamp.is_file():
        old = json.loads(stamp.read_text()).get("data_fingerprint")
        if old != fingerprint:
            raise InputError(
                f"{run.path}: checkpoints of other training frames (data fingerprint {old}, "
                f"now {fingerprint}); give another --out or delete the folder"
            )
        return
    if run.writer and is_main_process():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(stamp, json.dumps({"data_fingerprint": fingerprint}) + "\n")


def _label_key(store) -> str:
    """Record key of the labels in the label store ``store``."""
    from rhoml.represent.coefficients import label_method
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        return label_method(st)


def train_run(config: dict, run, *, frames=None, progress: bool = True, log=None) -> dict:
    """Train the DenSNet of ``config`` (loaded sections) into ``run`` (a
    :class:`~rhoml.train.run_folder.RunFolder`): frames from ``[data] store`` (or ``frames``,
    a list of :class:`~rhoml.represent.coefficients.Frame`), both stages, test metrics on the
    store's
    test frames, weights and manifest. Returns the metrics."""
    import time

    import torch

    from rhoml.families.densnet_train import (
        build_model,
        energy_errors,
        evaluate,
        make_basis,
        optimise_basis,
        torch_dtype,
        train_density,
        train_energy,
    )
    from rhoml.train.distributed import is_main_process, rank0_first

    d, t = config["data"], config["train"]
    main = is_main_process()
    progress = progress and main
    log = log or ((lambda s: print(s, flush=True)) if progress else (lambda s: None))
    torch.manual_seed(t.seed)
    init, init_build = None, None
    basis = None
    if t.init:
        init, init_build = load_module(t.init, dtype=torch_dtype(t.dtype))
        basis = init.basis
        log(f"continuing {t.init}")
    store_free = frames is None and not d.store and _energy_only(config)
    if store_free:
        frames, label_key = [], (init_build or {}).get("meta", {}).get("level")
        log("energy-only continuation: no label store, no density metrics")
    elif frames is None:
        from rhoml.represent.coefficients import load_frames, store_elements

        if not Path(d.store).exists():
            raise InputError(f"{d.store}: no such label store")
        if basis is None:
            basis = make_basis(config["basis"], store_elements(d.store))
            if config["basis"].scale_sweeps > 0:
                basis = optimise_basis(d.store, config["basis"], basis, log)
        with rank0_first():  # under torchrun rank 0 fills the store's fit cache
            frames = load_frames(d.store, basis, overlap=t.loss_metric == "overlap",
                                 progress=progress)  # fmt: skip
        label_key = _label_key(d.store)
    else:
        label_key = None  # frames given by the caller
    train = [f for f in frames if f.split != "test"]
    test = [f for f in frames if f.split == "test"]
    if d.n_train:
        train = train[: d.n_train]
    if not train and not store_free:
        raise InputError(f"{d.store}: no training frames")
    log(f"{len(train)} training frames, {len(test)} test frames")
    e_train, e_val, e_test = _energy_sets(d, train, test)
    if d.energy_file:
        log(f"energy stage: {len(e_train)} training and {len(e_val)} validation frames of "
            f"{Path(d.energy_file).name}")  # fmt: skip
    fingerprint = _fingerprint(train + (e_train + e_val if d.energy_file else []))
    _claim_checkpoints(run, fingerprint)
    model = init if init is not None else build_model(config, train, basis, e_train)
    if init is not None and t.new_energy_net:
        from rhoml.families.densnet_train import energy_shift_scale

        model.new_energy_net(config["energy_net"], *energy_shift_scale(e_train))
        log(f"fresh energy network: {config['energy_net']}")
    t0 = time.perf_counter()
    if t.density_epochs > 0:
        train_density(model, train, t, run.checkpoints("density"), log=log, progress=progress)
    t1 = time.perf_counter()
    if t.energy_epochs > 0:
        train_energy(model, e_train, t, run.checkpoints("energy"), val=e_val, log=log,
                     progress=progress)  # fmt: skip
    t2 = time.perf_counter()
    model.to("cpu").eval()
    stages = _stages_of(config, init_build)
    meta = dict(model.meta)
    if init_build is not None:  # keep the first run's config next to this one
        meta["init"] = {"path": t.init, "config": init_build.get("meta", {}).get("config")}
    meta.update(
        {
            "level": label_key,  # record key of the labels (level of theory); None: given frames
            "energy_unit": "kcal/mol",
            "force_unit": "kcal/mol/angstrom",
            "dipole_unit": "debye",
            "length_unit": "angstrom",
            "n_train": len(train) if train else model.meta.get("n_train", 0),
            "elements": list(model.basis.elements),
            "atom_counts": sorted({len(f.molecule.numbers) for f in train + e_train}),
            "start_numbers": (train or e_train)[0].molecule.numbers.tolist(),
            "start_positions": (train or e_train)[0].molecule.positions.tolist(),
        }
    )
    if d.energy_file:  # energies and forces of the energy stage from another file
        meta["energy_labels"] = {"file": Path(d.energy_file).name, "n_train": len(e_train),
                                 "n_validation": len(e_val)}  # fmt: skip
    meta.pop("config", None)  # the run folder's config.toml is the config
    model.meta = meta
    build = {**model.build_args(), "stages": stages}
    if not main:  # under torchrun only rank 0 evaluates and writes
        return {}
    from rhoml.models.densnet.potential import DenSNet

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    loaded = DenSNet.from_build(build, state)  # exactly what runs.load gives (float64)
    metrics: dict[str, Any] = {"n_train": len(train), "n_test": len(test),
                               "density_seconds": t1 - t0, "energy_seconds": t2 - t1}  # fmt: skip
    if d.energy_file or e_val:
        metrics.update(n_energy_train=len(e_train), n_energy_validation=len(e_val))
    if test:
        m = evaluate(loaded, test)
        m.pop("n")
        if "energy" not in stages or d.energy_test_file:  # energy metrics: untrained / below
            m = {k: v for k, v in m.items() if not k.startswith(("energy", "force"))}
        metrics.update(m)
    if e_test and "energy" in stages:
        m = energy_errors(loaded, e_test)
        metrics["n_energy_test"] = m.pop("n")
        metrics.update(m)
    outputs = POTENTIAL_UNITS if "energy" in stages else DENSITY_OUTPUTS
    run.finish(FAMILY, state, inputs=INPUTS, outputs=dict(outputs), build=build,
               metrics=metrics, data=fingerprint,
               stages={s: run.checkpoints(s) for s in STAGES})  # fmt: skip
    return metrics


def _energy_only(config: dict) -> bool:
    """An energy-only continuation: ``init``, no density epochs, energies from a file (no label
    store needed)."""
    d, t = config["data"], config["train"]
    return bool(t.init and t.density_epochs == 0 and d.energy_file)


def _energy_sets(d, train: list, test: list) -> tuple[list, list, list]:
    """(train, validation, test) frames of the energy stage: those of ``[data] energy_file``
    (else the store's training frames), the last ``energy_validation`` of them for validation
    and the first ``energy_n_train`` of the rest for training; test frames from
    ``energy_test_file`` (else none: the store's test frames are evaluated with the density)."""
    from rhoml.represent.coefficients import energy_frames

    frames = energy_frames(d.energy_file, "train") if d.energy_file else list(train)
    n_val = d.energy_validation
    if n_val and n_val >= len(frames):
        raise InputError(f"{d.energy_file or d.store}: {len(frames)} training frames, "
                         f"energy_validation = {n_val}")  # fmt: skip
    fit, val = frames[: len(frames) - n_val], frames[len(frames) - n_val :]
    if d.energy_n_train:
        fit = fit[: d.energy_n_train]
    e_test = energy_frames(d.energy_test_file, "test") if d.energy_test_file else []
    return fit, val, e_test


def read_config(path, overrides: list[str] | None = None) -> dict:
    """The loaded sections of the DenSNet config file ``path`` (paths resolved against its
    folder), without the existence checks that training adds (for scripts that prepare the
    label store first)."""
    from rhoml.config import load_config, read_table_file

    raw = read_table_file(path)
    family = raw.pop("family", FAMILY)
    if family != FAMILY:
        raise ConfigError(f"{path}: family {family!r}, not {FAMILY!r}")
    return load_config(raw, SECTIONS, str(path), overrides=overrides,
                       base_dir=Path(path).resolve().parent)  # fmt: skip


def _sections_from_init(sections: dict, init: Path, where: str) -> None:
    """With ``[train] init`` the networks and basis come from that run: its ``[basis]`` and
    ``[density_net]`` (and ``[energy_net]`` unless ``new_energy_net``) replace this config's, so
    the resolved config a run folder keeps shows what was trained. An init run without a
    ``config.toml`` (converted single-file models) leaves the sections as given."""
    from rhoml.config import read_table_file, strict_dataclass

    path = init / "config.toml"
    if not path.is_file():
        return
    old = read_table_file(path)
    keys = ["basis", "density_net"] + ([] if sections["train"].new_energy_net else ["energy_net"])
    for key in keys:
        if key in old:
            sections[key] = strict_dataclass(SECTIONS[key], old[key], f"{where}: init {key}")


# -- the family -------------------------------------------------------------------------------
class DenSNetFamily:
    """DenSNet (density-first potential) as a model family (see the module docstring)."""

    name: ClassVar[str] = FAMILY
    sections: ClassVar[dict[str, type | None]] = dict(SECTIONS)

    def check_config(self, sections: dict, where: str) -> None:
        """Files the config names exist (checked before any work): the label store, and the
        ``init`` run folder (a finished DenSNet run)."""
        store = sections["data"].store
        if not store and not _energy_only(sections):
            raise ConfigError(f"{where}: [data] store: required (only an energy-only "
                              "continuation, with [train] init, density_epochs = 0 and [data] "
                              "energy_file, trains without a label store)")  # fmt: skip
        if store and not Path(store).exists():
            raise ConfigError(f"{where}: [data] store: no such label store {Path(store).resolve()}")
        for key in ("energy_file", "energy_test_file"):
            name = getattr(sections["data"], key)
            if name and not Path(name).is_file():
                raise ConfigError(f"{where}: [data] {key}: no such file {Path(name).resolve()}")
        init = sections["train"].init
        if init:
            init = Path(init).resolve()
            manifest = Path(init) / "manifest.json"
            if not manifest.is_file():
                raise ConfigError(f"{where}: [train] init: {init} is not a run folder")
            family = json.loads(manifest.read_text()).get("family")
            if family != FAMILY:
                raise ConfigError(f"{where}: [train] init: {init} is a {family} run, not densnet")
            _sections_from_init(sections, init, where)

    def train(self, config: dict, run, *, progress: bool = True) -> dict:
        return train_run(config, run, progress=progress)

    def load(self, run, device: str = "cpu") -> DenSNetDensityModel:
        module, build = load_module(run, device=device)
        return model_for(module, build, Path(run.path))


# -- converting single-file models ------------------------------------------------------------
def _legacy_config(old: dict) -> dict:
    """A pre-run-folder training config (flat keys) in this family's sections, defaults
    written out (paths kept as they were written: relative to the working directory then)."""
    from rhoml.config import as_dict, load_config

    sections = {
        "data": {k: old[k] for k in ("store", "n_train") if k in old},
        "basis": {
            k: old[k]
            for k in ("basis", "lmax_heavy", "lmax_h", "orthogonalise", "scale_sweeps", "mode")
            if k in old
        },  # fmt: skip
        "density_net": dict(old.get("density_net") or {}),
        "energy_net": dict(old.get("energy_net") or {}),
        "train": {
            k: old[k]
            for k in (
                "density_epochs",
                "energy_epochs",
                "batch_size",
                "lr",
                "force_weight",
                "seed",
                "dtype",
                "device",
                "loss_metric",
                "init",
            )
            if old.get(k) is not None
        },  # fmt: skip
    }
    return {"family": FAMILY, **as_dict(load_config(sections, SECTIONS, "legacy config"))}


def run_from_legacy(pt_path, out, *, summary: dict | None = None,
                    metrics: dict | None = None):  # fmt: skip
    """Convert a single-file DenSNet model (format ``rhoml-densnet-1``) into the run folder
    ``out`` with the same weights and build arguments, so its predictions are unchanged.

    ``summary``: that model's training summary (the JSON written beside it: its per-epoch
    ``density_loss``/``energy_loss`` become ``metrics.csv``, its ``test`` the manifest
    metrics); ``metrics``: test metrics to record instead. Returns the :class:`RunFolder`."""
    import csv
    import io

    import torch

    from rhoml.io.atomic import atomic_write
    from rhoml.train.run_folder import RunFolder, plot_learning_curve

    p = Path(pt_path)
    if not p.is_file():
        raise InputError(f"{p}: no such model file")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise InputError(f"{p}: not a readable DenSNet model ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != LEGACY_FORMAT:
        raise InputError(f"{p}: not a single-file DenSNet model ({LEGACY_FORMAT})")
    meta = dict(blob["meta"])
    old_config = meta.pop("config", None) or {}
    if meta.get("init"):
        raise InputError(f"{p}: continued from another model file; convert that one first")
    config = _legacy_config(old_config)
    from rhoml.models.densnet.potential import DenSNet

    hp = dict(blob["hparams"])
    hp["e_shift"] = {str(k): float(v) for k, v in hp["e_shift"].items()}
    module = DenSNet.from_build({"basis": blob["basis"], "hparams": hp, "meta": meta},
                                blob["state"], where=str(p))  # fmt: skip
    meta["elements"] = list(module.basis.elements)
    if "start_numbers" in meta:
        meta["atom_counts"] = [len(meta["start_numbers"])]
    tcfg = config["train"]
    stages = [s for s in STAGES if tcfg[f"{s}_epochs"] > 0]
    build = {"basis": blob["basis"], "hparams": hp, "meta": meta, "stages": stages}
    run = RunFolder.create(out, config)
    run.save_weights(blob["state"])
    test = dict(metrics or (summary or {}).get("test") or {})
    if "n" in test:
        test["n_test"] = test.pop("n")
    if summary:
        test = {"n_train": summary.get("n_train", meta.get("n_train")), **test}
        rows = [{"stage": s, "epoch": i + 1, "train_loss": v}
                for s in STAGES for i, v in enumerate(summary.get(f"{s}_loss") or [])]  # fmt: skip
        if rows:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=["stage", "epoch", "train_loss"])
            w.writeheader()
            w.writerows(rows)
            atomic_write(run.metrics_path, buf.getvalue())
            plot_learning_curve(run.metrics_path, run.curve_path)
    outputs = POTENTIAL_UNITS if "energy" in stages else DENSITY_OUTPUTS
    run.write_manifest(FAMILY, inputs=INPUTS, outputs=dict(outputs), build=build,
                       metrics=test, extra={"converted_from": p.name})  # fmt: skip
    return run

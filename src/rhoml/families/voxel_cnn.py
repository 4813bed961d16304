"""The voxel CNN family: voxelised molecules or complexes (atom types, ρ, |∇ρ|, shape) → a 3D
ResNet → per-molecule properties (QM9 targets, PDBbind pK).

Config sections: ``[data]`` (:class:`DataConfig`), ``[voxel]`` (a
:class:`~rhoml.represent.voxel.VoxelSpec`; absent = the data set's default grid), ``[model]``
(``name`` = a model or preset of :mod:`rhoml.models.registry`, plus its parameters) and
``[train]`` (:class:`~rhoml.train.config.TrainConfig`). Training data come from the QM9 or
PDBbind protocol of :mod:`rhoml.datasets`, densities and voxels are cached in a store
(``[data].store``, default ``RUN/store``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.config import ConfigError, option
from rhoml.errors import RhomlError
from rhoml.molecule import Molecule
from rhoml.train.config import TrainConfig
from rhoml.train.run_folder import RunFolder, data_fingerprint


@dataclass
class DataConfig:
    """``[data]``: ``dataset`` qm9 or pdbbind (``root`` = the PDBbind folder); ``store``:
    density/voxel store (default RUN/store); ``n_test``: QM9 test molecules from the test split
    (0 = all 10,831) or PDBbind held-out complexes; ``engine``: density engine (default xtb for
    QM9, promolecule for PDBbind).

    PDBbind only: ``labels`` (a CSV ``code,pK`` or an index file; default the folder's
    ``labels_pK.csv`` or ``index/INDEX_*``), ``exclude_ic50`` / ``exclude_qualified`` (leave out
    IC50 values / bounds and approximate values), ``split`` (``random``, ``scaffold``: whole
    Bemis–Murcko ligand scaffolds, ``protein``: whole protein-chain clusters at
    ``split_threshold``, a 3-mer Jaccard similarity; see :mod:`rhoml.datasets.clusters`)."""

    dataset: str = option("qm9", choices=("qm9", "pdbbind"))
    root: str = option("", path=True, must_exist=True)
    store: str = option("", path=True)
    targets: list[str] = field(default_factory=lambda: ["gap"])
    representation: str = option(
        "density", choices=("atoms", "density", "gradient", "shape", "density+gradient")
    )
    n_train: int = option(1000, min=1)
    n_val: int = option(200, min=1)
    n_test: int = option(1000, min=0)
    engine: str = option("", choices=("", "xtb", "promolecule", "dft"))
    n_poses: int = option(1, min=1)
    augment: bool = True
    split_seed: int = option(42, min=0)
    subset_seed: int = option(0, min=0)
    pocket_cutoff: float = option(0.0, min=0.0)
    workers: int = option(2, min=1)
    solvent: str = ""  # xtb: ALPB implicit solvent (e.g. "water"); "" = gas phase
    labels: str = option("", path=True, must_exist=True)
    exclude_ic50: bool = False
    exclude_qualified: bool = False
    split: str = option("random", choices=("random", "scaffold", "protein"))
    split_threshold: float = option(0.1, min=0.0, max=1.0, exclusive_min=True)

    def __post_init__(self) -> None:
        if self.dataset == "pdbbind" and not self.root:
            raise ValueError("dataset pdbbind needs root (the PDBbind folder)")
        if self.dataset == "pdbbind" and list(self.targets) != ["pK"]:
            raise ValueError(f"dataset pdbbind has the single target pK, got {self.targets}")
        if self.dataset == "qm9":
            from rhoml.datasets.qm9 import REPORT_UNITS

            given = {"labels": self.labels, "split": self.split != "random",
                     "exclude_ic50": self.exclude_ic50,
                     "exclude_qualified": self.exclude_qualified}  # fmt: skip
            pdbbind_only = [k for k, v in given.items() if v]
            if pdbbind_only:
                raise ValueError(f"{', '.join(pdbbind_only)}: PDBbind options (dataset = qm9)")

            bad = [t for t in self.targets if t not in REPORT_UNITS]
            if bad or not self.targets:
                raise ValueError(
                    f"targets: unknown QM9 target(s) {bad or self.targets}; "
                    f"choose from {', '.join(REPORT_UNITS)}"
                )

    @property
    def default_engine(self) -> str:
        return self.engine or ("xtb" if self.dataset == "qm9" else "promolecule")


def default_voxel_spec(dataset: str):
    """The data set's default grid (:func:`rhoml.datasets.qm9.default_spec` or PDBbind's)."""
    if dataset == "qm9":
        from rhoml.datasets.qm9 import default_spec
    else:
        from rhoml.datasets.pdbbind import default_spec
    return default_spec()


def _model_params(model: dict, where: str) -> tuple[str, dict]:
    """``[model]`` → (model or preset name, checked parameters with the preset's values)."""
    from rhoml.models.registry import check_model_section

    name, params, _ = check_model_section(model, where, "resnet3d-small")
    return name, params


class VoxelCNNFamily:
    """Voxel 3D CNN: ``rhoml train`` config sections and training, loading as a predictor."""

    name = "voxel-cnn"
    sections: dict[str, type | None] = {
        "data": DataConfig,
        "voxel": None,
        "model": None,
        "train": TrainConfig,
    }

    def check_config(self, sections: dict, where: str, narrow: bool = True) -> None:
        """Resolve ``[voxel]`` (the data set's default grid when absent; with ``narrow``,
        narrowed to the channel kinds of ``[data].representation``) and check ``[model]``
        against its model's parameters (in place)."""
        from rhoml.represent.voxel import VoxelSpec
        from rhoml.represent.voxel_data import representation_spec

        try:
            spec = (VoxelSpec.from_dict(sections["voxel"]) if sections["voxel"]
                    else default_voxel_spec(sections["data"].dataset))  # fmt: skip
            # only the channels the representation uses are computed and cached
            if narrow:
                spec = representation_spec(spec, sections["data"].representation)
        except RhomlError as exc:
            raise ConfigError(f"{where}: [voxel]: {exc}") from None
        sections["voxel"] = spec.to_dict()
        name, params = _model_params(sections["model"], where)
        sections["model"] = {"name": name, **params}

    # -- training ------------------------------------------------------------------------------
    def train(self, config: dict, run: RunFolder, *, progress: bool = True) -> dict:
        """Data → voxels → one model → test metrics, into ``run``. Under ``torchrun`` rank 0
        prepares the data, every rank trains its shard through DDP, rank 0 writes."""
        from rhoml.train.distributed import is_main_process, rank0_first

        self.check_config(config, str(run.path))
        d: DataConfig = config["data"]
        main = is_main_process()
        with rank0_first():  # under torchrun rank 0 computes the densities and voxels
            data = prepare_data(config, run.path, progress and main)
        model_cfg = dict(config["model"])
        name = model_cfg.pop("name")
        return train_on_data(data, d.representation, d.n_train, config["train"], run,
                             model_name=name, model_params=model_cfg, augment=d.augment,
                             progress=progress, config=config)  # fmt: skip

    # -- loading -------------------------------------------------------------------------------
    def load(self, run: RunFolder, device: str = "cpu") -> VoxelPredictor:
        from rhoml.models.registry import build_model

        build = run.read_manifest()["build"]
        model = build_model(build["model"], build["model_params"],
                            in_channels=len(build["channels"]),
                            targets=build["targets"])  # fmt: skip
        try:
            model.load_state_dict(run.load_weights(device))
        except RuntimeError:
            raise RhomlError(f"{run.weights_path}: weights do not match the manifest") from None
        return VoxelPredictor(model.to(device).eval(), build, device)


def prepare_data(config: dict, run_path: Path, progress: bool = True):
    """The :class:`~rhoml.datasets.VoxelData` of a config's ``[data]`` and ``[voxel]``."""
    from rhoml.represent.voxel import VoxelSpec

    d: DataConfig = config["data"]
    spec = VoxelSpec.from_dict(config["voxel"])
    store = Path(d.store) if d.store else Path(run_path) / "store"
    if d.dataset == "qm9":
        from rhoml.datasets import qm9

        sel = qm9.select(d.n_train, d.n_val, d.n_test or None, split_seed=d.split_seed,
                         subset_seed=d.subset_seed)  # fmt: skip
        return qm9.study_data(store, sel, d.targets, spec=spec, engine=d.default_engine,
                              n_poses=d.n_poses, workers=d.workers, progress=progress)  # fmt: skip
    from rhoml.datasets import pdbbind

    return pdbbind.study_data(d.root, store, spec=spec, engine=d.default_engine, n_val=d.n_val,
                              n_test=d.n_test, max_train=d.n_train, split_seed=d.split_seed,
                              pocket_cutoff=d.pocket_cutoff or None, n_poses=d.n_poses,
                              engine_options={"solvent": d.solvent} if d.solvent else None,
                              labels=d.labels or None, exclude_ic50=d.exclude_ic50,
                              exclude_qualified=d.exclude_qualified, split=d.split,
                              split_threshold=d.split_threshold,
                              workers=d.workers, progress=progress)  # fmt: skip


def train_on_data(data, representation: str, size: int, train_cfg: TrainConfig,
                  run: RunFolder, *, model_name: str = "resnet3d-small",
                  model_params: dict | None = None, augment: bool = True,
                  progress: bool = True, config: dict | None = None) -> dict:  # fmt: skip
    """Train one model on the first ``size`` molecules of ``data``'s training pool (nested
    subsets: the same prefix for every seed) with ``representation``, evaluate it on the test
    part, and write the run folder (weights, manifest with test metrics, metrics.csv).

    Seeds: ``train_cfg.seed`` seeds initialisation and batch order. Returns the manifest's
    metrics plus timing (``best_epoch``, ``epochs_run``, ``train_seconds``, ...)."""
    import torch

    from rhoml.models.registry import build_model
    from rhoml.represent.voxel_data import VoxelDataset, channel_indices
    from rhoml.train.distributed import is_main_process
    from rhoml.train.loop import Objective, fit, predict, seed_everything
    from rhoml.train.metrics import confidence_intervals, regression_report

    model_params = dict(model_params or {})
    ch = channel_indices(data.channel_names, representation)
    pool_v, pool_y = data.voxels["train_pool"], data.targets["train_pool"]
    if size > len(pool_v):
        raise RhomlError(f"{data.name}: training size {size} > pool of {len(pool_v)}")
    sel = np.arange(size)
    train = VoxelDataset(pool_v[sel], pool_y[sel], ch, augment=augment)
    val = VoxelDataset(data.voxels["val"], data.targets["val"], ch)
    seed_everything(train_cfg.seed)
    model = build_model(model_name, model_params, in_channels=len(ch),
                        targets=data.target_names)  # fmt: skip
    y = pool_y[sel]
    model.set_target_stats(y.mean(0), y.std(0) if len(y) > 1 else np.ones(y.shape[1]))
    std = model.target_std
    loss = train_cfg.loss

    def criterion(p, t):
        z = (p - t) / std.to(p.device)
        return z.abs().mean() if loss == "l1" else (z * z).mean()

    names = data.target_names
    obj = Objective(lambda b: b["y"], criterion, lambda p, t: regression_report(p, t, names))
    res = fit(model, train, val, obj, train_cfg, run.checkpoints(), progress=progress)
    test = VoxelDataset(data.voxels["test"], data.targets["test"], ch)
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    pred, true = predict(model, test, batch_size=64, device=device, targets=lambda b: b["y"])
    test_seconds = time.perf_counter() - t0
    # reference: the mean of the training targets predicted for every test molecule
    mean = np.broadcast_to(y.mean(0), np.asarray(true).reshape(len(true), -1).shape)
    metrics = {
        "test": regression_report(pred, true, names), "n_test": len(true),
        "test_ci95": confidence_intervals(pred, true, names, seed=train_cfg.seed),
        "mean_predictor_test": regression_report(mean, true, names),
        "mean_predictor_test_ci95": confidence_intervals(mean, true, names, seed=train_cfg.seed),
        "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
        "train_seconds": res.seconds, "train_samples_per_second": res.samples_per_second,
        "test_molecules_per_second": len(true) / test_seconds if test_seconds else None,
        "parameters": sum(p.numel() for p in model.parameters()), "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    if not is_main_process():
        return metrics
    build = {
        "model": model_name, "model_params": model_params, "targets": names,
        "units": data.target_units, "representation": representation, "channels": ch,
        "channel_names": [data.channel_names[i] for i in ch],
        "all_channel_names": data.channel_names, "voxel_spec": data.info.get("voxel_spec"),
        "engine": data.info.get("engine"), "engine_options": data.info.get("engine_options"),
        "pocket_cutoff": data.info.get("pocket_cutoff"), "dataset": data.name, "n_train": size,
        "seed": train_cfg.seed,
    }  # fmt: skip
    inputs = {"positions": "angstrom", "numbers": "dimensionless"}
    if any(k in representation for k in ("density", "gradient")):
        inputs["density"] = f"e/bohr^3 ({data.info.get('engine')} engine)"
    fingerprint = data_fingerprint([data.name, *data.channel_names,
                                    *(data.targets[k] for k in ("train_pool", "val", "test")),
                                    pool_v[sel]])  # fmt: skip
    from rhoml.datasets import dropped_summary, write_dropped

    dropped = list(data.info.get("dropped") or [])
    write_dropped(run.path / "dropped.csv", dropped)
    extra = {"dropped": {**dropped_summary(dropped), "file": "dropped.csv"},
             "split": data.info.get("split")}  # fmt: skip
    run.finish(
        VoxelCNNFamily.name, model.state_dict(), inputs=inputs,
        outputs=dict(zip(names, data.target_units, strict=True)), build=build,
        metrics=metrics, data=fingerprint, config=config, extra=extra,
    )  # fmt: skip
    return metrics


@dataclass
class VoxelPredictor:
    """A trained voxel CNN: ``predict`` molecules (densities from the model's engine) or
    ``predict_map`` a density map. ``outputs``: target → unit."""

    model: Any
    build: dict
    device: str = "cpu"
    family: str = VoxelCNNFamily.name

    @property
    def outputs(self) -> dict[str, str]:
        return dict(zip(self.build["targets"], self.build["units"], strict=True))

    def _voxelizer(self):
        from rhoml.represent.voxel import Voxelizer, VoxelSpec

        spec = VoxelSpec.from_dict(self.build["voxel_spec"])
        vox = Voxelizer(spec, device=self.device, engine=self.build["engine"] or "xtb",
                        engine_options=self.build.get("engine_options"))  # fmt: skip
        return spec, vox

    def _cut(self, molecules: Sequence[Molecule], dropped: list | None = None) -> list[Molecule]:
        """Complexes cut to their pockets as in training (``pocket_cutoff``); with ``dropped``
        a complex whose pocket cannot be prepared is recorded there and left out."""
        if not self.build.get("pocket_cutoff"):
            return list(molecules)
        from rhoml.datasets.pdbbind import cut_pocket  # complexes are cut as in training

        cutoff = self.build["pocket_cutoff"]
        out = []
        for m in molecules:
            if m.groups is None or not m.source:
                out.append(m)
                continue
            try:
                out.append(cut_pocket(m, cutoff))
            except RhomlError as exc:
                if dropped is None:
                    raise
                from rhoml.datasets import drop

                drop(dropped, m.id, "pocket", exc)
        return out

    def _row(self, name: str, x) -> dict:
        import torch

        with torch.no_grad():
            y = self.model({"voxels": x[:, self.build["channels"]].to(self.device)})
        y = y[0].cpu().numpy()
        return {"id": name, **{t: float(v) for t, v in zip(self.build["targets"], y, strict=True)}}

    def stored_voxels(self, store, molecules: Sequence[Molecule]) -> dict[str, Any]:
        """Pose 0 of the cached voxels of ``molecules`` in the store at ``store`` (written by
        ``rhoml voxelize`` or training with the same grid, engine and engine options), as
        ``{id: (C, n, n, n) float16}``; only molecules with the same id, atoms and positions
        (within 1e-4 Å) as the stored ones are taken."""
        from rhoml.represent.voxel import VoxelSpec
        from rhoml.represent.voxel_data import VOXEL_UNIT, pose_name, spec_key
        from rhoml.store.sqlite_store import Store

        spec = VoxelSpec.from_dict(self.build["voxel_spec"])
        engine = self.build["engine"] or "xtb"
        key = "voxels/" + spec_key(spec, engine, self.build.get("engine_options"))
        wanted = {m.id: m for m in molecules}
        out: dict[str, Any] = {}
        with Store.open(store, readonly=True) as st:
            for idx in st.indices():
                if not st.has_array(idx, pose_name(key, 0)):
                    continue
                stored = st.molecule(idx)
                m = wanted.get(stored.id)
                if m is None or not np.array_equal(m.numbers, stored.numbers):
                    continue
                if np.allclose(m.positions, stored.positions, rtol=0, atol=1e-4):
                    out[m.id] = st.get_array(idx, pose_name(key, 0), unit=VOXEL_UNIT)
        return out

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False,
                dropped: list | None = None, store=None) -> list[dict]:  # fmt: skip
        """One row per molecule: ``id`` and one value per target (units in ``outputs``).

        ``dropped``: a molecule that cannot be prepared (ligand beyond the box, pocket or
        density failure, element without a channel) is recorded there as ``{id, stage,
        reason}`` and left out, and the rest go on; without it the first failure raises.
        ``store``: a store folder whose cached voxels (same grid and engine) are used for the
        molecules found there (see :meth:`stored_voxels`); the others are voxelised afresh."""
        import torch

        from rhoml.datasets import drop

        _, vox = self._voxelizer()
        items = self._cut(molecules, dropped)
        cached = self.stored_voxels(store, items) if store is not None else {}
        it = items
        if progress and len(items) > 1:
            from tqdm.auto import tqdm

            it = tqdm(items, desc="predict", leave=False)
        rows = []
        for m in it:
            if m.id in cached:
                x = torch.from_numpy(np.asarray(cached[m.id], dtype=np.float32))[None]
            else:
                try:
                    x = vox([m])
                except RhomlError as exc:
                    if dropped is None:
                        raise
                    from rhoml.represent.voxel import VoxelBoxError

                    drop(dropped, m.id, "box" if isinstance(exc, VoxelBoxError) else "voxels",
                         exc)  # fmt: skip
                    continue
            rows.append(self._row(m.id, x))
        return rows

    def predict_map(self, map_path, molecules: Sequence[Molecule] = (), *,
                    progress: bool = False) -> list[dict]:  # fmt: skip
        """Predictions with the density channels read from a CCP4/MRC map or cube file,
        resampled (trilinearly) onto the model's grid. Its values are used as they are (e/Bohr³
        for cube densities): they must be on the scale the model was trained on. With
        molecules, the map is used for each of them (atom channels and the box centre come from
        the molecule); without, the box is centred on the map and the model must use density
        channels only."""
        from rhoml.density.file import load_density_file
        from rhoml.represent.voxel_data import channel_kind

        spec, vox = self._voxelizer()
        density = load_density_file(map_path)
        name = Path(map_path).name
        negative = float(np.mean(np.asarray(density.values) < 0))
        if negative > 0:
            import logging

            logging.getLogger(__name__).warning(
                "%s: %.1f %% of the map's values are negative; the density channels read them "
                "as 0 (log1p of a density needs ρ ≥ 0)", name, 100 * negative)  # fmt: skip
        if not molecules:
            kinds = {channel_kind(n) for n in self.build["channel_names"]}
            if not kinds <= {"density", "gradient"}:
                raise RhomlError(
                    f"{map_path}: the model uses {', '.join(sorted(kinds))} channels; a map "
                    "alone can only feed density/gradient models (give a molecule too)"
                )
            g = density.grid
            centre = g.origin + 0.5 * (np.array(g.shape) - 1) @ g.axes
            # a placeholder atom: only the (unused) atom/shape channels see it
            dummy = Molecule([1], [centre], multiplicity=2, id=name)
            x = vox([dummy], [[density] * len(spec.groups)], centers=[centre])
            return [self._row(name, x)]
        return [self._row(m.id, vox([m], [[density] * len(spec.groups)]))
                for m in self._cut(molecules)]  # fmt: skip


__all__ = ["DataConfig", "VoxelCNNFamily", "VoxelPredictor", "prepare_data", "train_on_data"]

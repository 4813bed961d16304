"""The energy-term family (EDG appendix Table 4 analogue): DFT energy terms E1–E6 (Psi4's split,
:mod:`rhoml.datasets.energy_terms`) of a store's molecules predicted from one representation of
their electron density: a PointNet on point clouds, a ResNet-3D on voxels or a ResNet-18 on the
6-view RGB-D images (:mod:`rhoml.families.energy_terms_data`).

One model predicts all the chosen terms jointly: one head per term on a shared representation,
each term standardised with the training set's mean and standard deviation (the loss is the mean
over terms of the standardised L1 or MSE, so terms of very different spread weigh equally; the
model maps back to physical units itself). Targets are reported in ``[data].unit`` (default
kcal/mol). The split is a seeded random train/validation/test split of the store's molecules
with energy terms, the same for every representation of the same store and seed.

Config sections: ``[data]`` (:class:`TermsDataConfig`), ``[voxel]`` (a
:class:`~rhoml.represent.voxel.VoxelSpec`; only for ``voxels``; default :data:`DEFAULT_VOXEL`),
``[model]`` (a model or preset of :mod:`rhoml.models.registry`; default per representation,
:data:`DEFAULT_MODELS`) and ``[train]`` (:class:`~rhoml.train.config.TrainConfig`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.config import ConfigError, option
from rhoml.datasets.energy_terms import EDG_LABELS, TERMS
from rhoml.errors import InputError, RhomlError
from rhoml.families.energy_terms_data import REPRESENTATIONS
from rhoml.molecule import Molecule
from rhoml.train.config import TrainConfig
from rhoml.train.run_folder import RunFolder, data_fingerprint

__all__ = [
    "DEFAULT_MODELS", "DEFAULT_VOXEL", "EnergyTermsFamily", "EnergyTermsPredictor",
    "TermsDataConfig",
]  # fmt: skip

#: representation → default model preset
DEFAULT_MODELS = {"points": "pointnet-small", "atoms": "pointnet-small",
                  "voxels": "resnet3d-small", "images": "resnet18-views-small"}  # fmt: skip
#: model (registry name) → the representations it reads
MODEL_INPUTS = {"pointnet": ("points", "atoms"), "resnet3d": ("voxels",),
                "resnet18-views": ("images",)}  # fmt: skip
#: default ``[voxel]``: the density channel in ATOM3D's QM9 box (16 Å at 1 Å → 16³)
DEFAULT_VOXEL = {"size": 16.0, "spacing": 1.0, "channels": ["density"], "overflow": "crop"}
IMAGES = "edg_density_views"


@dataclass
class TermsDataConfig:
    """``[data]``: ``store`` with DFT records (``rhoml density compute --method dft``);
    ``method``: their record key ("" = the store's only DFT key with energy terms); ``terms``:
    of :data:`rhoml.datasets.energy_terms.TERMS`; ``unit`` of the targets; ``representation``:
    points, atoms, voxels or images; ``val_fraction``, ``test_fraction``, ``split_seed``: the
    seeded random split; ``limit``: the first N molecules with terms (0 = all); ``n_points``:
    points per density cloud (0 = all stored); ``elements``: one-hot columns of ``atoms`` clouds;
    ``images``: the image array (``rhoml render --preset edg-density [--name NAME]``);
    ``image_size``: pixels the network sees (0 = as stored); ``augment``: random rotations of
    point clouds, random cached pose + cube rotation of voxels (images: none, as in EDG);
    ``n_poses``: voxel poses cached per molecule."""

    store: str = option(path=True, must_exist=True)
    method: str = ""
    terms: list[str] = field(default_factory=lambda: list(TERMS))
    unit: str = option("kcal/mol", choices=("kcal/mol", "hartree", "eV"))
    representation: str = option("voxels", choices=REPRESENTATIONS)
    val_fraction: float = option(0.1, min=0.0, max=0.5, exclusive_min=True)
    test_fraction: float = option(0.1, min=0.0, max=0.5, exclusive_min=True)
    split_seed: int = option(0, min=0)
    limit: int = option(0, min=0)
    n_points: int = option(0, min=0)
    elements: list[str] = field(default_factory=lambda: ["H", "C", "N", "O", "F"])
    images: str = IMAGES
    image_size: int = option(0, min=0)
    augment: bool = True
    n_poses: int = option(1, min=1)

    def __post_init__(self) -> None:
        bad = [t for t in self.terms if t not in TERMS]
        if bad or not self.terms or len(set(self.terms)) != len(self.terms):
            raise ValueError(f"terms: distinct names from {', '.join(TERMS)}, got {self.terms}")
        if 0 < self.image_size < 32:
            raise ValueError(f"image_size must be 0 (as stored) or >= 32, got {self.image_size}")


class EnergyTermsFamily:
    """Energy terms from points, voxels or images: ``rhoml train`` sections, training, loading."""

    name = "energy-terms"
    sections: dict[str, type | None] = {
        "data": TermsDataConfig,
        "voxel": None,
        "model": None,
        "train": TrainConfig,
    }

    def check_config(self, sections: dict, where: str) -> None:
        """Resolve ``[voxel]`` and ``[model]`` (in place), check that the model reads the
        representation and that the store has energy terms (before any work)."""
        from rhoml.families.energy_terms_data import record_key
        from rhoml.models.registry import PRESETS, check_model_section
        from rhoml.represent.voxel import VoxelSpec

        d: TermsDataConfig = sections["data"]
        try:
            spec = VoxelSpec.from_dict({**DEFAULT_VOXEL, **(sections["voxel"] or {})})
        except RhomlError as exc:
            raise ConfigError(f"{where}: [voxel]: {exc}") from None
        sections["voxel"] = spec.to_dict()
        name, params, _ = check_model_section(sections["model"], where,
                                              DEFAULT_MODELS[d.representation])  # fmt: skip
        base = PRESETS[name][0] if name in PRESETS else name
        reads = MODEL_INPUTS.get(base, ())
        if d.representation not in reads:
            raise ConfigError(
                f"{where}: [model] {name} does not read {d.representation} "
                f"(it reads {', '.join(reads) or 'other inputs'}; default "
                f"{DEFAULT_MODELS[d.representation]})"
            )
        sections["model"] = {"name": name, **params}
        record_key(d.store, d.method)  # one line naming the store when it has no terms

    # -- training ------------------------------------------------------------------------------
    def train(self, config: dict, run: RunFolder, *, progress: bool = True) -> dict:
        from rhoml.families.energy_terms_data import load_terms

        self.check_config(config, str(run.path))
        d: TermsDataConfig = config["data"]
        data = load_terms(d.store, d.method, terms=d.terms, unit=d.unit,
                          val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                          split_seed=d.split_seed, limit=d.limit)  # fmt: skip
        model_cfg = dict(config["model"])
        name = model_cfg.pop("name")
        return train_on_terms(data, d, config["voxel"], name, model_cfg, config["train"], run,
                              progress=progress, config=config)  # fmt: skip

    # -- loading -------------------------------------------------------------------------------
    def load(self, run: RunFolder, device: str = "cpu") -> EnergyTermsPredictor:
        from rhoml.models.registry import build_model

        build = run.read_manifest()["build"]
        model = build_model(build["model"], build["model_params"], targets=build["targets"],
                            **build["input_size"])  # fmt: skip
        try:
            model.load_state_dict(run.load_weights(device))
        except RuntimeError:
            raise RhomlError(f"{run.weights_path}: weights do not match the manifest") from None
        return EnergyTermsPredictor(model.to(device).eval(), build, device)


def datasets(data, d: TermsDataConfig, voxel: dict, parts: Sequence[str] = ("train", "val",
             "test"), progress: bool = False) -> tuple[dict, Any, dict, dict]:  # fmt: skip
    """Datasets of ``data``'s ``parts`` for ``d.representation`` → (datasets, collate_fn or
    None, the model's input-size argument, a description for the manifest)."""
    from rhoml.families import energy_terms_data as etd

    rep = d.representation
    idx = {p: data.indices[p] for p in parts}
    y = {p: data.targets[p].astype(np.float32) for p in parts}
    aug = {p: d.augment and p == "train" for p in parts}
    if rep in ("points", "atoms"):
        if rep == "points":
            clouds = {p: etd.density_clouds(data.store, idx[p], d.n_points) for p in parts}
        else:
            clouds = {p: etd.atom_clouds(data.store, idx[p], d.elements) for p in parts}
        n_feat = next(c for c in clouds.values() if c)[0].shape[1]
        ds = {p: etd.PointClouds(clouds[p], y[p], augment=aug[p]) for p in parts}
        desc = {"features": ["x", "y", "z"] + (["ln(rho/threshold)"] if rep == "points"
                                              else [f"is_{e}" for e in d.elements])}  # fmt: skip
        return ds, etd.collate_points, {"in_features": n_feat}, desc
    if rep == "voxels":
        from rhoml.represent.voxel import VoxelSpec
        from rhoml.represent.voxel_data import VoxelDataset, cache_poses, load_poses
        from rhoml.store.sqlite_store import Store

        spec = VoxelSpec.from_dict(voxel)
        with Store.open(data.store) as st:
            every = [i for p in parts for i in idx[p]]
            key = cache_poses(st, every, spec, method=data.method, engine="dft",
                              engine_options={"record": data.method}, n_poses=d.n_poses,
                              progress=progress)  # fmt: skip
            vox = {p: load_poses(st, idx[p], key, d.n_poses) for p in parts}
        ds = {p: VoxelDataset(vox[p], y[p], augment=aug[p]) for p in parts}
        desc = {"voxel_spec": spec.to_dict(), "channel_names": spec.channel_names, "array": key}
        return ds, None, {"in_channels": spec.n_channels}, desc
    from rhoml.families.edg_data import StoreImages, render_settings
    from rhoml.models.image.vit_mae import prepare_images
    from rhoml.store.sqlite_store import Store

    every = [i for p in parts for i in idx[p]]
    etd._missing(
        data.store,
        every,
        d.images,
        f"rhoml render {data.store} --preset edg-density --method {data.method}",
    )
    with Store.open(data.store, readonly=True) as st:
        settings = render_settings(st, every, d.images)
    size = d.image_size or None

    def transform(a):
        return prepare_images(a, size)[0]

    ds = {p: StoreImages(data.store, idx[p], d.images, transform, extras={"y": y[p]})
          for p in parts}  # fmt: skip
    desc = {"images": d.images, "render": settings, "image_size": d.image_size}
    return ds, None, {"in_channels": int(settings["shape"][-1])}, desc


def train_on_terms(data, d: TermsDataConfig, voxel: dict, model_name: str, model_params: dict,
                   train_cfg: TrainConfig, run: RunFolder, *, progress: bool = True,
                   config: dict | None = None) -> dict:  # fmt: skip
    """Train one model on ``data``'s training part, select the epoch on validation, evaluate on
    the test part and write the run folder; returns the manifest's metrics (test RMSE and MAE
    per term in ``data.unit``, the training-mean predictor's, timings)."""
    import torch

    from rhoml.models.registry import build_model
    from rhoml.train.loop import Objective, fit, predict, seed_everything
    from rhoml.train.metrics import confidence_intervals, regression_report

    t_data = time.perf_counter()
    ds, collate, input_size, desc = datasets(data, d, voxel, progress=progress)
    t_data = time.perf_counter() - t_data
    names = list(data.terms)
    seed_everything(train_cfg.seed)
    model = build_model(model_name, model_params, targets=names, **input_size)
    y = data.targets["train"]
    model.set_target_stats(y.mean(0), y.std(0) if len(y) > 1 else np.ones(y.shape[1]))
    std = model.target_std
    loss = train_cfg.loss

    def criterion(p, t):
        z = (p - t) / std.to(p.device)
        return z.abs().mean() if loss == "l1" else (z * z).mean()

    obj = Objective(lambda b: b["y"], criterion, lambda p, t: regression_report(p, t, names))
    res = fit(model, ds["train"], ds["val"], obj, train_cfg, run.checkpoints(),
              collate_fn=collate, progress=progress)  # fmt: skip
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    pred, true = predict(model, ds["test"], batch_size=train_cfg.eval_batch_size or 64,
                         device=device, collate_fn=collate, targets=lambda b: b["y"])  # fmt: skip
    test_seconds = time.perf_counter() - t0
    mean = np.broadcast_to(y.mean(0), true.shape)
    val_pred, val_true = predict(model, ds["val"], batch_size=train_cfg.eval_batch_size or 64,
                                 device=device, collate_fn=collate,
                                 targets=lambda b: b["y"])  # fmt: skip
    metrics = {
        "test": regression_report(pred, true, names),
        "test_ci95": confidence_intervals(pred, true, names, seed=train_cfg.seed),
        "best_val": regression_report(val_pred, val_true, names),
        "mean_predictor_test": regression_report(mean, true, names),
        "n_train": len(y), "n_val": len(val_true), "n_test": len(true),
        "test_ids": data_fingerprint(data.ids["test"]),
        "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
        "train_seconds": res.seconds, "data_seconds": t_data,
        "train_samples_per_second": res.samples_per_second,
        "test_molecules_per_second": len(true) / test_seconds if test_seconds else None,
        "parameters": sum(p.numel() for p in model.parameters()), "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    build = {
        "model": model_name, "model_params": model_params, "targets": names,
        "edg_labels": [EDG_LABELS[t] for t in names], "units": [data.unit] * len(names),
        "representation": d.representation, "input_size": input_size, "store": str(data.store),
        "method": data.method, "split": data.info.get("split"), "n_points": d.n_points,
        "elements": d.elements, "seed": train_cfg.seed, **desc,
    }  # fmt: skip
    fingerprint = data_fingerprint(
        [
            d.representation,
            data.method,
            *names,
            *(i for p in ("train", "val", "test") for i in data.ids[p]),
            *(data.targets[p] for p in ("train", "val", "test")),
        ]
    )
    inputs = {"positions": "angstrom", "numbers": "dimensionless"}
    if d.representation != "atoms":
        inputs["density"] = f"e/bohr^3 (DFT record {data.method})"
    run.finish(
        EnergyTermsFamily.name, model.state_dict(), inputs=inputs,
        outputs=dict.fromkeys(names, data.unit), build=build, metrics=metrics,
        data=fingerprint, config=config,
        extra={"split_ids": {p: data.ids[p] for p in ("train", "val", "test")}},
    )  # fmt: skip
    return metrics


@dataclass
class EnergyTermsPredictor:
    """A trained energy-term model. ``predict`` takes molecules for atom clouds; the density
    representations need a store with the molecules' DFT records and representations:
    :meth:`predict_store`."""

    model: Any
    build: dict
    device: str = "cpu"
    family: str = EnergyTermsFamily.name

    @property
    def outputs(self) -> dict[str, str]:
        return dict(zip(self.build["targets"], self.build["units"], strict=True))

    def _rows(self, ids, ds, collate) -> list[dict]:
        from rhoml.train.loop import predict

        pred, _ = predict(self.model, ds, batch_size=32, device=self.device, collate_fn=collate)
        return [{"id": i, **{t: float(v) for t, v in zip(self.build["targets"], row,
                                                          strict=True)}}
                for i, row in zip(ids, pred, strict=True)]  # fmt: skip

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        """One row per molecule (``id`` and one value per term); atom-cloud models only."""
        from rhoml.families.energy_terms_data import PointClouds, collate_points

        if self.build["representation"] != "atoms":
            raise InputError(
                f"a {self.build['representation']} energy-term model reads DFT densities: "
                "predict from a store with EnergyTermsPredictor.predict_store"
            )
        cols = {e: i for i, e in enumerate(self.build["elements"])}
        clouds = []
        for m in molecules:
            from rhoml.elements import symbol

            onehot = np.zeros((len(m.numbers), len(cols)))
            for a, z in enumerate(m.numbers):
                if symbol(int(z)) not in cols:
                    raise InputError(f"{m.id}: element {symbol(int(z))} is not one the model "
                                     f"knows ({', '.join(cols)})")  # fmt: skip
                onehot[a, cols[symbol(int(z))]] = 1.0
            pos = np.asarray(m.positions, float)
            clouds.append(np.column_stack([pos - pos.mean(0), onehot]).astype(np.float32))
        return self._rows([m.id for m in molecules], PointClouds(clouds), collate_points)

    def predict_store(self, store, indices: Sequence[int] | None = None) -> list[dict]:
        """Rows for molecules ``indices`` (default every molecule with an ok record of the
        training DFT key) of ``store``, read with the representation settings of training."""
        from rhoml.families.energy_terms_data import TermsData
        from rhoml.store.sqlite_store import Store

        b = self.build
        with Store.open(store, readonly=True) as st:
            ok = st.finished(b["method"], include_failed=False)
            order = sorted(ok) if indices is None else [int(i) for i in indices]
            lacking = [i for i in order if i not in ok]
            if lacking:
                raise InputError(f"{st.path}: molecule {lacking[0]} has no ok {b['method']!r} "
                                 "record")  # fmt: skip
            ids = [st.molecule(i).id for i in order]
        data = TermsData(Path(store), b["method"], b["targets"], b["units"][0],
                         {"test": order}, {"test": ids},
                         {"test": np.zeros((len(order), len(b["targets"])))})  # fmt: skip
        d = TermsDataConfig(store=str(store), method=b["method"], terms=b["targets"],
                            representation=b["representation"], n_points=b.get("n_points", 0),
                            elements=b.get("elements", ["H", "C", "N", "O", "F"]),
                            images=b.get("images", IMAGES), image_size=b.get("image_size", 0),
                            augment=False)  # fmt: skip
        ds, collate, _, _ = datasets(data, d, b.get("voxel_spec") or DEFAULT_VOXEL, ("test",))
        return self._rows(ids, ds["test"], collate)

"""The ImageED family (EDG stage 1): a masked autoencoder pre-trained on the 6-view RGB-D density
images of a store (:mod:`rhoml.models.image.vit_mae`); its frozen encoder gives each molecule an
ED feature (token mean, 768-d for ViT-B).

Config sections: ``[data]`` (:class:`ImageEDDataConfig`: the store and its image array, the
seeded validation split), ``[model]`` (``name`` = a ``vit-mae`` preset of
:mod:`rhoml.models.registry`, e.g. ``vit-b16-224`` or ``vit-s-112``, plus overrides of
:class:`~rhoml.models.image.vit_mae.ViTMAEConfig`) and ``[train]``
(:class:`ImageEDTrainConfig`: the shared :class:`~rhoml.train.config.TrainConfig` with the MAE
recipe as defaults). Images stored at another size than the model's are resized on load.

The validation loss uses a fixed mask per molecule (seeded by its store index), so epochs are
compared on the same masked patches; training masks are random.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.config import ConfigError, option
from rhoml.errors import RhomlError
from rhoml.families.edg_data import StoreImages, image_indices, render_settings, split
from rhoml.molecule import Molecule
from rhoml.train.config import TrainConfig
from rhoml.train.run_folder import RunFolder, data_fingerprint

__all__ = ["ImageEDDataConfig", "ImageEDFamily", "ImageEDPredictor", "ImageEDTrainConfig"]

DENSITY_IMAGES = "edg_density_views"


@dataclass
class ImageEDDataConfig:
    """``[data]``: ``store``: a store with rendered density images (``rhoml render STORE
    --preset edg-density``); ``images``: their array name; ``val_fraction``: molecules held out
    for validation (seeded by ``split_seed``); ``limit``: use the first N molecules with images
    (0 = all); ``eval_seed``: seeds the fixed validation masks."""

    store: str = option(path=True, must_exist=True)
    images: str = DENSITY_IMAGES
    val_fraction: float = option(0.05, min=0.0, max=0.5, exclusive_min=True)
    split_seed: int = option(0, min=0)
    limit: int = option(0, min=0)
    eval_seed: int = option(0, min=0)


@dataclass
class ImageEDTrainConfig(TrainConfig):
    """:class:`~rhoml.train.config.TrainConfig` with EDG's ImageED recipe as defaults: AdamW
    (betas 0.9, 0.95, weight decay 0.05), lr 1.5e-4 at batch 64 for 20 epochs (the EDG paper),
    cosine schedule with a 1-epoch linear warmup, no early stopping, no BatchNorm."""

    epochs: int = option(20, min=1)
    batch_size: int = option(64, min=1)
    lr: float = option(1.5e-4, min=0.0, exclusive_min=True)
    weight_decay: float = option(0.05, min=0.0)
    optimizer: str = option("adamw", choices=("adamw", "adam", "sgd"))
    scheduler: str = option("cosine", choices=("plateau", "cosine", "none"))
    patience: int = option(0, min=0)
    bn_recalibration: int = option(0, min=0)
    betas: list[float] = option(default_factory=lambda: [0.9, 0.95], min=0.0, max=1.0)
    warmup_epochs: float = option(1.0, min=0.0)


def model_section(model: dict, where: str, kind: str, default: str) -> tuple[str, dict]:
    """``[model]`` → (preset or model name, overrides); checks that it names a ``kind`` model
    and that the overrides are parameters of its config."""
    from rhoml.models.registry import PRESETS, check_model_section

    name = model.get("name", default)
    base = PRESETS[name][0] if isinstance(name, str) and name in PRESETS else name
    if isinstance(name, str) and base != kind:
        names = [n for n, (b, _) in PRESETS.items() if b == kind]
        raise ConfigError(f"{where}: [model].name {name!r} is not a {kind} model; choose from "
                          f"{', '.join([kind, *names])}")  # fmt: skip
    name, params, _ = check_model_section(model, where, default)
    return name, params


def _objective_module(mae, eval_seed: int):
    """The ``nn.Module`` the shared loop trains: ``batch`` → (B, 2) per-molecule (L_MP, L_RP).
    In eval mode every molecule gets a fixed mask seeded by ``eval_seed`` and its store index."""
    import torch
    from torch import nn

    class MAEObjective(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mae = mae

        def forward(self, batch: dict) -> torch.Tensor:
            images = batch["images"]
            noise = None
            if not self.training:
                noise = fixed_noise(batch["index"], self.mae.config.n_tokens, eval_seed)
                noise = noise.to(images.device)
            out = self.mae(images, noise)
            return torch.stack([out.loss_mask, out.loss_recovery], dim=1)

    return MAEObjective()


def mean_image_mse(mae, train, val, max_train: int = 2000) -> float:
    """The baseline L_MP and L_RP must beat: per-patch MSE (in the loss's target space) on the
    validation molecules of predicting every patch as its mean over (up to ``max_train``)
    training molecules."""
    import torch

    with torch.no_grad():
        n = min(len(train), max_train)
        total = sum(mae.target(train[i]["images"][None])[0] for i in range(n)) / n
        errs = [((mae.target(val[i]["images"][None])[0] - total) ** 2).mean()
                for i in range(len(val))]  # fmt: skip
    return float(torch.stack(errs).mean())


def fixed_noise(indices, n_tokens: int, seed: int):
    """Masking noise (B, N) that depends only on each molecule's index and ``seed``."""
    import torch

    rows = []
    for idx in indices.tolist():
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(idx))
        rows.append(torch.rand(n_tokens, generator=g))
    return torch.stack(rows)


class ImageEDFamily:
    """ImageED: ``rhoml train`` config sections and pre-training, loading as a feature
    extractor."""

    name = "imageed"
    sections: dict[str, type | None] = {
        "data": ImageEDDataConfig,
        "model": None,
        "train": ImageEDTrainConfig,
    }

    def check_config(self, sections: dict, where: str) -> None:
        name, params = model_section(sections["model"], where, "vit-mae", "vit-s-112")
        sections["model"] = {"name": name, **params}

    def train(self, config: dict, run: RunFolder, *, progress: bool = True) -> dict:
        """Pre-train on the store's density images; weights, manifest and metrics into ``run``."""
        import torch

        from rhoml.models.image.vit_mae import prepare_images
        from rhoml.models.registry import build_model
        from rhoml.store.sqlite_store import Store
        from rhoml.train.distributed import is_main_process
        from rhoml.train.loop import Objective, fit, seed_everything

        self.check_config(config, str(run.path))
        d: ImageEDDataConfig = config["data"]
        tc: ImageEDTrainConfig = config["train"]
        params = dict(config["model"])
        name = params.pop("name")
        with Store.open(d.store, readonly=True) as st:
            indices = image_indices(st, d.images, d.limit)
            settings = render_settings(st, indices, d.images)
            ids = [st.molecule(i).id for i in indices]
            density_engine = _density_engine(st, indices[0], settings.get("method"))
        seed_everything(tc.seed)
        mae = build_model(name, params)
        cfg = mae.config
        v, h, w, c = settings["shape"]
        if (v, c) != (cfg.n_views, cfg.in_chans):
            raise RhomlError(
                f"{d.store}: {d.images} has {v} views of {c} channels; the model takes "
                f"{cfg.n_views} views of {cfg.in_chans}"
            )
        train_idx, val_idx = split(indices, d.val_fraction, d.split_seed)

        def transform(a):
            return prepare_images(a, cfg.image_size)[0]

        train = StoreImages(d.store, train_idx, d.images, transform)
        val = StoreImages(d.store, val_idx, d.images, transform)
        wm, wr = cfg.mask_loss_weight, cfg.recovery_loss_weight

        def criterion(pred, _true):
            return wm * pred[:, 0].mean() + wr * pred[:, 1].mean()

        def metrics(pred, _true):
            return {"val_mask_loss": float(pred[:, 0].mean()),
                    "val_recovery_loss": float(pred[:, 1].mean())}  # fmt: skip

        obj = Objective(lambda b: b["index"], criterion, metrics)
        module = _objective_module(mae, d.eval_seed)
        res = fit(module, train, val, obj, tc, run.checkpoints(), progress=progress)
        best = next((r for r in res.history if r["epoch"] == res.best_epoch), {})
        device = next(mae.parameters()).device
        metrics_out = {
            "val_loss": res.best_value, "val_mask_loss": best.get("val_mask_loss"),
            "val_recovery_loss": best.get("val_recovery_loss"),
            "val_patch_mse_of_the_mean_image": mean_image_mse(mae, train, val),
            "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run, "train_seconds": res.seconds,
            "train_molecules_per_second": res.samples_per_second,
            "train_images_per_second": res.samples_per_second * cfg.n_views,
            "n_train": len(train_idx), "n_val": len(val_idx),
            "parameters": sum(p.numel() for p in mae.parameters()), "device": str(device),
            "torch_threads": torch.get_num_threads(),
        }  # fmt: skip
        if not is_main_process():
            return metrics_out
        build = {
            "model": name, "model_params": params, "model_config": dataclasses.asdict(cfg),
            "images": d.images, "image_shape": [v, h, w, c], "render": settings["config"],
            "render_preset": settings.get("preset"), "density_method": settings.get("method"),
            "esp_method": settings.get("esp_method"),
            "density_engine": density_engine, "feature_dim": cfg.embed_dim,
            "feature": "mean of the encoder's patch tokens (CLS excluded), no masking",
            "normalisation": "RGB: ImageNet mean/std after /255; depth: /255",
            "seed": tc.seed,
        }  # fmt: skip
        fingerprint = data_fingerprint([d.images, *ids, str(sorted(settings["config"].items())),
                                        np.asarray(train_idx), np.asarray(val_idx)])  # fmt: skip
        run.finish(
            self.name, mae.state_dict(),
            inputs={"images": f"uint8 (V={v}, H, W, 4) RGB-D density views ({d.images})"},
            outputs={"ed_features": f"dimensionless ({cfg.embed_dim},)"},
            build=build, metrics=metrics_out, data=fingerprint, config=config,
            extra={"store": str(Path(d.store).resolve())},
        )  # fmt: skip
        return metrics_out

    def load(self, run: RunFolder, device: str = "cpu") -> ImageEDPredictor:
        from rhoml.models.image.vit_mae import ViTMAE, ViTMAEConfig

        manifest = run.read_manifest()
        build = manifest["build"]
        model = ViTMAE(ViTMAEConfig(**build["model_config"]))
        try:
            model.load_state_dict(run.load_weights(device))
        except RuntimeError:
            raise RhomlError(f"{run.weights_path}: weights do not match the manifest") from None
        model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return ImageEDPredictor(model, build, device, path=run.path)


def _density_engine(store, idx: int, method: str | None) -> dict | None:
    """Engine and level of the density record the images were rendered from."""
    try:
        rho = store.density(idx, method)
    except (KeyError, RhomlError):
        return None
    return {"engine": rho.engine, "level": rho.level}


@dataclass
class ImageEDPredictor:
    """A trained ImageED: frozen encoder (eval mode, no gradients) → ED features.

    ``features(images)`` for stored image stacks, ``features_from_store(store, indices)`` for a
    store's molecules, ``predict(molecules)`` computes densities with the engine the training
    images came from (xTB or promolecule), renders them with the training settings and encodes
    them."""

    model: Any
    build: dict
    device: str = "cpu"
    path: Path | None = None
    family: str = ImageEDFamily.name

    @property
    def outputs(self) -> dict[str, str]:
        return {"ed_features": "dimensionless"}

    @property
    def feature_dim(self) -> int:
        return int(self.build["feature_dim"])

    def features(self, images, batch_size: int = 32) -> np.ndarray:
        """ED features float32 (B, D) of uint8 image stacks (B, V, H, W, 4) (any size: resized
        to the model's)."""
        import torch

        from rhoml.models.image.vit_mae import prepare_images

        images = np.asarray(images)
        if images.ndim == 4:
            images = images[None]
        out = []
        size = self.model.config.image_size
        with torch.no_grad():
            for s in range(0, len(images), batch_size):
                x = prepare_images(images[s : s + batch_size], size).to(self.device)
                out.append(self.model.features(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.feature_dim), np.float32)

    def features_from_store(self, store, indices: Sequence[int], name: str | None = None,
                            batch_size: int = 32) -> np.ndarray:  # fmt: skip
        """ED features (N, D) of molecules ``indices`` of an open store, from their image array
        ``name`` (default: the one the model was trained on), which must have been rendered
        with the training settings."""
        from rhoml.families.edg_data import settings_difference

        name = name or self.build["images"]
        settings = render_settings(store, indices, name)
        key = settings_difference(settings["config"], self.build["render"])
        if key:
            raise RhomlError(
                f"{store.path}: {name} was rendered with other settings than the ImageED run "
                f"{self.path or ''} was trained on ({key} differs)"
            )
        out = []
        for s in range(0, len(indices), batch_size):
            chunk = np.stack([store.get_array(i, name) for i in indices[s : s + batch_size]])
            out.append(self.features(chunk, batch_size))
        return np.concatenate(out) if out else np.zeros((0, self.feature_dim), np.float32)

    def render(self, molecules: Sequence[Molecule]) -> np.ndarray:
        """Density images (B, V, H, W, 4) of molecules, computed as in training: density from
        the training images' engine (and the ESP from the same density fit when the training
        images took it from one), rendered with their settings."""
        from rhoml.density import compute
        from rhoml.represent.render import RenderConfig, fields_for, render

        engine = (self.build.get("density_engine") or {}).get("engine")
        if engine not in ("xtb", "promolecule"):
            raise RhomlError(
                f"{self.path or 'ImageED'}: trained on {engine or 'unknown'} densities; compute "
                "them into a store, render it (rhoml render) and use features_from_store"
            )
        cfg = RenderConfig.from_dict(self.build["render"])
        esp = self.build.get("esp_method") or ""
        auxbasis = esp.split("+fit:", 1)[1] if "+fit:" in esp else None
        fields = []
        for m in molecules:
            rho = compute(m, engine)
            esp_density = None
            if auxbasis:  # the training images took the ESP from a density fit
                from rhoml.density.fit import fit_density

                esp_density = fit_density(rho, auxbasis)
            fields.append(fields_for(rho, cfg, esp_density=esp_density))
        return render(fields, cfg)

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        """One row per molecule: ``id`` and ``ed_features`` (D,)."""
        feats = self.features(self.render(molecules)) if molecules else []
        return [{"id": m.id, "ed_features": f} for m, f in zip(molecules, feats, strict=True)]

"""The ED-aware teacher family (EDG stage 2): ResNet-18 on the 4 structural views of a molecule,
view-mean pooled to 512-d, and the ED predictor 512 → 256 → D_ED, trained together with an L1
loss to the ED features that a frozen ImageED run gives for the same molecules' density images
(:mod:`rhoml.models.image.resnet`). After training both parts are frozen: the loaded teacher is
in eval mode with ``requires_grad = False`` everywhere (what the distillation stage uses).

Config sections: ``[data]`` (:class:`TeacherDataConfig`: the store with structural and density
images, the ImageED run), ``[model]`` (:class:`TeacherModelConfig`), ``[train]``
(:class:`TeacherTrainConfig`: the shared :class:`~rhoml.train.config.TrainConfig` with EDG's
teacher recipe as defaults).

The ImageED targets are computed once per training (and once per resume) with the frozen
ImageED encoder in eval mode, before the loop starts; the ImageED weights are never optimised.
The backbone starts from scratch unless ``[model].pretrained`` names a torchvision-format
ResNet-18 checkpoint (EDG starts from ImageNet weights; none are downloaded here).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.config import option
from rhoml.errors import RhomlError
from rhoml.families.edg_data import (
    StoreImages,
    image_indices,
    render_settings,
    settings_difference,
    split,
)
from rhoml.molecule import Molecule
from rhoml.train.config import TrainConfig
from rhoml.train.run_folder import RunFolder, data_fingerprint

__all__ = [
    "EDTeacherFamily",
    "EDTeacherPredictor",
    "TeacherDataConfig",
    "TeacherModelConfig",
    "TeacherTrainConfig",
    "load_ed_predictor",
    "weights_fingerprint",
]

STRUCTURE_IMAGES = "edg_structure_views"


@dataclass
class TeacherDataConfig:
    """``[data]``: ``store``: a store with structural images (``rhoml render STORE --preset
    edg-structure``) and density images; ``imageed_run``: the ImageED run folder whose frozen
    encoder gives the targets; ``structure_images`` / ``density_images``: array names
    (``density_images`` empty = the ImageED run's); ``val_fraction``, ``split_seed``: seeded
    validation split (EDG: 5 %); ``limit``: first N molecules (0 = all); ``augment``: EDG's
    training augmentation (each with probability 0.2 per view: rotation by a uniform angle,
    Gaussian blur 3×3 with σ ∈ [0.1, 2]; white fill)."""

    store: str = option(path=True, must_exist=True)
    imageed_run: str = option(path=True, must_exist=True)
    structure_images: str = STRUCTURE_IMAGES
    density_images: str = ""
    val_fraction: float = option(0.05, min=0.0, max=0.5, exclusive_min=True)
    split_seed: int = option(0, min=0)
    limit: int = option(0, min=0)
    augment: bool = True


@dataclass
class TeacherModelConfig:
    """``[model]``: ``image_size``: pixels per side the ResNet sees (0 = as stored; stored
    images of another size are resized); ``predictor_hidden``: ED predictor width (EDG: 256);
    ``pretrained``: a torchvision-format ResNet-18 state_dict (.pth) to start from ("" = from
    scratch); ``width``: ResNet-18 base width (64 = torchvision's ResNet-18 with 512-d teacher
    features as in EDG; smaller widths give the same layout with 8·width-d features, for
    CPU-scale runs)."""

    image_size: int = option(0, min=0)
    predictor_hidden: int = option(256, min=1)
    pretrained: str = option("", path=True, must_exist=True)
    width: int = option(64, min=1)

    def __post_init__(self) -> None:
        if 0 < self.image_size < 32:
            raise ValueError(f"image_size must be 0 (as stored) or >= 32, got {self.image_size}")
        if self.pretrained and self.width != 64:
            raise ValueError(f"pretrained torchvision weights need width 64, got {self.width}")


@dataclass
class TeacherTrainConfig(TrainConfig):
    """:class:`~rhoml.train.config.TrainConfig` with EDG's teacher recipe as defaults: SGD
    (momentum 0.9, weight decay 1e-4), lr 0.005, batch 128, 50 epochs, no schedule, L1 loss,
    no early stopping."""

    epochs: int = option(50, min=1)
    batch_size: int = option(128, min=1)
    lr: float = option(0.005, min=0.0, exclusive_min=True)
    weight_decay: float = option(1e-4, min=0.0)
    optimizer: str = option("sgd", choices=("adamw", "adam", "sgd"))
    scheduler: str = option("none", choices=("plateau", "cosine", "none"))
    patience: int = option(0, min=0)


def weights_fingerprint(run_path) -> str:
    """sha256 (first 16 hex digits) of a run folder's ``model.pt``: names one trained model."""
    p = Path(run_path) / "model.pt"
    if not p.is_file():
        raise RhomlError(f"{run_path}: no model.pt (not a finished run)")
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def load_ed_predictor(run):
    """The frozen ED predictor (an :class:`~rhoml.models.students.distill.EDPredictor`, F → D)
    of an ``edg-teacher`` run folder or shipped name (e.g. ``edg-teacher-small``): what a
    distilled student maps its representation through."""
    from rhoml.models.students.distill import EDPredictor
    from rhoml.train.run_folder import resolve_run

    folder = RunFolder(resolve_run(run), writer=False)
    family = folder.read_manifest().get("family")
    if family != EDTeacherFamily.name:
        raise RhomlError(f"{run}: a {family} run, not an {EDTeacherFamily.name} run")
    try:
        edp = EDPredictor.from_state_dict(folder.load_weights("cpu"))
    except (KeyError, ValueError, RuntimeError) as exc:
        raise RhomlError(f"{folder.weights_path}: no ED predictor in it ({exc})") from None
    edp.eval()
    for p in edp.parameters():
        p.requires_grad_(False)
    return edp


def structure_transform(image_size: int | None, augment: bool):
    """uint8 (V, H, W, 3) → float32 (V, 3, S, S), ImageNet-normalised, optionally augmented
    (see :class:`TeacherDataConfig`) with torch's global random generator."""
    import torch

    from rhoml.models.image.vit_mae import normalise_rgb, prepare_images

    def transform(a):
        x = prepare_images(a, image_size, normalise=False)[0]
        if augment:
            x = torch.stack([_augment(view) for view in x])
        return normalise_rgb(x)

    return transform


def _augment(x):
    """One view (3, H, W) in 0-1: rotation (p = 0.2, white fill), Gaussian blur (p = 0.2)."""
    import torch
    import torch.nn.functional as F

    if float(torch.rand(())) < 0.2:
        angle = float(torch.rand(())) * 2.0 * math.pi
        c, s = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=x.dtype)[None]
        grid = F.affine_grid(theta, (1, *x.shape), align_corners=False)
        x = F.grid_sample(x[None] - 1.0, grid, align_corners=False)[0] + 1.0  # white outside
    if float(torch.rand(())) < 0.2:
        sigma = 0.1 + 1.9 * float(torch.rand(()))
        k = torch.exp(-((torch.arange(3, dtype=x.dtype) - 1.0) ** 2) / (2 * sigma**2))
        k = k / k.sum()
        kernel = (k[:, None] * k[None, :]).expand(x.shape[0], 1, 3, 3)
        x = F.conv2d(F.pad(x[None], (1, 1, 1, 1), mode="replicate"), kernel,
                     groups=x.shape[0])[0]  # fmt: skip
    return x


class EDTeacherFamily:
    """ED-aware teacher + ED predictor: ``rhoml train`` sections and training, loading as a
    frozen feature extractor."""

    name = "edg-teacher"
    sections: dict[str, type | None] = {
        "data": TeacherDataConfig,
        "model": TeacherModelConfig,
        "train": TeacherTrainConfig,
    }

    def check_config(self, sections: dict, where: str) -> None:
        from rhoml.config import ConfigError

        run = Path(sections["data"].imageed_run)
        if not (run / "manifest.json").is_file():
            raise ConfigError(f"{where}: [data].imageed_run {run} is not a run folder")
        family = RunFolder(run, writer=False).read_manifest().get("family")
        if family != "imageed":
            raise ConfigError(
                f"{where}: [data].imageed_run {run} is a {family} run, not an imageed run"
            )

    def train(self, config: dict, run: RunFolder, *, progress: bool = True) -> dict:
        """ImageED targets → teacher + ED predictor through the shared loop → ``run``."""
        import torch

        from rhoml.families.imageed import ImageEDFamily
        from rhoml.models.image.resnet import EDTeacher, EDTeacherConfig, load_torchvision_weights
        from rhoml.store.sqlite_store import Store
        from rhoml.train.distributed import is_main_process
        from rhoml.train.loop import Objective, fit, resolve_device, seed_everything

        self.check_config(config, str(run.path))
        d: TeacherDataConfig = config["data"]
        mc: TeacherModelConfig = config["model"]
        tc: TeacherTrainConfig = config["train"]
        device = str(resolve_device(tc.device))  # the frozen ImageED runs where training runs
        imageed = ImageEDFamily().load(RunFolder(d.imageed_run, writer=False), device)
        density_images = d.density_images or imageed.build["images"]
        t0 = time.perf_counter()
        with Store.open(d.store, readonly=True) as st:
            indices = image_indices(st, d.structure_images, d.limit, also=[density_images])
            if len(indices) < 2:
                raise RhomlError(
                    f"{d.store}: {len(indices)} molecule(s) have both {d.structure_images} and "
                    f"{density_images}; render both presets first (rhoml render)"
                )
            settings = render_settings(st, indices, d.structure_images)
            targets = imageed.features_from_store(st, indices, density_images)
            ids = [st.molecule(i).id for i in indices]
        target_seconds = time.perf_counter() - t0
        v, h, w, c = settings["shape"]
        if c != 3:
            raise RhomlError(f"{d.store}: {d.structure_images} has {c} channels, expected RGB")
        image_size = mc.image_size or h
        seed_everything(tc.seed)
        model = EDTeacher(
            EDTeacherConfig(
                ed_dim=imageed.feature_dim,
                predictor_hidden=mc.predictor_hidden,
                n_views=v,
                width=mc.width,
            )
        )
        init = {"weights": "from scratch (no ImageNet weights)"}
        if mc.pretrained:
            loaded = load_torchvision_weights(model.backbone, mc.pretrained)
            init = {
                "weights": "torchvision-format ResNet-18 checkpoint",
                **loaded,
                "sha256": hashlib.sha256(Path(mc.pretrained).read_bytes()).hexdigest()[:16],
            }
        pos = {idx: k for k, idx in enumerate(indices)}
        train_idx, val_idx = split(indices, d.val_fraction, d.split_seed)
        rows = lambda part: targets[[pos[i] for i in part]]  # noqa: E731
        train = StoreImages(d.store, train_idx, d.structure_images,
                            structure_transform(image_size, d.augment),
                            {"target": rows(train_idx)})  # fmt: skip
        val = StoreImages(
            d.store,
            val_idx,
            d.structure_images,
            structure_transform(image_size, False),
            {"target": rows(val_idx)},
        )

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.teacher = model

            def forward(self, batch):
                return self.teacher(batch["images"])

        def criterion(pred, true):
            return (pred - true).abs().mean()

        def metrics(pred, true):
            cos = (pred * true).sum(1) / (np.linalg.norm(pred, axis=1)
                                          * np.linalg.norm(true, axis=1) + 1e-12)  # fmt: skip
            return {"val_mae": float(np.abs(pred - true).mean()), "val_cosine": float(cos.mean())}

        obj = Objective(lambda b: b["target"], criterion, metrics)
        res = fit(Wrapped(), train, val, obj, tc, run.checkpoints(), progress=progress)
        best = next((r for r in res.history if r["epoch"] == res.best_epoch), {})
        device = next(model.parameters()).device
        # the baseline a teacher must beat: predicting the mean training target
        mean_mae = float(np.abs(rows(val_idx) - rows(train_idx).mean(0)).mean())
        metrics_out = {
            "val_l1": res.best_value, "val_cosine": best.get("val_cosine"),
            "val_l1_predicting_the_mean": mean_mae, "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run, "train_seconds": res.seconds,
            "train_molecules_per_second": res.samples_per_second,
            "imageed_target_seconds": target_seconds, "n_train": len(train_idx),
            "n_val": len(val_idx), "parameters": sum(p.numel() for p in model.parameters()),
            "device": str(device), "torch_threads": torch.get_num_threads(),
        }  # fmt: skip
        if not is_main_process():
            return metrics_out
        imageed_path = Path(d.imageed_run).resolve()
        build = {
            "model": "edg-teacher-resnet18" + (f"-w{mc.width}" if mc.width != 64 else ""),
            "ed_dim": imageed.feature_dim,
            "predictor_hidden": mc.predictor_hidden, "n_views": v, "image_size": image_size,
            "images": d.structure_images, "image_shape": [v, h, w, c],
            "render": settings["config"], "render_preset": settings.get("preset"),
            "feature_dim": 8 * mc.width, "width": mc.width, "initialisation": init,
            "imageed": {"run": str(imageed_path), "weights": weights_fingerprint(imageed_path),
                        "images": density_images, "render": imageed.build["render"]},
            "normalisation": "RGB: ImageNet mean/std after /255", "augment": d.augment,
            "seed": tc.seed,
        }  # fmt: skip
        fingerprint = data_fingerprint([d.structure_images, density_images, *ids,
                                        np.asarray(train_idx), np.asarray(val_idx),
                                        targets])  # fmt: skip
        run.finish(
            self.name, model.state_dict(),
            inputs={"images": f"uint8 (V={v}, H, W, 3) structural views ({d.structure_images})"},
            outputs={"teacher_features": f"dimensionless ({8 * mc.width},)",
                     "ed_features": f"dimensionless ({imageed.feature_dim},)"},
            build=build, metrics=metrics_out, data=fingerprint, config=config,
            extra={"store": str(Path(d.store).resolve())},
        )  # fmt: skip
        return metrics_out

    def load(self, run: RunFolder, device: str = "cpu") -> EDTeacherPredictor:
        from rhoml.models.image.resnet import EDTeacher, EDTeacherConfig

        build = run.read_manifest()["build"]
        model = EDTeacher(
            EDTeacherConfig(
                ed_dim=build["ed_dim"],
                n_views=build["n_views"],
                predictor_hidden=build["predictor_hidden"],
                width=build.get("width", 64),
            )
        )
        try:
            model.load_state_dict(run.load_weights(device))
        except RuntimeError:
            raise RhomlError(f"{run.weights_path}: weights do not match the manifest") from None
        return EDTeacherPredictor(model.to(device).freeze(), build, device, path=run.path)


@dataclass
class EDTeacherPredictor:
    """A trained, frozen ED-aware teacher. ``features(views)`` → (teacher features (B, F), ED
    features (B, D)) for stored uint8 structural views (B, V, H, W, 3); ``predict(molecules)``
    renders the structural views with the training settings first. ``model.predictor`` is the
    frozen ED predictor the distillation stage maps student features through."""

    model: Any
    build: dict
    device: str = "cpu"
    path: Path | None = None
    family: str = EDTeacherFamily.name

    @property
    def outputs(self) -> dict[str, str]:
        return {"teacher_features": "dimensionless", "ed_features": "dimensionless"}

    @property
    def feature_dim(self) -> int:
        return int(self.build["feature_dim"])

    @property
    def ed_dim(self) -> int:
        return int(self.build["ed_dim"])

    def features(self, views, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(teacher features float32 (B, F), F = 512 at the standard width; ED features
        float32 (B, D)) of uint8 structural views (B, V, H, W, 3), resized to the training size
        when they differ."""
        import torch

        views = np.asarray(views)
        if views.ndim == 4:
            views = views[None]
        transform = structure_transform(self.build["image_size"], augment=False)
        feats, eds = [], []
        with torch.no_grad():
            for s in range(0, len(views), batch_size):
                x = torch.stack([transform(a) for a in views[s : s + batch_size]])
                f = self.model.teacher_features(x.to(self.device))
                feats.append(f.float().cpu().numpy())
                eds.append(self.model.predictor(f).float().cpu().numpy())
        if not feats:
            return (np.zeros((0, self.feature_dim), np.float32),
                    np.zeros((0, self.ed_dim), np.float32))  # fmt: skip
        return np.concatenate(feats), np.concatenate(eds)

    def render(self, molecules: Sequence[Molecule]) -> np.ndarray:
        """Structural views (B, V, H, W, 3) rendered with the training settings."""
        from rhoml.represent.render import RenderConfig, render

        return render(list(molecules), RenderConfig.from_dict(self.build["render"]))

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        """One row per molecule: ``id``, ``teacher_features`` (F,), ``ed_features`` (D,)."""
        if not molecules:
            return []
        feats, eds = self.features(self.render(molecules))
        return [{"id": m.id, "teacher_features": f, "ed_features": e}
                for m, f, e in zip(molecules, feats, eds, strict=True)]  # fmt: skip

    def check_settings(self, settings: dict, where: str) -> None:
        """Raise :class:`RhomlError` when structural images were rendered with ``settings``
        other than the teacher's training settings."""
        key = settings_difference(settings, self.build["render"])
        if key:
            raise RhomlError(
                f"{where}: rendered with other settings than the teacher {self.path or ''} was "
                f"trained on ({key} differs: {settings.get(key)!r} vs "
                f"{self.build['render'].get(key)!r})"
            )

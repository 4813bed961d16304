"""A small registry of models: name → (module, class), each with a strict config dataclass.

A model class declares ``Config`` (a dataclass of its hyper-parameters) and is built by
:func:`build_model` from a plain dict (a config file section): unknown keys are rejected, types
are checked. Presets are named dicts of overrides (``PRESETS``). New models are added by
adding a line to :data:`MODELS` (or calling :func:`register` at import time of their module).
"""

from __future__ import annotations

from typing import Any

from rhoml.config import ConfigError, lookup, strict_dataclass

__all__ = ["MODELS", "PRESETS", "ConfigError", "build_model", "model_class", "register"]

#: model name -> "module:Class"
MODELS: dict[str, str] = {
    "resnet3d": "rhoml.models.voxel_cnn:ResNet3D",
    "schnet": "rhoml.models.students.schnet:SchNetStudent",
    "visnet": "rhoml.models.students.visnet:ViSNetStudent",
    "painn": "rhoml.models.students.painn:PaiNNStudent",
    "egnn": "rhoml.models.students.egnn:EGNNStudent",
    "vit-mae": "rhoml.models.image.vit_mae:ViTMAE",
    "ed-teacher": "rhoml.models.image.resnet:EDTeacher",
    "pointnet": "rhoml.models.pointnet:PointNet",
    "resnet18-views": "rhoml.models.image.views:ViewResNet18",
}
#: preset name -> (model name, overrides of its Config)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    # CPU-scale study model: ~0.1 M parameters at 16³
    "resnet3d-tiny": ("resnet3d", {"width": 8, "depth": [1, 1, 1]}),
    "resnet3d-small": ("resnet3d", {"width": 16, "depth": [1, 1, 1]}),
    # ResNet-18 layout (2,2,2,2 basic blocks, 64-512 channels), in 3D
    "resnet3d-18": ("resnet3d", {"width": 64, "depth": [2, 2, 2, 2]}),
    # geometry students: EDG's settings (Xiang et al. 2025, from Geom3D and ViSNet's rMD17 file)
    "schnet-edg": (
        "schnet",
        {
            "hidden_channels": 128,
            "num_filters": 128,
            "num_interactions": 6,
            "num_gaussians": 51,
            "cutoff": 10.0,
        },
    ),
    "egnn-edg": ("egnn", {"hidden_channels": 128, "num_layers": 7, "cutoff": 5.0}),
    "visnet-edg": (
        "visnet",
        {"lmax": 2, "hidden_channels": 256, "num_layers": 9, "num_rbf": 32, "cutoff": 5.0},
    ),
    # PaiNN paper (Schütt et al. 2021): 128 channels, 3 interactions, 20 radial functions, 5 Å
    "painn-paper": (
        "painn",
        {"hidden_channels": 128, "num_interactions": 3, "num_rbf": 20, "cutoff": 5.0},
    ),
    # CPU-scale students (seconds per epoch on a few hundred small molecules)
    "schnet-small": (
        "schnet",
        {
            "hidden_channels": 64,
            "num_filters": 64,
            "num_interactions": 3,
            "num_gaussians": 25,
            "cutoff": 5.0,
        },
    ),
    "painn-small": ("painn", {"hidden_channels": 64, "num_interactions": 3, "cutoff": 5.0}),
    "egnn-small": ("egnn", {"hidden_channels": 64, "num_layers": 4, "cutoff": 5.0}),
    "visnet-small": (
        "visnet",
        {
            "lmax": 1,
            "hidden_channels": 64,
            "num_layers": 3,
            "num_heads": 8,
            "num_rbf": 16,
            "cutoff": 5.0,
        },
    ),
    # ImageED (EDG): ViT-B/16 MAE over 6 RGB-D views of 224 px (encoder 768/12/12, decoder
    # 512/8/16): 1176 tokens, ~111 M parameters
    "vit-b16-224": ("vit-mae", {}),
    # CPU scale: 112 px, 16 px patches (294 tokens), encoder 192/4/3, decoder 128/2/4, ~2.5 M
    "vit-s-112": (
        "vit-mae",
        {
            "image_size": 112,
            "embed_dim": 192,
            "depth": 4,
            "num_heads": 3,
            "decoder_embed_dim": 128,
            "decoder_depth": 2,
            "decoder_num_heads": 4,
        },
    ),
    # tests and quick looks: 64 px, 16 px patches (96 tokens), encoder 64/2/2, decoder 32/1/2,
    # ~0.2 M
    "vit-t-64": (
        "vit-mae",
        {
            "image_size": 64,
            "embed_dim": 64,
            "depth": 2,
            "num_heads": 2,
            "decoder_embed_dim": 32,
            "decoder_depth": 1,
            "decoder_num_heads": 2,
        },
    ),
    # EDG's ED-aware teacher: ResNet-18 on 4 structural views + ED predictor 512→256→768
    "edg-teacher-resnet18": ("ed-teacher", {}),
    # energy-term study (EDG Table 4): PointNet on point clouds, ResNet-18 on the 6 density views
    "pointnet-small": ("pointnet", {"widths": [64, 128, 256], "head_hidden": 128}),
    "pointnet-paper": (
        "pointnet",
        {"widths": [64, 64, 64, 128, 1024], "pooling": "max", "head_hidden": 256},
    ),
    "resnet18-views-small": ("resnet18-views", {"width": 16, "head_hidden": 64}),
}


def register(name: str, target: str) -> None:
    """Register ``target`` (``"module:Class"``) as model ``name``."""
    MODELS[name] = target


def model_class(name: str):
    if name in PRESETS:
        name = PRESETS[name][0]
    return lookup(MODELS, name, "model", tuple(PRESETS))


def build_model(name: str, params: dict | None = None, **extra):
    """Model ``name`` (or a preset) with ``params`` overriding its defaults.

    ``extra`` are data-dependent arguments the caller supplies (``in_channels``, ``targets``).
    """
    params = dict(params or {})
    if name in PRESETS:
        base, overrides = PRESETS[name]
        params = {**overrides, **params}
        name = base
    cls = model_class(name)
    cfg = strict_dataclass(cls.Config, params, f"model {name}")
    return cls(cfg, **extra)


def check_model_section(table: dict, where: str, default: str) -> tuple[str, dict, type]:
    """A config's ``[model]`` table → (model or preset name, its parameter overrides, the model
    class), the overrides checked against the class's ``Config`` with the preset's values
    applied; one-line :class:`ConfigError` naming ``where`` otherwise."""
    params = dict(table)
    name = params.pop("name", default)
    if not isinstance(name, str):
        raise ConfigError(f"{where}: [model].name must be a string, got {name!r}")
    try:
        cls = model_class(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: [model].name: {exc}") from None
    merged = {**(PRESETS[name][1] if name in PRESETS else {}), **params}
    strict_dataclass(cls.Config, merged, f"{where}: [model]")
    return name, params, cls

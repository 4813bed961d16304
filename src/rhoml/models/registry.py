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
}
#: preset name -> (model name, overrides of its Config)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    # CPU-scale study model: ~0.1 M parameters at 16³
    "resnet3d-tiny": ("resnet3d", {"width": 8, "depth": [1, 1, 1]}),
    "resnet3d-small": ("resnet3d", {"width": 16, "depth": [1, 1, 1]}),
    # ResNet-18 layout (2,2,2,2 basic blocks, 64-512 channels), in 3D
    "resnet3d-18": ("resnet3d", {"width": 64, "depth": [2, 2, 2, 2]}),
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

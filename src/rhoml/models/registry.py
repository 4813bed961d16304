"""A small registry of models: name → (module, class), each with a strict config dataclass.

A model class declares ``Config`` (a dataclass of its hyper-parameters) and is built by
:func:`build_model` from a plain dict (a config file section): unknown keys are rejected, types
are checked. Presets are named dicts of overrides (``PRESETS``). Other issues add their models by
adding a line to :data:`MODELS` (or calling :func:`register` at import time of their module).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from importlib import import_module
from typing import Any

from rhoml.errors import RhomlError

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


class ConfigError(RhomlError):
    """A config with an unknown key, a missing required key or a value of the wrong type."""


def register(name: str, target: str) -> None:
    """Register ``target`` (``"module:Class"``) as model ``name``."""
    MODELS[name] = target


def model_class(name: str):
    if name in PRESETS:
        name = PRESETS[name][0]
    try:
        module, cls = MODELS[name].split(":")
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose from {', '.join(sorted(MODELS) + sorted(PRESETS))}"
        ) from None
    return getattr(import_module(module), cls)


def _check_type(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            try:
                return _check_type(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected None, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        items = [_check_type(v, inner, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def strict_dataclass(cls, data: dict | None, where: str):
    """Build dataclass ``cls`` from ``data``: unknown keys rejected, types checked."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _check_type(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


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

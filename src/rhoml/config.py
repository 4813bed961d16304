"""Typed, strict configs: TOML/JSON files of sections, each checked against a dataclass.

Every config in rhoml (voxel experiments, DenSNet training, the EDG stages, voxel grids) goes
through this module, so every one behaves the same way:

* unknown sections and keys are rejected, types are checked (``lr = "fast"`` fails on load);
* ranges and choices declared on the field (:func:`option`) are checked;
* path fields (``option(..., path=True)``) resolve against the config file's folder, not the
  working directory, and ``must_exist=True`` paths are checked before any work starts;
* ``--set section.key=value`` overrides (:func:`apply_overrides`), values parsed as TOML;
* a resolved config (defaults written out) can be written back as TOML (:func:`dump_toml`).

Every error is a :class:`ConfigError` with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from rhoml.errors import RhomlError

__all__ = [
    "ConfigError",
    "lookup",
    "apply_overrides",
    "as_dict",
    "dump_toml",
    "load_config",
    "option",
    "read_table_file",
    "strict_dataclass",
]


class ConfigError(RhomlError):
    """A config with an unknown key, a missing required key, a value of the wrong type or out of
    range, or a missing file."""


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    min: float | None = None,  # noqa: A002 - the natural name in a declaration
    max: float | None = None,  # noqa: A002
    exclusive_min: bool = False,
    choices: tuple | None = None,
    path: bool = False,
    must_exist: bool = False,
    doc: str = "",
) -> Any:
    """A dataclass field with constraints checked by :func:`strict_dataclass`.

    ``min``/``max``: inclusive bounds (``exclusive_min=True``: strictly above ``min``), also
    applied to every item of a list. ``choices``: allowed values. ``path``: a file or folder
    name, resolved against the config file's folder (an empty string means "not given").
    ``must_exist``: the resolved path must exist when the config is loaded.
    """
    meta = {
        "min": min,
        "max": max,
        "exclusive_min": exclusive_min,
        "choices": choices,
        "path": path or must_exist,
        "must_exist": must_exist,
        "doc": doc,
    }
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


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
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
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


def _check_constraints(value, meta, where: str, base_dir: Path | None):
    if not meta:
        return value
    items = value if isinstance(value, list | tuple) else [value]
    lo, hi = meta.get("min"), meta.get("max")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if lo is not None and (v < lo or (meta.get("exclusive_min") and v <= lo)):
            rel = ">" if meta.get("exclusive_min") else "≥"
            raise ConfigError(f"{where}: must be {rel} {lo}, got {v!r}")
        if hi is not None and v > hi:
            raise ConfigError(f"{where}: must be ≤ {hi}, got {v!r}")
    choices = meta.get("choices")
    if choices is not None:
        for v in items:
            if v not in choices:
                allowed = ", ".join(repr(c) for c in choices)
                raise ConfigError(f"{where}: must be one of {allowed}, got {v!r}")
    if meta.get("path") and isinstance(value, str) and value:
        p = Path(value).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        if meta.get("must_exist") and not p.exists():
            raise ConfigError(f"{where}: no such file or folder {p}")
        value = str(p)
    return value


def strict_dataclass(cls, data: dict | None, where: str, base_dir: Path | None = None):
    """Build dataclass ``cls`` from ``data``: unknown keys rejected, types and the constraints of
    :func:`option` checked, path fields resolved against ``base_dir``."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a table, got {data!r}")
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
            value = _check_type(data[name], hints[name], f"{where}.{name}")
            kwargs[name] = _check_constraints(value, f.metadata, f"{where}.{name}", base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r}")
        elif f.metadata.get("path") and f.default:
            kwargs[name] = _check_constraints(f.default, f.metadata, f"{where}.{name}", base_dir)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError, RhomlError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def read_table_file(path) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON (``.json``) file as a dict; bad syntax → one-line error."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        text = p.read_text()
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a table")
    return data


def _parse_value(text: str):
    """A ``--set`` value as TOML (numbers, booleans, strings, lists); bare words as strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict, overrides: list[str] | None, where: str = "--set") -> dict:
    """``data`` with ``section.key=value`` overrides applied (a copy; nested keys allowed)."""
    out = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides or []:
        key, sep, value = item.partition("=")
        parts = [k.strip() for k in key.split(".")]
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"{where} {item!r}: expected section.key=value")
        table = out
        for k in parts[:-1]:
            table = table.setdefault(k, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{where} {item!r}: {k} is not a table")
        table[parts[-1]] = _parse_value(value.strip())
    return out


def load_config(
    path_or_dict,
    sections: dict[str, type | None],
    where: str | None = None,
    *,
    overrides: list[str] | None = None,
    base_dir: Path | str | None = None,
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Check a config against ``sections`` (name → dataclass, or None for a free table that the
    caller checks itself, e.g. ``[model]`` whose keys depend on the model).

    ``path_or_dict``: a TOML/JSON file (paths in it resolve against its folder) or a dict
    (paths resolve against ``base_dir``, default the working directory). ``required``: sections
    that must be present. Returns ``{section: dataclass instance or dict}``; absent sections get
    their defaults.
    """
    if isinstance(path_or_dict, dict):
        data, where = path_or_dict, where or "config"
        base = Path(base_dir) if base_dir is not None else None
    else:
        data, where = read_table_file(path_or_dict), where or str(path_or_dict)
        base = Path(base_dir) if base_dir is not None else Path(path_or_dict).resolve().parent
    data = apply_overrides(data, overrides)
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) {', '.join(unknown)}; allowed: {', '.join(sections)}"
        )
    for name in required:
        if name not in data:
            raise ConfigError(f"{where}: missing section [{name}]")
    out: dict[str, Any] = {}
    for name, cls in sections.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        out[name] = (
            dict(table) if cls is None else strict_dataclass(cls, table, f"{where}: [{name}]", base)
        )
    return out


def as_dict(sections: dict[str, Any]) -> dict[str, Any]:
    """Loaded sections (dataclasses or dicts) as plain nested dicts, defaults written out."""
    out = {}
    for name, value in sections.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        out[name] = json.loads(json.dumps(value))  # tuples → lists, plain types only
    return out


def dump_toml(data: dict[str, Any]) -> str:
    """``data`` (plain nested dicts) as TOML text; ``None`` values are left out (TOML has no
    null)."""
    import tomli_w

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return tomli_w.dumps(clean(data))


def lookup(registry: dict[str, str], name: str, what: str, also: tuple[str, ...] = ()):
    """The object named ``"module:attr"`` in ``registry[name]``, imported on first use (model
    and family registries); an unknown name is a :class:`ConfigError` listing the choices
    (``also``: further valid names, e.g. presets)."""
    from importlib import import_module

    try:
        module, attr = registry[name].split(":")
    except KeyError:
        choices = ", ".join(sorted(registry) + sorted(also))
        raise ConfigError(f"unknown {what} {name!r}; choose from {choices}") from None
    return getattr(import_module(module), attr)

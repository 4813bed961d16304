"""Strict experiment configs: TOML or JSON files of tables, each checked against a dataclass.

An experiment file has a fixed set of sections (e.g. ``[data]``, ``[voxel]``, ``[model]``,
``[train]``); :func:`load_config` rejects unknown sections and unknown keys with one line naming
the file. :class:`TrainConfig` is the ``[train]`` section every task shares.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhoml.errors import RhomlError
from rhoml.models.registry import ConfigError, strict_dataclass

__all__ = ["ConfigError", "TrainConfig", "load_config", "read_table_file"]


@dataclass
class TrainConfig:
    """Optimisation settings shared by every model.

    ``loss``: ``l1`` or ``mse`` on standardised targets. ``monitor``: the validation quantity
    that selects the best checkpoint and drives early stopping (``val_loss`` or a metric name
    written in ``metrics.csv``, lower is better). ``patience``: epochs without improvement before
    stopping (0 = never). ``bn_recalibration``: before each evaluation, BatchNorm running
    statistics are recomputed as plain averages over this many training batches with the current
    weights ("precise BN", Wu & Johnson 2021); without it the running averages lag the weights
    and, on sparse voxel inputs with small batches, evaluation-mode predictions were measured
    several times worse than the training loss implies. ``device``: ``auto`` (CUDA when
    present), ``cpu``, ``cuda``, ``cuda:1``. ``threads``: torch CPU threads (0 = torch's default).
    """

    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    lr_min: float = 0.0  # floor of the cosine schedule
    weight_decay: float = 0.0
    optimizer: str = "adamw"  # adamw | adam | sgd
    scheduler: str = "plateau"  # plateau | cosine | none
    loss: str = "l1"
    monitor: str = "val_loss"
    patience: int = 10
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    threads: int = 0
    eval_batch_size: int = 0  # 0 = batch_size
    bn_recalibration: int = 32  # training batches for precise BatchNorm statistics (0 = off)

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "adam", "sgd"):
            raise ValueError(f"optimizer must be adamw, adam or sgd, got {self.optimizer!r}")
        if self.scheduler not in ("plateau", "cosine", "none"):
            raise ValueError(f"scheduler must be plateau, cosine or none, got {self.scheduler!r}")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"loss must be l1 or mse, got {self.loss!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs, batch_size and lr must be positive")


def read_table_file(path) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON (``.json``) file as a dict; bad syntax → one-line error."""
    p = Path(path)
    if not p.is_file():
        raise RhomlError(f"{p}: no such config file")
    try:
        if p.suffix == ".json":
            data = json.loads(p.read_text())
        else:
            data = tomllib.loads(p.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a table")
    return data


def load_config(path_or_dict, sections: dict[str, type | None], where: str | None = None):
    """Check a config against ``sections`` (name → dataclass, or None for a free table that the
    caller checks itself, e.g. ``[model]`` whose keys depend on the model).

    Returns ``{section: dataclass instance or dict}``; absent sections get their defaults.
    """
    if isinstance(path_or_dict, dict):
        data, where = path_or_dict, where or "config"
    else:
        data, where = read_table_file(path_or_dict), where or str(path_or_dict)
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) {', '.join(unknown)}; allowed: {', '.join(sections)}"
        )
    out = {}
    for name, cls in sections.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        out[name] = (
            dict(table) if cls is None else strict_dataclass(cls, table, f"{where}: [{name}]")
        )
    return out

"""The ``[train]`` section every model family shares (:class:`TrainConfig`), checked by
:mod:`rhoml.config` (strict keys, types and ranges)."""

from __future__ import annotations

from dataclasses import dataclass

from rhoml.config import ConfigError, load_config, option, read_table_file

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
    ``betas``: Adam/AdamW moment coefficients. ``warmup_epochs``: with ``scheduler = "cosine"``,
    the learning rate rises linearly from 0 over this many epochs (fractions allowed), then
    follows a half cosine down to ``lr_min`` at the last epoch, updated after every optimiser
    step (the MAE recipe); 0 keeps the per-epoch cosine.
    """

    epochs: int = option(50, min=1)
    batch_size: int = option(32, min=1)
    lr: float = option(1e-3, min=0.0, exclusive_min=True)
    lr_min: float = option(0.0, min=0.0)  # floor of the cosine schedule
    weight_decay: float = option(0.0, min=0.0)
    optimizer: str = option("adamw", choices=("adamw", "adam", "sgd"))
    scheduler: str = option("plateau", choices=("plateau", "cosine", "none"))
    loss: str = option("l1", choices=("l1", "mse"))
    monitor: str = "val_loss"
    patience: int = option(10, min=0)
    grad_clip: float = option(0.0, min=0.0)
    seed: int = option(0, min=0)
    device: str = "auto"
    num_workers: int = option(0, min=0)
    threads: int = option(0, min=0)
    eval_batch_size: int = option(0, min=0)  # 0 = batch_size
    bn_recalibration: int = option(32, min=0)  # batches for precise BatchNorm statistics
    betas: list[float] = option(default_factory=lambda: [0.9, 0.999], min=0.0, max=1.0)
    warmup_epochs: float = option(0.0, min=0.0)

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "adam", "sgd"):
            raise ValueError(f"optimizer must be adamw, adam or sgd, got {self.optimizer!r}")
        if self.scheduler not in ("plateau", "cosine", "none"):
            raise ValueError(f"scheduler must be plateau, cosine or none, got {self.scheduler!r}")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"loss must be l1 or mse, got {self.loss!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs, batch_size and lr must be positive")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.warmup_epochs and self.scheduler != "cosine":
            raise ValueError("warmup_epochs needs scheduler = 'cosine'")

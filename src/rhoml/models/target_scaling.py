"""Per-target standardisation held in a model's buffers, so a checkpoint predicts in the targets'
own units: heads predict standardised values z, the model returns z·std + mean (T,) with the
training set's mean and standard deviation set by :meth:`TargetScaling.set_target_stats`."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TargetHeads", "TargetScaling"]


class TargetScaling(nn.Module):
    """Buffers ``target_mean`` and ``target_std`` (T,) and the mapping to physical units."""

    def __init__(self, n_targets: int) -> None:
        super().__init__()
        self.register_buffer("target_mean", torch.zeros(n_targets))
        self.register_buffer("target_std", torch.ones(n_targets))

    def set_target_stats(self, mean, std) -> None:
        """Training-set mean and standard deviation (T,) of the targets, in their units."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_std.copy_(torch.as_tensor(std, dtype=self.target_std.dtype).clamp(min=1e-12))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised (B, T) → (B, T) in the targets' units."""
        return z * self.target_std + self.target_mean


class TargetHeads(nn.Module):
    """One small MLP head per target (dropout → Linear(in, hidden) → SiLU → Linear(hidden, 1))
    over shared features (B, in_features), and the :class:`TargetScaling` of their outputs:
    returns (B, T) in the targets' units."""

    def __init__(self, in_features: int, n_targets: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Dropout(dropout), nn.Linear(in_features, hidden), nn.SiLU(), nn.Linear(hidden, 1)
            )  # fmt: skip
            for _ in range(n_targets)
        )
        self.scaling = TargetScaling(n_targets)

    def set_target_stats(self, mean, std) -> None:
        self.scaling.set_target_stats(mean, std)

    @property
    def target_std(self) -> torch.Tensor:
        return self.scaling.target_std

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.scaling(torch.cat([head(h) for head in self.heads], dim=1))

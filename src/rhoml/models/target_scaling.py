"""Per-target standardisation held in a model's buffers, so a checkpoint predicts in the targets'
own units: heads predict standardised values z, the model returns z·std + mean (T,) with the
training set's mean and standard deviation set by :meth:`TargetScaling.set_target_stats`."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TargetScaling"]


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

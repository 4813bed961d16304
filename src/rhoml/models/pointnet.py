"""PointNet (Qi et al., CVPR 2017) for per-molecule properties from point clouds.

Input ``batch["points"]`` (B, N, F) float: per point its position (3, Å, centred) and F − 3
features (for density clouds ln(ρ/threshold); for atom clouds a one-hot element), and
``batch["mask"]`` (B, N) bool, True for real points (padding of clouds of different sizes is
masked out of the pooling). A shared per-point MLP (``widths``, BatchNorm-free: LayerNorm after
each hidden layer, so padded points never enter batch statistics) → symmetric pooling over the
points (``max``; ``max+mean`` or ``max+sum``: both concatenated, the sum carrying the size of
the cloud, which for atom clouds is the atom count) → one MLP head per target (hidden
``head_hidden``) → (B, T) in the targets' units (standardisation in buffers,
:class:`~rhoml.models.target_scaling.TargetHeads`). The classic PointNet's input and feature
transform nets (T-Nets) are left out: the point clouds here are centred and training rotates them
at random. The output is invariant to the order of the points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from rhoml.models.target_scaling import TargetHeads

__all__ = ["POOLINGS", "PointNet", "PointNetConfig"]

POOLINGS = ("max", "max+mean", "max+sum")


@dataclass
class PointNetConfig:
    """``widths``: per-point MLP widths; ``pooling``: ``max``, ``max+mean`` or ``max+sum``;
    ``head_hidden``,
    ``dropout``: of each target's head."""

    widths: list[int] = field(default_factory=lambda: [64, 128, 256])
    pooling: str = "max+mean"
    head_hidden: int = 128
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 1 or self.head_hidden < 1:
            raise ValueError("widths (non-empty) and head_hidden must be positive")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class PointNet(nn.Module):
    """See the module docstring. ``in_features``: F per point; ``targets``: target names."""

    Config = PointNetConfig

    def __init__(self, config: PointNetConfig, *, in_features: int, targets: list[str]) -> None:
        super().__init__()
        self.config = config
        self.targets = list(targets)
        layers: list[nn.Module] = []
        cin = in_features
        for i, w in enumerate(config.widths):
            layers.append(nn.Linear(cin, w))
            if i < len(config.widths) - 1:
                layers += [nn.LayerNorm(w), nn.ReLU()]
            cin = w
        self.point_mlp = nn.Sequential(*layers)
        pooled = cin * (1 if config.pooling == "max" else 2)
        self.out = TargetHeads(pooled, len(self.targets), config.head_hidden, config.dropout)

    def set_target_stats(self, mean, std) -> None:
        self.out.set_target_stats(mean, std)

    @property
    def target_std(self) -> torch.Tensor:
        return self.out.target_std

    def features(self, batch: dict) -> torch.Tensor:
        """Pooled per-molecule features (B, widths[-1], twice that with two poolings)."""
        x = batch["points"].float()
        mask = batch.get("mask")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        h = self.point_mlp(x)  # (B, N, W)
        m = mask[..., None]
        pooled = h.masked_fill(~m, float("-inf")).amax(dim=1)
        if self.config.pooling != "max":
            total = (h * m).sum(1)
            if self.config.pooling == "max+mean":
                total = total / m.sum(1).clamp(min=1)
            pooled = torch.cat([pooled, total], dim=1)
        return pooled

    def forward(self, batch: dict) -> torch.Tensor:
        h = self.features(batch)
        return self.out(h)

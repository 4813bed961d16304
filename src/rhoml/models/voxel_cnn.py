"""ResNet-style 3D CNN on voxel grids with one head per target.

Input ``batch["voxels"]`` (B, C, n, n, n) → output (B, T) in the targets' own units: each head
predicts a standardised value that is mapped back with the training-set mean and standard
deviation held in buffers (``target_mean``, ``target_std``; set with
:meth:`ResNet3D.set_target_stats`), so a checkpoint predicts in physical units by itself.

Layout: stem conv 3³ → stages of basic residual blocks (two 3³ convs, identity or 1³ projection
shortcut); stage s has ``width·2^s`` channels and halves the grid (stride 2) except stage 0 →
global average pool → per-target MLP head (hidden ``head_hidden``, dropout ``dropout``). With
``width=64, depth=[2,2,2,2]`` this is ResNet-18 in 3D (preset ``resnet3d-18``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ResNet3DConfig:
    width: int = 16
    depth: list[int] = field(default_factory=lambda: [1, 1, 1])
    norm: str = "batch"  # batch | group | none
    head_hidden: int = 64
    dropout: float = 0.1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.width < 1 or not self.depth or min(self.depth) < 1:
            raise ValueError("width and every depth entry must be positive")
        if self.norm not in ("batch", "group", "none"):
            raise ValueError(f"norm must be batch, group or none, got {self.norm!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class BasicBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=norm == "none")
        self.n1 = _norm(norm, cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=norm == "none")
        self.n2 = _norm(norm, cout)
        self.short = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride=stride, bias=False), _norm(norm, cout)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.n1(self.conv1(x)))
        return torch.relu(self.n2(self.conv2(y)) + self.short(x))


class ResNet3D(nn.Module):
    """See the module docstring. ``in_channels``: voxel channels; ``targets``: target names."""

    Config = ResNet3DConfig

    def __init__(self, config: ResNet3DConfig, *, in_channels: int, targets: list[str]) -> None:
        super().__init__()
        self.config = config
        self.targets = list(targets)
        w = config.width
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, w, 3, padding=1, bias=config.norm == "none"),
            _norm(config.norm, w),
            nn.ReLU(),
        )
        blocks, cin = [], w
        for s, n in enumerate(config.depth):
            cout = w * 2**s
            for b in range(n):
                blocks.append(BasicBlock3d(cin, cout, 2 if (b == 0 and s > 0) else 1, config.norm))
                cin = cout
        self.body = nn.Sequential(*blocks)
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Dropout(config.dropout),
                nn.Linear(cin, config.head_hidden),
                nn.SiLU(),
                nn.Linear(config.head_hidden, 1),
            )
            for _ in self.targets
        )
        self.register_buffer("target_mean", torch.zeros(len(self.targets)))
        self.register_buffer("target_std", torch.ones(len(self.targets)))
        self.to(getattr(torch, config.dtype))

    def set_target_stats(self, mean, std) -> None:
        """Training-set mean and standard deviation (T,) of the targets, in their units."""
        self.target_mean.copy_(torch.as_tensor(mean, dtype=self.target_mean.dtype))
        self.target_std.copy_(torch.as_tensor(std, dtype=self.target_std.dtype).clamp(min=1e-12))

    def standardised(self, batch: dict) -> torch.Tensor:
        """Head outputs (B, T) before de-standardisation."""
        x = batch["voxels"].to(self.target_mean.dtype)
        h = self.body(self.stem(x)).mean(dim=(2, 3, 4))
        return torch.cat([head(h) for head in self.heads], dim=1)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.standardised(batch) * self.target_std + self.target_mean

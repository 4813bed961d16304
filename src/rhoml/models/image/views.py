"""ResNet-18 over the views of a molecule for per-molecule properties (EDG, appendix Table 4:
"ResNet18 (6×4×224×224)").

Input ``batch["images"]`` (B, V, C, H, W) float (:func:`rhoml.models.image.vit_mae.prepare_images`
of the stored uint8 views: RGB ImageNet-normalised, depth 0–1). One ResNet-18 backbone
(:class:`~rhoml.models.image.resnet.ResNet18`, ``in_chans`` = C, shared by all views) gives a
8·width-d feature per view; the features are averaged over the views (view-mean pooling, as EDG's
ED-aware teacher does over its structural views) and one MLP head per target maps them to
standardised values → (B, T) in the targets' units (buffers,
:class:`~rhoml.models.target_scaling.TargetHeads`). Trained from scratch (no ImageNet weights:
torchvision's have 3 input channels, the density views 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rhoml.models.image.resnet import ResNet18
from rhoml.models.target_scaling import TargetHeads

__all__ = ["ViewResNet18", "ViewResNet18Config"]


@dataclass
class ViewResNet18Config:
    """``width``: ResNet-18 base width (64 = torchvision's, 512-d features); ``head_hidden``,
    ``dropout``: of each target's head."""

    width: int = 64
    head_hidden: int = 128
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.width < 1 or self.head_hidden < 1:
            raise ValueError("width and head_hidden must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class ViewResNet18(nn.Module):
    """See the module docstring. ``in_channels``: C per view (4 for RGB-D); ``targets``: names."""

    Config = ViewResNet18Config

    def __init__(self, config: ViewResNet18Config, *, in_channels: int,
                 targets: list[str]) -> None:  # fmt: skip
        super().__init__()
        self.config = config
        self.targets = list(targets)
        self.backbone = ResNet18(num_classes=0, in_chans=in_channels, width=config.width)
        d = self.backbone.feature_dim
        self.out = TargetHeads(d, len(self.targets), config.head_hidden, config.dropout)

    def set_target_stats(self, mean, std) -> None:
        self.out.set_target_stats(mean, std)

    @property
    def target_std(self) -> torch.Tensor:
        return self.out.target_std

    def features(self, batch: dict) -> torch.Tensor:
        """View-mean backbone features (B, 8·width)."""
        x = batch["images"].float()
        if x.ndim != 5:
            raise ValueError(f"expected images (B, V, C, H, W), got {tuple(x.shape)}")
        b, v = x.shape[:2]
        return self.backbone(x.flatten(0, 1)).reshape(b, v, -1).mean(dim=1)

    def forward(self, batch: dict) -> torch.Tensor:
        h = self.features(batch)
        return self.out(h)

"""ResNet-18 (He et al. 2016) in plain torch, with torchvision's module names, and EDG's ED-aware
teacher built on it.

:class:`ResNet18` has exactly the ``state_dict`` keys of ``torchvision.models.resnet18`` (conv1,
bn1, layer1-4 of two BasicBlocks with ``downsample.0/1`` where the shape changes, fc), so a
torchvision-format checkpoint (e.g. ImageNet weights a user already has) loads with
:func:`load_torchvision_weights`; nothing is downloaded.

:class:`EDTeacher` (EDG, Xiang et al., Electron Density-enhanced Molecular Geometry Learning):
the ResNet-18 without its classifier runs on each of the V structural views (B, V, 3, H, W) of a
molecule, the V 512-d features are averaged (view-mean pooling) to the teacher feature F_S
(B, 512), and the ED predictor ``Linear(512→256) → Softplus → Linear(256→D_ED)`` (weights
N(0, 0.02)) maps it to the ED feature space of ImageED.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rhoml.errors import InputError

__all__ = [
    "EDPredictor",
    "EDTeacher",
    "EDTeacherConfig",
    "ResNet18",
    "load_torchvision_weights",
    "torchvision_resnet18_keys",
]

FEATURE_DIM = 512  # output channels of torchvision's ResNet-18


class BasicBlock(nn.Module):
    """Two 3×3 conv + BatchNorm layers with a residual connection (torchvision's names)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18: 7×7/2 conv, 3×3/2 max-pool, four stages of two basic blocks (w, 2w, 4w, 8w
    channels; torchvision's w = 64), global average pool, ``fc``. ``num_classes=0``: ``fc`` is
    the identity and the output is the 8w-d pooled feature (512 for w = 64). Input
    (B, in_chans, H, W) (any H, W ≥ 32). ``width`` w < 64 gives the same layout with fewer
    channels (not loadable from torchvision checkpoints)."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, width: int = 64) -> None:
        super().__init__()
        self.feature_dim = 8 * width
        self.conv1 = nn.Conv2d(in_chans, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = (width, 2 * width, 4 * width, 8 * width)
        cin = width
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, stride),
                                                         BasicBlock(w, w)))  # fmt: skip
            cin = w
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.feature_dim, num_classes) if num_classes else nn.Identity()
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torchvision_resnet18_keys(include_fc: bool = True) -> list[str]:
    """The ``state_dict`` keys of ``torchvision.models.resnet18()``, in order."""
    return list(ResNet18(1000 if include_fc else 0).state_dict())


def load_torchvision_weights(model: ResNet18, path) -> dict:
    """Load a torchvision-format ResNet-18 checkpoint (a ``state_dict`` saved with
    ``torch.save``, or a dict holding one under ``state_dict``/``model``) into ``model``. The
    classifier ``fc.*`` is skipped when ``model`` has none. Returns what was loaded:
    ``{"path", "tensors", "skipped"}``; a file that is not such a checkpoint raises
    :class:`InputError` with one line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such weights file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: one line, not a traceback
        raise InputError(f"{p}: not a torch weights file ({type(exc).__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise InputError(f"{p}: expected a state_dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    has_fc = isinstance(model.fc, nn.Linear)
    skipped = [k for k in state if k.startswith("fc.") and not has_fc]
    state = {k: v for k, v in state.items() if k not in skipped}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise InputError(f"{p}: not a torchvision ResNet-18 state_dict ({what})")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise InputError(f"{p}: {k} has shape {tuple(v.shape)}, expected "
                             f"{tuple(own[k].shape)}")  # fmt: skip
    model.load_state_dict(state)
    return {"path": str(p.resolve()), "tensors": len(state), "skipped": skipped}


class EDPredictor(nn.Module):
    """EDG's ED predictor: ``Linear(512→hidden) → Softplus → Linear(hidden→out_dim)``, weights
    N(0, 0.02), biases 0. Input (B, 512) teacher features, output (B, out_dim) ED features."""

    def __init__(self, out_dim: int, in_dim: int = FEATURE_DIM, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Softplus(),
                                 nn.Linear(hidden, out_dim))  # fmt: skip
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class EDTeacherConfig:
    """``ed_dim``: ED feature dimension (that of the ImageED run, 768 for ViT-B);
    ``predictor_hidden``: hidden width of the ED predictor (EDG: 256); ``n_views``: structural
    views per molecule (EDG: 4); ``width``: ResNet-18 base width (64 = torchvision's, teacher
    features 512-d; smaller widths give 8·width-d features)."""

    ed_dim: int = 768
    predictor_hidden: int = 256
    n_views: int = 4
    width: int = 64

    def __post_init__(self) -> None:
        if min(self.ed_dim, self.predictor_hidden, self.n_views, self.width) < 1:
            raise ValueError("ed_dim, predictor_hidden, n_views and width must be positive")


class EDTeacher(nn.Module):
    """ResNet-18 per view → view mean (teacher feature, 512 at torchvision's width) → ED
    predictor (ED feature)."""

    Config = EDTeacherConfig

    def __init__(self, config: EDTeacherConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or EDTeacherConfig()
        self.backbone = ResNet18(num_classes=0, width=cfg.width)
        self.predictor = EDPredictor(cfg.ed_dim, in_dim=8 * cfg.width, hidden=cfg.predictor_hidden)

    def teacher_features(self, views: torch.Tensor) -> torch.Tensor:
        """(B, V, 3, H, W) ImageNet-normalised structural views → (B, 8·width), view mean."""
        if views.ndim != 5 or views.shape[1] != self.config.n_views or views.shape[2] != 3:
            raise ValueError(f"expected views (B, {self.config.n_views}, 3, H, W), got "
                             f"{tuple(views.shape)}")  # fmt: skip
        b, v = views.shape[:2]
        return self.backbone(views.flatten(0, 1)).reshape(b, v, -1).mean(dim=1)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """Predicted ED features (B, ed_dim)."""
        return self.predictor(self.teacher_features(views))

    def freeze(self) -> EDTeacher:
        """Evaluation mode and no gradients for every parameter (the frozen teacher of the
        distillation stage); returns self."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

"""EDG distillation head (Xiang et al., "Electron density-enhanced molecular geometry
learning", IJCAI 2025): the student's representation h (B, F) goes through a trainable linear
mapper (F → 512, the teacher's feature size) and then through the teacher's *frozen* ED
predictor (512 → 256 → Softplus → 768), giving a prediction of the ImageED features of the
molecule's electron-density images; the target is the same ED predictor applied to the
teacher's 512-d features. The loss is smooth-L1 (β = 1, mean over the 768 values).

The ED predictor's parameters never change (``requires_grad=False``, kept in eval mode, not
given to the optimiser), but gradients flow through it to the mapper and the student.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EDPredictor", "EDDistillHead", "ed_loss"]

#: feature sizes of EDG's teacher (ResNet18, view-mean pooled) and ImageED (ViT-B/16)
TEACHER_DIM = 512
ED_DIM = 768


class EDPredictor(nn.Module):
    """EDG's ED predictor: Linear(512 → 256) → Softplus → Linear(256 → 768) (other sizes for
    smaller teachers); weights N(0, 0.02) and zero biases at initialisation, as EDG's."""

    def __init__(self, in_features: int = TEACHER_DIM, out_features: int = ED_DIM,
                 hidden: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        hidden = int(hidden) if hidden else self.in_features // 2
        self.network = nn.Sequential(nn.Linear(self.in_features, hidden), nn.Softplus(),
                                     nn.Linear(hidden, self.out_features))  # fmt: skip
        for m in self.network:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    @classmethod
    def from_state_dict(cls, state: dict) -> EDPredictor:
        """An ED predictor with the sizes of ``state``: keys ``network.0.weight`` ... (also
        EDG's ``network.linear1/linear2`` names, and a whole teacher run's weights, whose
        predictor is stored under ``predictor.net.``)."""
        if any(k.startswith("predictor.net.") for k in state):
            state = {k.removeprefix("predictor.net."): v for k, v in state.items()
                     if k.startswith("predictor.net.")}  # fmt: skip
            state = {f"network.{k}": v for k, v in state.items()}
        names = {"network.linear1.": "network.0.", "network.linear2.": "network.2."}
        renamed = {}
        for k, v in state.items():
            for a, b in names.items():
                k = k.replace(a, b)
            renamed[k] = v
        w0, w2 = renamed["network.0.weight"], renamed["network.2.weight"]
        model = cls(int(w0.shape[1]), int(w2.shape[0]), hidden=int(w0.shape[0]))
        model.load_state_dict(renamed)
        return model


def ed_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 (β = 1, mean) between two (B, 768) ED feature predictions."""
    return nn.functional.smooth_l1_loss(pred, target, reduction="mean", beta=1.0)


class EDDistillHead(nn.Module):
    """mapper (F → 512, trained) → frozen ED predictor (512 → 768).

    ``forward(h (B, F))`` → (B, 768); :meth:`target` applies the frozen predictor to teacher
    features (B, 512) without building a graph."""

    def __init__(self, representation_dim: int, ed_predictor: EDPredictor) -> None:
        super().__init__()
        self.mapper = nn.Linear(representation_dim, ed_predictor.in_features)
        self.ed_predictor = ed_predictor.eval()
        for p in self.ed_predictor.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> EDDistillHead:
        """Train the mapper; the ED predictor stays in eval mode."""
        super().train(mode)
        self.ed_predictor.eval()
        return self

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.ed_predictor(self.mapper(h))

    @torch.no_grad()
    def target(self, teacher_features: torch.Tensor) -> torch.Tensor:
        return self.ed_predictor(teacher_features)

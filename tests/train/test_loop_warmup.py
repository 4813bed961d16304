"""The loop's Adam betas and the per-step warmup + cosine schedule (the MAE recipe): the learning
rate of every optimiser step, resume in the middle of the schedule, config checks."""

from __future__ import annotations

import math

import pytest
import torch

from rhoml.config import ConfigError, strict_dataclass
from rhoml.train.config import TrainConfig
from rhoml.train.loop import Objective, fit, warmup_cosine_factor


class Toy(torch.nn.Module):
    """y = w·x; records the optimiser's learning rate at every training forward."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Linear(2, 1)
        self.opt = None
        self.lrs: list[float] = []

    def forward(self, batch):
        if self.training and self.opt is not None:
            self.lrs.append(self.opt.param_groups[0]["lr"])
        return self.w(batch["x"])


class Data:
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 2, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0]])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def _objective():
    return Objective(lambda b: b["y"], lambda p, t: (p - t).abs().mean(),
                     lambda p, t: {"mae": float(abs(p - t).mean())})  # fmt: skip


def _capture_optimizer(monkeypatch, model):
    import rhoml.train.loop as loop

    original = loop._optimizer

    def spy(cfg, params):
        model.opt = original(cfg, params)
        return model.opt

    monkeypatch.setattr(loop, "_optimizer", spy)


def test_factor_warms_up_linearly_then_follows_a_half_cosine():
    cfg = TrainConfig(epochs=10, lr=1.0, lr_min=0.1, scheduler="cosine", warmup_epochs=2)
    spe = 5  # steps per epoch: warmup = 10 steps, total = 50
    assert warmup_cosine_factor(0, spe, cfg) == 0.0
    assert warmup_cosine_factor(5, spe, cfg) == pytest.approx(0.5)
    assert warmup_cosine_factor(10, spe, cfg) == pytest.approx(1.0)
    mid = 10 + 20  # half way through the cosine
    assert warmup_cosine_factor(mid, spe, cfg) == pytest.approx(0.1 + 0.9 * 0.5)
    assert warmup_cosine_factor(50, spe, cfg) == pytest.approx(0.1)
    assert warmup_cosine_factor(60, spe, cfg) == pytest.approx(0.1)  # clamped after the end


def test_every_step_uses_the_scheduled_rate_and_betas(monkeypatch, tmp_path):
    model = Toy()
    _capture_optimizer(monkeypatch, model)
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.1, scheduler="cosine", warmup_epochs=1.5,
                      betas=[0.9, 0.95], threads=1, device="cpu", bn_recalibration=0)  # fmt: skip
    fit(model, Data(12), Data(4), _objective(), cfg, tmp_path, progress=False)
    assert model.opt.param_groups[0]["betas"] == (0.9, 0.95)
    spe = 3  # 12 molecules, batch 4
    expected = [0.1 * warmup_cosine_factor(s, spe, cfg) for s in range(9)]
    assert model.lrs == pytest.approx(expected)
    assert expected[0] == 0.0 and max(expected) == pytest.approx(0.1 * (1 + math.cos(
        math.pi * 0.5 / 4.5)) / 2)  # fmt: skip


def test_resume_continues_the_schedule(monkeypatch, tmp_path):
    """A run killed in its second epoch resumes from the end of the first with the rates an
    uninterrupted run used."""
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.1, scheduler="cosine", warmup_epochs=1.0,
                      threads=1, device="cpu", bn_recalibration=0)  # fmt: skip
    full = Toy()
    _capture_optimizer(monkeypatch, full)
    fit(full, Data(12), Data(4), _objective(), cfg, tmp_path / "a", progress=False)

    class Killed(Toy):
        def forward(self, batch):
            if self.training and len(self.lrs) == 4:  # second step of epoch 2
                raise KeyboardInterrupt
            return super().forward(batch)

    first = Killed()
    _capture_optimizer(monkeypatch, first)
    with pytest.raises(KeyboardInterrupt):
        fit(first, Data(12), Data(4), _objective(), cfg, tmp_path / "b", progress=False)
    resumed = Toy()
    _capture_optimizer(monkeypatch, resumed)
    fit(resumed, Data(12), Data(4), _objective(), cfg, tmp_path / "b", progress=False)
    assert len(full.lrs) == 9 and resumed.lrs == pytest.approx(full.lrs[3:])
    assert resumed.lrs[0] > 0


def test_without_warmup_the_cosine_stays_per_epoch(monkeypatch, tmp_path):
    model = Toy()
    _capture_optimizer(monkeypatch, model)
    cfg = TrainConfig(epochs=2, batch_size=4, lr=0.1, scheduler="cosine", threads=1,
                      device="cpu", bn_recalibration=0)  # fmt: skip
    fit(model, Data(8), Data(4), _objective(), cfg, tmp_path, progress=False)
    assert model.lrs == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert model.opt.param_groups[0]["betas"] == (0.9, 0.999)  # torch's default kept


@pytest.mark.parametrize(("data", "message"), [
    ({"warmup_epochs": 1.0}, "warmup_epochs needs scheduler"),
    ({"betas": [0.9]}, "betas must be two numbers"),
    ({"betas": [0.9, 1.5]}, "must be ≤ 1"),
    ({"warmup_epochs": -1.0}, "must be ≥ 0"),
])  # fmt: skip
def test_config_checks(data, message):
    with pytest.raises(ConfigError, match=message):
        strict_dataclass(TrainConfig, data, "[train]")

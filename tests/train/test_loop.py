"""The shared training loop: 2-epoch smoke test, resume, early stopping, strict configs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from rhoml.models.registry import ConfigError, build_model
from rhoml.represent.voxel import Voxelizer, VoxelSpec
from rhoml.represent.voxel_data import VoxelDataset
from rhoml.train.config import TrainConfig, load_config
from rhoml.train.loop import Objective, fit, seed_everything
from rhoml.train.metrics import regression_report


def _data(molecules):
    spec = VoxelSpec(size=10.0, spacing=1.0, channels=("atoms", "density"))
    vox = Voxelizer(spec, engine="promolecule")(molecules)
    y = np.array([[m.n_atoms, float(m.positions[:, 0].std())] for m in molecules])
    return VoxelDataset(vox[:, None].numpy(), y, augment=True), spec


def _molecules(water, ethanol):
    rng = np.random.default_rng(0)
    mols = []
    for i in range(6):
        base = water if i % 2 else ethanol
        mols.append(base.transformed(None, rng.normal(size=3) * 0.3))
    return mols


def _setup(water, ethanol, **cfg):
    data, spec = _data(_molecules(water, ethanol))
    seed_everything(0)  # model initialisation happens before fit() seeds the loop
    model = build_model("resnet3d", {"width": 4, "depth": [1, 1]},
                        in_channels=spec.n_channels, targets=["n", "s"])  # fmt: skip
    model.set_target_stats(data.targets.mean(0), data.targets.std(0))
    obj = Objective(
        targets=lambda b: b["y"],
        criterion=lambda p, t: ((p - t) / model.target_std).abs().mean(),
        metrics=lambda p, t: regression_report(p, t, ["n", "s"]),
    )
    config = TrainConfig(**{"epochs": 2, "batch_size": 2, "seed": 3, "threads": 1, **cfg})
    return model, data, obj, config


def test_two_epoch_smoke_writes_metrics_and_checkpoints(water, ethanol, tmp_path):
    model, data, obj, config = _setup(water, ethanol)
    res = fit(model, data, data, obj, config, tmp_path, progress=False)
    assert res.epochs_run == 2 and 1 <= res.best_epoch <= 2
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "val_loss", "mae_n", "rmse_s", "lr"} <= set(rows[0])
    assert all(np.isfinite(float(r["val_loss"])) for r in rows)
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()


def test_resume_continues_and_matches_uninterrupted_run(water, ethanol, tmp_path):
    model, data, obj, config = _setup(water, ethanol, epochs=3)
    fit(model, data, data, obj, TrainConfig(**{**config.__dict__, "epochs": 1}),
        tmp_path / "a", progress=False)  # fmt: skip
    model2, data2, obj2, _ = _setup(water, ethanol)
    res = fit(model2, data2, data2, obj2, config, tmp_path / "a", progress=False)
    assert res.epochs_run == 3
    model3, data3, obj3, _ = _setup(water, ethanol)
    ref = fit(model3, data3, data3, obj3, config, tmp_path / "b", progress=False)
    got = [r["val_loss"] for r in res.history]
    want = [r["val_loss"] for r in ref.history]
    assert np.allclose(got, want, rtol=1e-5)


def test_early_stopping(water, ethanol, tmp_path):
    model, data, obj, config = _setup(water, ethanol, epochs=50, lr=1e-9, patience=2,
                                      scheduler="none")  # fmt: skip
    res = fit(model, data, data, obj, config, tmp_path, progress=False)
    assert res.epochs_run < 50


def test_config_with_unknown_key_rejected(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[train]\nepochs = 2\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match="unknown key.*learning_rate"):
        load_config(p, {"train": TrainConfig})
    p.write_text("[trian]\nepochs = 2\n")
    with pytest.raises(ConfigError, match="unknown section.*trian"):
        load_config(p, {"train": TrainConfig})
    p.write_text('[train]\nepochs = "two"\n')
    with pytest.raises(ConfigError, match="epochs"):
        load_config(p, {"train": TrainConfig})
    assert load_config({"train": {"epochs": 3}}, {"train": TrainConfig})["train"].epochs == 3


def test_cuda_when_available(water, ethanol, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model, data, obj, config = _setup(water, ethanol, device="cuda")
    res = fit(model, data, data, obj, config, tmp_path, progress=False)
    assert res.epochs_run == 2


def test_progress_bar_does_not_change_results(tmp_path):
    """Shuffling and augmentation draw from seeded generators only: a run with progress bars
    equals a quiet one bit for bit (a bar wrapped around the data loader used to draw from the
    loader's generator)."""
    import torch

    from rhoml.train.config import TrainConfig
    from rhoml.train.loop import Objective, fit

    class Noisy(torch.utils.data.Dataset):
        def __len__(self):
            return 12

        def __getitem__(self, i):  # augmentation from the global torch RNG, as voxel data do
            return {"x": torch.full((3,), float(i)) + torch.randn(3), "y": torch.tensor([i / 4])}

    def run(out, progress):
        torch.manual_seed(3)
        net = torch.nn.Sequential(torch.nn.Linear(3, 1))
        model = type("M", (torch.nn.Module,), {"forward": lambda s, b: net(b["x"])})()
        model.net = net
        obj = Objective(lambda b: b["y"], lambda p, t: ((p - t) ** 2).mean(), lambda p, t: {})
        cfg = TrainConfig(epochs=3, batch_size=4, bn_recalibration=0, device="cpu")
        return fit(model, Noisy(), Noisy(), obj, cfg, out, progress=progress).history

    quiet, shown = run(tmp_path / "a", False), run(tmp_path / "b", True)
    assert [r["train_loss"] for r in quiet] == [r["train_loss"] for r in shown]


def test_weight_decay_skips_biases_norms_and_declared_tokens():
    import torch
    from torch import nn

    from rhoml.train.loop import parameter_groups

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.norm = nn.LayerNorm(3)
            self.token = nn.Parameter(torch.zeros(1, 1, 3))

        def no_weight_decay(self):
            return {"token"}

    wrapper = nn.Sequential(Net())
    decay, rest = parameter_groups(wrapper, 0.05)
    assert decay["weight_decay"] == 0.05 and rest["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(wrapper[0].lin.weight)}
    assert len(rest["params"]) == 4  # bias, norm weight and bias, the declared token
    (single,) = parameter_groups(wrapper, 0.0)
    assert len(single["params"]) == 5

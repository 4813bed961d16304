"""Run folders: claimed by one config, resumable, atomic weights, manifests without NaN."""

from __future__ import annotations

import json

import pytest
import torch

from rhoml.config import ConfigError
from rhoml.errors import InputError
from rhoml.train.run_folder import RunFolder, data_fingerprint


def test_folder_is_claimed_by_its_config(tmp_path):
    cfg = {"family": "x", "train": {"epochs": 2, "lr": 0.1}}
    run = RunFolder.create(tmp_path / "r", cfg)
    assert run.config_path.is_file()
    again = RunFolder.create(tmp_path / "r", json.loads(json.dumps(cfg)))  # same config: resume
    assert again.path == run.path
    run.save_weights({"w": torch.ones(3)})
    before = run.weights_path.read_bytes()
    with pytest.raises(ConfigError, match=r"differs at train\.epochs"):
        RunFolder.create(tmp_path / "r", {"family": "x", "train": {"epochs": 3, "lr": 0.1}})
    assert run.weights_path.read_bytes() == before  # nothing touched


def test_non_run_folder_and_file_are_refused(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds no run"):
        RunFolder.create(tmp_path / "full", {"family": "x"})
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        RunFolder.create(tmp_path / "file", {"family": "x"})


def test_weights_manifest_and_metrics(tmp_path):
    run = RunFolder.create(tmp_path / "r", {"family": "x"})
    run.save_weights({"w": torch.arange(4.0)})
    assert not list(run.path.glob(".model.pt.*"))  # no temporary file left
    assert torch.equal(run.load_weights()["w"], torch.arange(4.0))
    ck = run.checkpoints("stage1")
    ck.mkdir(parents=True)
    (ck / "metrics.csv").write_text("epoch,train_loss,val_loss\n1,2.0,3.0\n2,1.0,1.5\n")
    ck2 = run.checkpoints("stage2")
    ck2.mkdir(parents=True)
    (ck2 / "metrics.csv").write_text("epoch,train_loss,val_loss\n1,0.5,0.7\n")
    run.collect_metrics({"stage1": ck, "stage2": ck2})
    rows = run.metrics_path.read_text().splitlines()
    assert rows[0] == "stage,epoch,train_loss,val_loss" and len(rows) == 4
    assert run.curve_path.stat().st_size > 1000
    m = run.write_manifest("x", inputs={"positions": "angstrom"}, outputs={"gap": "meV"},
                           build={}, metrics={"mae": float("nan")}, data="abc")  # fmt: skip
    assert m["metrics"]["mae"] is None and run.finished
    json.loads(run.manifest_path.read_text())  # valid JSON (no NaN)


def test_corrupt_weights_are_one_line_errors(tmp_path):
    run = RunFolder.create(tmp_path / "r", {"family": "x"})
    run.weights_path.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="not readable weights"):
        run.load_weights()


def test_data_fingerprint_sees_every_value():
    import numpy as np

    a = data_fingerprint(["qm9_000001", np.array([1.0, 2.0])])
    assert a == data_fingerprint(["qm9_000001", np.array([1.0, 2.0])])
    assert a != data_fingerprint(["qm9_000001", np.array([1.0, 2.0 + 1e-12])])


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path):
    from rhoml.errors import RhomlError
    from rhoml.train.config import TrainConfig
    from rhoml.train.loop import Objective, fit

    (tmp_path / "last.pt").write_bytes(b"truncated")
    model = torch.nn.Linear(1, 1)
    obj = Objective(lambda b: b, lambda p, t: (p - t).abs().mean(), lambda p, t: {})
    with pytest.raises(RhomlError, match="last.pt: unreadable checkpoint"):
        fit(model, [], [], obj, TrainConfig(epochs=1, device="cpu"), tmp_path, progress=False)

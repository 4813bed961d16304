"""The ImageED family through the run interface: a 2-epoch `rhoml train` on a tiny store of xTB
density images (32 px, resized to the 64-px model), reload, features equal to the in-memory
encoder, predictions from molecules, the validation masks, config errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from edg_store import SIZE, edg_store, imageed_run, molecules  # noqa: E402

from rhoml.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return edg_store(tmp_path_factory)


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    return imageed_run(tmp_path_factory)


def test_run_folder_is_complete_and_reloads(run_path):
    from rhoml import runs

    for name in ("config.toml", "manifest.json", "model.pt", "metrics.csv", "learning_curve.png"):
        assert (run_path / name).is_file(), name
    manifest = json.loads((run_path / "manifest.json").read_text())
    assert manifest["family"] == "imageed" and manifest["finished"]
    build, metrics = manifest["build"], manifest["metrics"]
    assert build["model"] == "vit-t-64" and build["feature_dim"] == 64
    assert build["image_shape"] == [6, SIZE, SIZE, 4] and build["model_config"]["image_size"] == 64
    assert build["render"]["size"] == SIZE and build["render"]["kind"] == "density"
    assert build["density_engine"]["engine"] == "xtb"
    assert metrics["n_train"] == 4 and metrics["n_val"] == 2 and metrics["epochs_run"] == 2
    assert metrics["val_patch_mse_of_the_mean_image"] > 0
    assert metrics["val_loss"] == pytest.approx(
        metrics["val_mask_loss"] + metrics["val_recovery_loss"], rel=1e-6)  # fmt: skip
    import tomllib

    resolved = tomllib.loads((run_path / "config.toml").read_text())
    train = resolved["train"]  # the MAE recipe's defaults, written out
    assert train["betas"] == [0.9, 0.95] and train["weight_decay"] == 0.05
    assert train["scheduler"] == "cosine" and train["warmup_epochs"] == 1.0
    run = runs.load(run_path)
    assert run.family == "imageed" and run.outputs == {"ed_features": "dimensionless"}
    assert not any(p.requires_grad for p in run.model.model.parameters())
    assert not run.model.model.training


def test_features_equal_the_in_memory_encoder(run_path, store):
    """Features of the reloaded run = the encoder of the best checkpoint the loop kept in
    memory, applied by hand to the resized, normalised images."""
    from rhoml import runs
    from rhoml.models.image.vit_mae import ViTMAE, ViTMAEConfig, prepare_images
    from rhoml.store.sqlite_store import Store

    run = runs.load(run_path)
    best = torch.load(run_path / "checkpoints" / "best.pt", weights_only=True)["model"]
    model = ViTMAE(ViTMAEConfig(**run.manifest["build"]["model_config"]))
    model.load_state_dict({k.removeprefix("mae."): v for k, v in best.items()})
    model.eval()
    with Store.open(store, readonly=True) as st:
        idx = st.indices()
        stored = np.stack([st.get_array(i, "edg_density_views") for i in idx])
        feats = run.model.features_from_store(st, idx)
    x = prepare_images(stored, 64)
    assert x.shape == (6, 6, 4, 64, 64)
    with torch.no_grad():
        latent, _, _ = model.forward_encoder(x, mask=False)
    np.testing.assert_allclose(feats, latent[:, 1:].mean(1).numpy(), rtol=1e-5, atol=1e-6)
    assert feats.shape == (6, 64) and np.isfinite(feats).all()
    assert np.abs(feats[0] - feats[1]).max() > 1e-3  # molecules differ


def test_predict_from_molecules_renders_as_in_training(run_path, store):
    from rhoml import runs
    from rhoml.store.sqlite_store import Store

    run = runs.load(run_path)
    mols = molecules()[:2]
    rows = run.predict(mols)
    with Store.open(store, readonly=True) as st:
        stored = run.model.features_from_store(st, st.indices()[:2])
    assert [r["id"] for r in rows] == ["m0", "m1"]
    np.testing.assert_allclose(np.stack([r["ed_features"] for r in rows]), stored, atol=1e-5)


def test_validation_masks_are_fixed_per_molecule():
    from rhoml.families.imageed import fixed_noise

    a = fixed_noise(torch.tensor([3, 7]), 24, seed=0)
    b = fixed_noise(torch.tensor([7, 3]), 24, seed=0)
    assert torch.equal(a[0], b[1]) and torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])
    assert not torch.equal(fixed_noise(torch.tensor([3]), 24, seed=1)[0], a[0])


def test_rerun_returns_the_finished_run(run_path, tmp_path_factory, capsys):
    cfg = tmp_path_factory.getbasetemp() / "imageed.toml"
    before = (run_path / "model.pt").read_bytes()
    assert main(["train", str(cfg), "--out", str(run_path), "--quiet"]) == 0
    assert (run_path / "model.pt").read_bytes() == before


BAD = [
    ('[data]\nstore = "{store}"\nval_frac = 0.1\n', "unknown key"),
    ('[data]\nstore = "{store}/missing"\n', "no such file"),
    ('[data]\nstore = "{store}"\n[model]\nname = "resnet3d-tiny"\n', "not a vit-mae model"),
    ('[data]\nstore = "{store}"\n[model]\nname = "vit-t-64"\nimage_size = 60\n',
     "multiple of patch_size"),
    ('[data]\nstore = "{store}"\n[train]\nbetas = [0.9]\n', "betas"),
    ('[data]\nstore = "{store}"\n[train]\nscheduler = "plateau"\n', "warmup_epochs"),
    ('[data]\nstore = "{store}"\nimages = "edg_structure_views"\n[model]\nname = "vit-t-64"\n'
     '[train]\nepochs = 1\n', "3 channels"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), BAD)
def test_config_errors_exit_2_with_one_line(body, message, store, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('family = "imageed"\n' + body.format(store=store))
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rhoml: error:") and "\n" not in err and message in err, err

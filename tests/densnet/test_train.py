"""Training config strictness and a tiny end-to-end training on synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.densnet.train import TrainConfig
from rhoml.errors import InputError

CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[2] / "configs"


def test_example_configs_parse():
    for p in sorted(CONFIGS.glob("densnet_*.toml")):
        cfg = TrainConfig.from_file(p)
        assert cfg.mode in ("delta", "full")


def test_unknown_key_rejected(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('store = "s"\noutput = "o.pt"\nepochs = 3\n')
    with pytest.raises(InputError, match="epochs"):
        TrainConfig.from_file(p)


def test_unknown_network_key_rejected():
    from rhoml.densnet.model import NetConfig

    with pytest.raises(InputError, match="width"):
        NetConfig.from_dict({"width": 3})


def _water_frames(water, basis, n: int = 10, n_test: int = 2):
    """Synthetic targets: fitted promolecule densities of distorted water (no DFT needed)."""
    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.densnet.data import Frame
    from rhoml.molecule import Molecule

    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        split = "test" if i >= n - n_test else "train"
        m = Molecule(
            water.numbers, water.positions + 0.08 * rng.normal(size=(3, 3)), id=f"w_{split}#{i}"
        )
        fit = fit_density(compute_promolecule(m), basis.pyscf_basis())
        metric = basis_only_mol(m, basis.pyscf_basis()).intor("int2c2e")
        frames.append(
            Frame(m, float(-47000 + rng.normal()), rng.normal(size=(3, 3)), fit.data, metric, split)
        )
    return frames


def _tiny_config(tmp_path, name="m.pt", **kw):
    return TrainConfig(
        store="unused",
        output=str(tmp_path / name),
        density_epochs=kw.pop("density_epochs", 15),
        energy_epochs=kw.pop("energy_epochs", 2),
        batch_size=4,
        lr=1e-2,
        density_net={"channels": 8, "vectors": 4, "layers": 1},
        energy_net={"channels": 8, "vectors": 4, "lmax": 1, "lmax_sh": 1, "layers": 1},
        **kw,
    )


def test_tiny_training_reduces_density_loss(tmp_path, water):
    from rhoml.densnet.potential import load_model
    from rhoml.densnet.train import make_basis, run_training

    cfg = _tiny_config(tmp_path)
    frames = _water_frames(water, make_basis(cfg, ["H", "O"]))
    summary = run_training(cfg, frames=frames, log=lambda s: None)
    assert summary["density_loss"][-1] < 0.5 * summary["density_loss"][0]
    model = load_model(cfg.output)
    out = model.predict(frames[0].molecule)
    assert out["forces"].shape == (3, 3) and np.isfinite(out["energy"])
    # continue the saved model's energy stage: its coefficient network stays as trained
    import dataclasses

    import torch

    more = dataclasses.replace(
        cfg, init=cfg.output, output=str(tmp_path / "m2.pt"), density_epochs=0, energy_epochs=3
    )
    summary2 = run_training(more, frames=frames, log=lambda s: None)
    assert summary2["density_loss"] == [] and len(summary2["energy_loss"]) == 3
    cont = load_model(more.output)
    for a, b in zip(cont.coeff_net.parameters(), model.coeff_net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(cont.energy_net.parameters(), model.energy_net.parameters(), strict=True)
    )
    assert cont.basis.key() == model.basis.key()


def test_loss_metric_validated_and_overlap_needs_matrix(water):
    """``loss_metric`` accepts coulomb/overlap only; the overlap loss is ∫δρ² = δcᵀSδc."""
    import torch

    from rhoml.density.basis import basis_only_mol
    from rhoml.densnet.data import Frame
    from rhoml.densnet.train import coulomb_losses, make_basis

    with pytest.raises(InputError, match="loss_metric"):
        TrainConfig.from_dict({"store": "s", "output": "o", "loss_metric": "l1"})
    cfg = TrainConfig(store="s", output="o", loss_metric="overlap")
    basis = make_basis(cfg, ["H", "O"])
    aux = basis_only_mol(water, basis.pyscf_basis())
    n = aux.nao_nr()
    rng = np.random.default_rng(1)
    target = rng.normal(size=n)
    s = aux.intor("int1e_ovlp")
    frame = Frame(water, 0.0, np.zeros((3, 3)), target, aux.intor("int2c2e"), "train")
    pred = torch.as_tensor(target + rng.normal(size=n))
    with pytest.raises(InputError, match="overlap"):
        coulomb_losses(pred, [frame], "overlap")
    frame.overlap = s
    d = pred.numpy() - target
    got = coulomb_losses(pred, [frame], "overlap")
    assert float(got[0]) == pytest.approx(d @ s @ d)
    assert float(coulomb_losses(pred, [frame])[0]) == pytest.approx(d @ frame.metric @ d)
    assert d @ s @ d != pytest.approx(d @ frame.metric @ d)


def test_orthogonalise_option_builds_orthogonal_basis():
    from rhoml.densnet.train import make_basis

    with pytest.raises(InputError, match="orthogonalise"):
        TrainConfig.from_dict({"store": "s", "output": "o", "orthogonalise": "yes"})
    cfg = TrainConfig(store="s", output="o", basis="etb:def2-svp:2.0", orthogonalise="coulomb")
    b = make_basis(cfg, ["H", "O"])
    assert "orth(coulomb" in b.name and max(b.ls("O")) == 3
    assert all(len(exps) > 1 for l, exps, _ in b.shells["O"] if l == 0)


def test_density_stage_loss_is_the_coulomb_norm(water):
    """|Lᵀ c − Lᵀ c_fit|² of the whitened stage output equals δcᵀ J δc per molecule."""
    import torch

    from rhoml.densnet.train import (
        _items,
        _stage_modules,
        build_model,
        collate_items,
        coulomb_losses,
        make_basis,
    )

    cfg = TrainConfig(store="s", output="o", dtype="float64",
                      density_net={"channels": 4, "vectors": 2, "layers": 1})  # fmt: skip
    frames = _water_frames(water, make_basis(cfg, ["H", "O"]), n=3, n_test=0)
    model = build_model(cfg, frames)
    density_stage, _ = _stage_modules()
    batch = collate_items(_items(frames, "coulomb", torch.float64))
    with torch.no_grad():
        pred = density_stage(model.coeff_net)(batch)
        coeff, _, _ = model.coeff_net(batch["z"], batch["pos"], batch["batch"], batch["n_e"])
    whitened = float(((pred - batch["density_target"]) ** 2).sum())
    assert whitened == pytest.approx(float(coulomb_losses(coeff, frames).sum()), rel=1e-8)


def test_training_resumes_after_interruption(tmp_path, water, monkeypatch):
    """A run killed in the energy stage resumes from its checkpoints (density stage not redone)
    and ends with the same model as an uninterrupted run; other configs are refused."""
    import dataclasses

    import torch

    import rhoml.densnet.train as tr
    from rhoml.densnet.potential import load_model

    cfg = _tiny_config(tmp_path, "a.pt", density_epochs=4, energy_epochs=3)
    frames = _water_frames(water, tr.make_basis(cfg, ["H", "O"]), n=6)
    ref = tr.run_training(cfg, frames=frames, log=lambda s: None)

    run = dataclasses.replace(cfg, output=str(tmp_path / "b.pt"))
    real = tr.fit_stage

    def killed(module, items, epochs, c, objective, out_dir, progress):
        if out_dir.name == "energy":
            raise KeyboardInterrupt
        return real(module, items, epochs, c, objective, out_dir, progress)

    monkeypatch.setattr(tr, "fit_stage", killed)
    with pytest.raises(KeyboardInterrupt):
        tr.run_training(run, frames=frames, log=lambda s: None)
    monkeypatch.setattr(tr, "fit_stage", real)
    assert (tmp_path / "b.train" / "density" / "last.pt").is_file()
    assert not (tmp_path / "b.pt").exists()
    resumed = tr.run_training(run, frames=frames, log=lambda s: None)
    assert resumed["density_loss"] == pytest.approx(ref["density_loss"])
    assert resumed["energy_loss"] == pytest.approx(ref["energy_loss"])
    a, b = load_model(cfg.output), load_model(run.output)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q)
    with pytest.raises(InputError, match="delete it"):
        tr.run_training(dataclasses.replace(run, lr=2e-2), frames=frames, log=lambda s: None)


def test_training_under_torchrun_ddp(tmp_path):
    """Two CPU ranks (gloo) train one DenSNet through DistributedDataParallel; rank 0 writes
    the model and each stage's metrics.csv."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from rhoml.densnet.potential import load_model

    script = Path(__file__).with_name("ddp_train_script.py")
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(script), str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    model = load_model(out)
    assert model.meta["n_train"] == 4
    for stage, epochs in (("density", 3), ("energy", 2)):
        rows = (tmp_path / "ddp.train" / stage / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + epochs

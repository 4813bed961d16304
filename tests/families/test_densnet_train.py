"""DenSNet training pieces: the density losses (Coulomb and overlap norms), the orthogonalised
basis option and the whitened density stage. End-to-end training into run folders is tested in
tests/families/test_densnet.py."""

from __future__ import annotations

import numpy as np
import pytest
from densnet_fixtures import water_frames

from rhoml.config import ConfigError, strict_dataclass
from rhoml.errors import InputError
from rhoml.families.densnet_config import BasisSection, TrainSection
from rhoml.models.densnet.nets import NetConfig


def test_unknown_network_key_rejected():
    with pytest.raises(ConfigError, match="width"):
        strict_dataclass(NetConfig, {"width": 3}, "[density_net]")
    with pytest.raises(ConfigError, match="cutoff"):
        strict_dataclass(NetConfig, {"cutoff": 0}, "[density_net]")


def test_loss_metric_validated_and_overlap_needs_matrix(water):
    """``loss_metric`` accepts coulomb/overlap only; the overlap loss is ∫δρ² = δcᵀSδc."""
    import torch

    from rhoml.density.basis import basis_only_mol
    from rhoml.families.densnet_train import coulomb_losses, make_basis
    from rhoml.represent.coefficients import Frame

    with pytest.raises(ConfigError, match="loss_metric"):
        strict_dataclass(TrainSection, {"loss_metric": "l1"}, "[train]")
    basis = make_basis(BasisSection(), ["H", "O"])
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
    from rhoml.families.densnet_train import make_basis

    with pytest.raises(ConfigError, match="orthogonalise"):
        strict_dataclass(BasisSection, {"orthogonalise": "yes"}, "[basis]")
    cfg = BasisSection(basis="etb:def2-svp:2.0", orthogonalise="coulomb")
    b = make_basis(cfg, ["H", "O"])
    assert "orth(coulomb" in b.name and max(b.ls("O")) == 3
    assert all(len(exps) > 1 for l, exps, _ in b.shells["O"] if l == 0)


def test_density_stage_loss_is_the_coulomb_norm():
    """|Lᵀ c − Lᵀ c_fit|² of the whitened stage output equals δcᵀ J δc per molecule."""
    import torch

    from rhoml.config import load_config
    from rhoml.families.densnet_config import SECTIONS
    from rhoml.families.densnet_train import (
        _items,
        _stage_modules,
        build_model,
        collate_items,
        coulomb_losses,
        make_basis,
    )

    table = {"data": {"store": "s"}, "train": {"dtype": "float64"},
             "density_net": {"channels": 4, "vectors": 2, "layers": 1}}  # fmt: skip
    cfg = load_config(table, SECTIONS)
    frames = water_frames(make_basis(cfg["basis"], ["H", "O"]), n=3, n_test=0)
    model = build_model(cfg, frames)
    density_stage, _, _ = _stage_modules()
    batch = collate_items(_items(frames, "coulomb", torch.float64))
    with torch.no_grad():
        pred = density_stage(model.coeff_net)(batch)
        coeff, _, _ = model.coeff_net(batch["z"], batch["pos"], batch["batch"], batch["n_e"])
    whitened = float(((pred - batch["density_target"]) ** 2).sum())
    assert whitened == pytest.approx(float(coulomb_losses(coeff, frames).sum()), rel=1e-8)


def _mixed_frames(basis):
    """Water frames and two hydrogen-peroxide frames (different sizes in one batch)."""
    from rhoml import Molecule
    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.represent.coefficients import Frame

    frames = water_frames(basis, n=3, n_test=0)
    rng = np.random.default_rng(1)
    base = np.array([[0.0, 0.73, -0.05], [0.0, -0.73, -0.05], [0.8, 0.9, 0.45], [-0.8, -0.9, 0.45]])
    for k in range(2):
        m = Molecule.from_symbols(["O", "O", "H", "H"], base + rng.normal(0, 0.05, base.shape),
                                  id=f"h2o2_{k}")  # fmt: skip
        fit = fit_density(compute_promolecule(m), basis.pyscf_basis())
        metric = basis_only_mol(m, basis.pyscf_basis()).intor("int2c2e")
        frames.insert(1 + k, Frame(m, -10.0 * k, rng.normal(size=(4, 3)), fit.data, metric,
                                   "train"))  # fmt: skip
    return frames


def _small_model(dtype="float64"):
    from rhoml.config import load_config
    from rhoml.families.densnet_config import SECTIONS
    from rhoml.families.densnet_train import build_model, make_basis

    table = {"data": {"store": "s"}, "train": {"dtype": dtype},
             "density_net": {"channels": 4, "vectors": 2, "layers": 1},
             "energy_net": {"channels": 4, "vectors": 2, "layers": 1}}  # fmt: skip
    cfg = load_config(table, SECTIONS)
    frames = _mixed_frames(make_basis(cfg["basis"], ["H", "O"]))
    model = build_model(cfg, frames)
    for p in model.coeff_net.parameters():
        p.requires_grad_(False)
    return model, frames


def test_frozen_feature_jacobians_match_finite_differences():
    import torch

    from rhoml.families.densnet_frozen import add_frozen_features
    from rhoml.families.densnet_train import _items

    model, frames = _small_model()
    items = _items(frames, "coulomb", torch.float64, density=False)
    add_frozen_features(model.coeff_net, items, batch_size=4)
    it = items[1]  # a peroxide frame, batched with waters
    assert sorted(it["feats"]) == [1, 8] and it["jac"].shape[1] == 12

    def flat(pos):
        n_e = torch.tensor([float(it["n_e"])], dtype=torch.float64)
        _, feats, _ = model.coeff_net(it["z"], pos, torch.zeros(4, dtype=torch.long), n_e)
        return torch.cat([feats[k][1].reshape(-1) for k in sorted(feats)])

    with torch.no_grad():
        np.testing.assert_allclose(flat(it["pos"]), torch.cat(
            [it["feats"][k].reshape(-1) for k in sorted(it["feats"])]), atol=1e-12)  # fmt: skip
        h = 1e-5
        for col in (0, 5, 11):
            step = torch.zeros(12, dtype=torch.float64)
            step[col] = h
            fd = flat(it["pos"] + step.reshape(4, 3)) - flat(it["pos"] - step.reshape(4, 3))
            np.testing.assert_allclose(it["jac"][:, col], fd / (2 * h), atol=1e-7)


def test_frozen_energy_stage_equals_the_stage_through_both_networks():
    """Same energies, forces and parameter gradients as forces through both networks, on a
    batch mixing molecules of different sizes."""
    import torch

    from rhoml.families.densnet_frozen import add_frozen_features, collate_frozen
    from rhoml.families.densnet_train import _items, _stage_modules, collate_items

    model, frames = _small_model()
    items = _items(frames, "coulomb", torch.float64, density=False)
    add_frozen_features(model.coeff_net, items, batch_size=2)  # chunks differ from the batch
    _, full_stage, frozen_stage = _stage_modules()
    outs, grads = [], []
    for stage, collate in ((full_stage, collate_items), (frozen_stage, collate_frozen)):
        module = stage(model, 0.7, 1.3).train()
        module.zero_grad()
        out = module(collate(items))
        (out**2).sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in model.energy_net.parameters()])
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-9, atol=1e-10)
    for g_frozen, g_full in zip(grads[1], grads[0], strict=True):
        np.testing.assert_allclose(g_frozen, g_full, rtol=1e-7, atol=1e-10)
    assert all(p.grad is None for p in model.coeff_net.parameters())


def test_frozen_features_need_a_frozen_coefficient_network():
    import torch

    from rhoml.families.densnet_frozen import add_frozen_features
    from rhoml.families.densnet_train import _items

    model, frames = _small_model()
    model.coeff_net.requires_grad_(True)
    with pytest.raises(ValueError, match="freeze"):
        add_frozen_features(model.coeff_net, _items(frames[:1], "coulomb", torch.float64,
                                                    density=False))  # fmt: skip

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
    density_stage, _ = _stage_modules()
    batch = collate_items(_items(frames, "coulomb", torch.float64))
    with torch.no_grad():
        pred = density_stage(model.coeff_net)(batch)
        coeff, _, _ = model.coeff_net(batch["z"], batch["pos"], batch["batch"], batch["n_e"])
    whitened = float(((pred - batch["density_target"]) ** 2).sum())
    assert whitened == pytest.approx(float(coulomb_losses(coeff, frames).sum()), rel=1e-8)

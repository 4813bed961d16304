"""DenSNet with the energy stage on another file's energies and forces (``[data] energy_file``,
e.g. all rMD17 training frames): units converted from the file's, validation frames held out
and used for model selection, test metrics on ``energy_test_file``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from densnet_fixtures import TINY_NETS, water_molecules, write_label_store

from rhoml.cli import main
from rhoml.represent.coefficients import energy_frames


def _npz(path, n: int, seed: int) -> np.ndarray:
    """An rMD17-style file of ``n`` distorted waters (energies kcal/mol, forces kcal/mol/Å)."""
    mols = water_molecules(n, 0, seed)
    np.savez(path, nuclear_charges=mols[0].numbers, coords=np.stack([m.positions for m in mols]),
             energies=np.array([m.labels["energy"] for m in mols]),
             forces=np.stack([m.labels["forces"] for m in mols]))  # fmt: skip
    return np.array([m.labels["energy"] for m in mols])


def test_energy_frames_convert_units_and_refuse_unlabelled(tmp_path):
    energies = _npz(tmp_path / "e.npz", 5, 1)
    frames = energy_frames(tmp_path / "e.npz")
    assert [f.energy for f in frames] == pytest.approx(energies)
    assert frames[0].forces.shape == (3, 3) and frames[0].coeff.size == 0
    from rhoml.io.xyz import write_xyz
    from rhoml.molecule import Molecule

    m = frames[0].molecule
    xyz = tmp_path / "e.xyz"  # energy in eV in an extended XYZ file
    write_xyz(xyz, Molecule(m.numbers, m.positions, id="a", labels={"energy": 1.0, "forces":
              np.ones((3, 3))}, label_units={"energy": "eV", "forces": "eV/angstrom"}))  # fmt: skip
    (f,) = energy_frames(xyz)
    assert f.energy == pytest.approx(23.0605, rel=1e-4)
    assert f.forces[0, 0] == pytest.approx(23.0605, rel=1e-4)
    write_xyz(tmp_path / "bare.xyz", Molecule(m.numbers, m.positions, id="b"))
    with pytest.raises(Exception, match="bare.xyz.*energy"):
        energy_frames(tmp_path / "bare.xyz")


def test_energy_stage_on_an_energy_file_with_validation(tmp_path, capsys):
    write_label_store(tmp_path / "w.rhoml", n=4, n_test=1)
    _npz(tmp_path / "train.npz", 9, 2)
    _npz(tmp_path / "test.npz", 3, 3)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'family = "densnet"\n\n[data]\nstore = "w.rhoml"\nenergy_file = "train.npz"\n'
        'energy_validation = 3\nenergy_n_train = 5\nenergy_test_file = "test.npz"\n'
        f"{TINY_NETS}\n[train]\nbatch_size = 2\nlr = 1e-2\ndensity_epochs = 1\nenergy_epochs = 3\n"
        "patience = 1\n"
    )  # fmt: skip
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    m = man["metrics"]
    assert (m["n_train"], m["n_test"]) == (3, 1)  # density frames of the store
    assert (m["n_energy_train"], m["n_energy_validation"], m["n_energy_test"]) == (5, 3, 3)
    assert m["force_mae_kcal_mol_angstrom"] > 0 and "coulomb_error_hartree" in m
    assert man["build"]["meta"]["energy_labels"]["file"] == "train.npz"
    rows = (out / "checkpoints" / "energy" / "metrics.csv").read_text().splitlines()
    val = [float(r.split(",")[2]) for r in rows[1:]]
    best = json.loads(json.dumps(__import__("torch").load(out / "checkpoints" / "energy" /
                                                          "best.pt")["value"]))  # fmt: skip
    assert best == pytest.approx(min(val))  # model selection on the validation loss
    # a missing energy file is refused before any work
    cfg.write_text(cfg.read_text().replace('"train.npz"', '"nowhere.npz"'))
    assert main(["train", str(cfg), "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert "nowhere.npz" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def test_energy_only_continuation_with_a_new_energy_net_needs_no_store(tmp_path, capsys):
    """`init` + `density_epochs = 0` + `energy_file` trains without a label store; with
    `new_energy_net` the run's coefficient network carries a fresh, differently sized energy
    network; without the continuation's conditions a missing store is refused."""
    import torch

    from rhoml import runs

    write_label_store(tmp_path / "w.rhoml", n=4, n_test=1)
    _npz(tmp_path / "train.npz", 9, 2)
    _npz(tmp_path / "test.npz", 3, 3)
    first = tmp_path / "first"
    cfg = tmp_path / "a.toml"
    cfg.write_text(
        f'family = "densnet"\n\n[data]\nstore = "w.rhoml"\n{TINY_NETS}\n[train]\n'
        "batch_size = 2\nlr = 1e-2\ndensity_epochs = 1\nenergy_epochs = 1\n"
    )
    assert main(["train", str(cfg), "--out", str(first), "--quiet"]) == 0
    cont = tmp_path / "b.toml"
    cont.write_text(
        'family = "densnet"\n\n[data]\nenergy_file = "train.npz"\nenergy_validation = 2\n'
        'energy_test_file = "test.npz"\n\n[energy_net]\nchannels = 6\nvectors = 3\nlmax = 1\n'
        'lmax_sh = 1\nlayers = 1\n\n[train]\ninit = "first"\nnew_energy_net = true\n'
        "batch_size = 2\nlr = 1e-2\ndensity_epochs = 0\nenergy_epochs = 2\n"
    )  # fmt: skip
    out = tmp_path / "second"
    assert main(["train", str(cont), "--out", str(out), "--quiet"]) == 0
    a, b = runs.load(first), runs.load(out)
    assert b.is_potential and b.model.stages == ["density", "energy"]
    for p, q in zip(a.model.module.coeff_net.parameters(), b.model.module.coeff_net.parameters(),
                    strict=True):  # fmt: skip
        assert torch.equal(p, q)
    assert b.model.module.hparams["energy_cfg"]["channels"] == 6
    assert a.model.module.hparams["energy_cfg"]["channels"] != 6
    m = b.manifest["metrics"]
    assert (
        m["n_energy_train"] == 7
        and m["n_energy_test"] == 3
        and m["force_mae_kcal_mol_angstrom"] > 0
    )
    assert "coulomb_error_hartree" not in m  # no label store: no density metrics
    assert b.model.module.meta["level"] == a.model.module.meta["level"]
    mol = b.model.start_molecule()
    assert np.isfinite(b.model.compute(mol)["energy"])
    # the store is required unless all three conditions hold
    cont.write_text(cont.read_text().replace("density_epochs = 0", "density_epochs = 1"))
    capsys.readouterr()
    assert main(["train", str(cont), "--out", str(tmp_path / "third"), "--quiet"]) == 2
    assert "[data] store: required" in capsys.readouterr().err

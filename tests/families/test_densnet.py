"""The DenSNet family: strict config sections, `rhoml train` into a run folder, reload, predict,
resume, init from another run, density-only runs, and the converted shipped ethanol run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from densnet_fixtures import TINY_NETS, water_frames, write_label_store

from rhoml import runs
from rhoml.cli import main
from rhoml.config import load_config
from rhoml.families.densnet import DenSNetFamily, DenSNetPotential, train_run
from rhoml.molecule import Molecule
from rhoml.train.run_folder import RunFolder

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DATA = Path(__file__).resolve().parent / "data"


def _config(tmp_path, train: str = "density_epochs = 2\nenergy_epochs = 2", name="c.toml",
            store: str = "w.rhoml") -> Path:  # fmt: skip
    p = tmp_path / name
    defaults = "".join(f"{k} = {v}\n" for k, v in (("batch_size", 2), ("lr", 1e-2))
                       if f"{k} =" not in train)  # fmt: skip
    p.write_text(f'family = "densnet"\n\n[data]\nstore = "{store}"\n{TINY_NETS}\n'
                 f"[train]\n{defaults}{train}\n")  # fmt: skip
    return p


def _sections(**train):
    """Loaded tiny sections (float64 training) for :func:`train_run` with injected frames."""
    table = {"data": {"store": "unused"}, "density_net": {"channels": 4, "vectors": 2, "layers": 1},
             "energy_net": {"channels": 4, "vectors": 2, "lmax": 1, "lmax_sh": 1, "layers": 1},
             "train": {"batch_size": 4, "lr": 1e-2, "dtype": "float64", **train}}  # fmt: skip
    return load_config(table, DenSNetFamily.sections)


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("rhoml: error: ") and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("densnet_*.toml")), ids=lambda p: p.stem)
def test_shipped_configs_load_with_paths_relative_to_the_file(path):
    raw = __import__("tomllib").loads(path.read_text())
    assert raw.pop("family") == "densnet"
    cfg = load_config(raw, DenSNetFamily.sections, str(path), base_dir=path.parent)
    store = Path(cfg["data"].store)
    if cfg["data"].store or not cfg["train"].init:  # else an energy-only continuation
        assert store.is_absolute() and store.resolve().is_relative_to(CONFIGS.parent / "runs")
    else:
        assert Path(cfg["data"].energy_file).is_absolute() and cfg["train"].density_epochs == 0
    assert cfg["basis"].mode in ("delta", "full")
    if cfg["train"].init:  # a run trained by another config, or a shipped run
        init = Path(cfg["train"].init).resolve()
        shipped = CONFIGS.parent / "src" / "rhoml" / "data" / "runs"
        assert init.parent in (CONFIGS.parent / "runs" / "densnet", shipped)
        assert init.parent != shipped or (init / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('lr = "fast"', ["[train].lr", "number"]),
        ("batch_size = -1", ["[train].batch_size", "≥ 1"]),
        ("epochs = 3", ["unknown key", "epochs"]),
        ('dtype = "float16"', ["[train].dtype", "float32"]),
        ('device = "gpu"', ["device", "cuda"]),
        ("density_epochs = 0\nenergy_epochs = 0", ["nothing to train"]),
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, capsys, line, words):
    write_label_store(tmp_path / "w.rhoml", n=2, n_test=0)
    cfg = _config(tmp_path, train=line)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = _err_line(capsys)
    assert str(cfg) in err and all(w in err for w in words), err
    assert not (tmp_path / "run").exists()  # refused before any work


def test_missing_store_and_bad_network_are_refused(tmp_path, capsys):
    cfg = _config(tmp_path, store="nowhere.rhoml")
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "nowhere.rhoml" in _err_line(capsys)
    text = cfg.read_text().replace("layers = 1\n\n[energy_net]", "layers = 0\n\n[energy_net]")
    cfg.write_text(text)
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "[density_net].layers" in _err_line(capsys)


def test_train_reload_predict_and_rerun(tmp_path, capsys):
    """A 2-epoch `rhoml train` on a tiny store: run folder complete, reloaded model equal to the
    trained one, `rhoml predict` equal to the in-memory model, rerun returns the finished run."""
    mols = write_label_store(tmp_path / "w.rhoml")
    cfg = _config(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    for name in ("config.toml", "manifest.json", "model.pt", "metrics.csv", "learning_curve.png"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["family"] == "densnet" and manifest["build"]["stages"] == ["density", "energy"]
    assert manifest["outputs"] == {"energy": "kcal/mol", "forces": "kcal/mol/angstrom",
                                   "dipole": "debye"}  # fmt: skip
    assert manifest["metrics"]["n_train"] == 4 and manifest["metrics"]["n_test"] == 2
    assert manifest["build"]["meta"]["atom_counts"] == [3]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("stage,") and len(rows) == 1 + 2 + 2
    run = runs.load(out)
    assert isinstance(run.model, DenSNetPotential) and run.is_potential
    assert run.config["data"]["store"] == str(tmp_path / "w.rhoml")
    xyz = tmp_path / "w.xyz"
    from rhoml.io.xyz import format_xyz

    xyz.write_text("".join(format_xyz(Molecule(m.numbers, m.positions, id=m.id)) for m in mols))
    capsys.readouterr()
    assert main(["predict", str(out), str(xyz), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    lines = [ln for ln in (tmp_path / "p.csv").read_text().splitlines() if not ln.startswith("#")]
    assert lines[0] == "id,energy [kcal/mol],forces [kcal/mol/angstrom],dipole [debye]"
    from rhoml.io import read_molecules

    expect = run.predict(list(read_molecules(xyz)))  # the same in-memory model on the same input
    for line, row in zip(lines[1:], expect, strict=True):
        ident, energy, forces, dipole = line.split(",")
        assert ident == row["id"] and float(energy) == row["energy"]
        assert np.array_equal(np.array(forces.split(), float), row["forces"].ravel())
        assert np.array_equal(np.array(dipole.split(), float), row["dipole"])
    # the model of the run folder is the trained one: module path equals the fast path
    slow = run.model.module.predict(mols[0], fast=False)
    assert slow["energy"] == pytest.approx(expect[0]["energy"], abs=1e-8)
    mtime = (out / "model.pt").stat().st_mtime_ns
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0  # finished: not retrained
    assert (out / "model.pt").stat().st_mtime_ns == mtime
    other = _config(tmp_path, train="density_epochs = 3\nenergy_epochs = 2", name="d.toml")
    assert main(["train", str(other), "--out", str(out), "--quiet"]) == 2
    assert "another config" in _err_line(capsys)


def test_training_resumes_after_interruption(tmp_path, monkeypatch, water):
    """A run killed in the energy stage resumes from its checkpoints (density stage not redone)
    and ends with the same model as an uninterrupted run."""
    import rhoml.families.densnet_train as tr
    from rhoml.config import as_dict

    cfg = _sections(density_epochs=4, energy_epochs=3)
    frames = water_frames(tr.make_basis(cfg["basis"], ["H", "O"]), n=6)
    resolved = {"family": "densnet", **as_dict(cfg)}
    ref = RunFolder.create(tmp_path / "a", resolved)
    train_run(cfg, ref, frames=frames, progress=False)
    real = tr.fit_stage

    def killed(module, items, epochs, c, objective, out_dir, progress, *rest):
        if out_dir.name == "energy":
            raise KeyboardInterrupt
        return real(module, items, epochs, c, objective, out_dir, progress, *rest)

    run = RunFolder.create(tmp_path / "b", resolved)
    monkeypatch.setattr(tr, "fit_stage", killed)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, run, frames=frames, progress=False)
    monkeypatch.setattr(tr, "fit_stage", real)
    assert (run.checkpoints("density") / "last.pt").is_file() and not run.weights_path.exists()
    train_run(cfg, run, frames=frames, progress=False)
    a, b = ref.load_weights(), run.load_weights()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # other training frames with the same config: refused, checkpoints kept
    from rhoml.errors import InputError

    with pytest.raises(InputError, match="other training frames"):
        train_run(cfg, run, frames=frames[1:], progress=False)


def test_init_continues_a_run_and_density_only_runs_are_not_potentials(tmp_path, capsys):
    """`init` continues a run folder's energy stage (its coefficient network unchanged); a run
    whose energy stage never ran predicts dipoles only and `rhoml md` refuses it."""
    write_label_store(tmp_path / "w.rhoml")
    first = tmp_path / "dens"
    cfg = _config(tmp_path, train="density_epochs = 2\nenergy_epochs = 0", name="d.toml")
    assert main(["train", str(cfg), "--out", str(first), "--quiet"]) == 0
    dens = runs.load(first)
    assert not dens.is_potential and dens.outputs == {"dipole": "debye"}
    assert "energy_mae_kcal_mol" not in dens.manifest["metrics"]
    assert "coulomb_error_hartree" in dens.manifest["metrics"]
    capsys.readouterr()
    assert main(["md", str(first), "--steps", "2", "--out", str(tmp_path / "t.npz")]) == 2
    assert "not energies and forces" in _err_line(capsys)
    cont = _config(tmp_path, train='init = "dens"\ndensity_epochs = 0\nenergy_epochs = 2',
                   name="e.toml")  # fmt: skip
    assert main(["train", str(cont), "--out", str(tmp_path / "energy"), "--quiet"]) == 0
    run = runs.load(tmp_path / "energy")
    assert run.is_potential and run.model.stages == ["density", "energy"]
    a, b = dens.model.module, run.model.module
    for p, q in zip(a.coeff_net.parameters(), b.coeff_net.parameters(), strict=True):
        assert torch.equal(p, q)
    assert any(not torch.equal(p, q) for p, q in
               zip(a.energy_net.parameters(), b.energy_net.parameters(), strict=True))  # fmt: skip
    assert run.manifest["build"]["meta"]["init"]["path"] == str(first)
    bad = _config(tmp_path, train='init = "nowhere"\nenergy_epochs = 2', name="f.toml")
    assert main(["train", str(bad), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "not a run folder" in _err_line(capsys)


def test_shipped_ethanol_run_predicts_its_recorded_numbers():
    """The shipped run (energy stage on all 950 rMD17 training frames, issue 14) predicts the
    numbers recorded when it was shipped on an rMD17 ethanol test frame (fast float64, module
    float64, fast float32), its fast and module paths agree to round-off, and its manifest
    records the rMD17 energy labels and the test metrics on the 1000 rMD17 test frames."""
    ref = json.loads((DATA / "densnet_ethanol_shipped_reference.json").read_text())
    run = runs.load("ethanol")
    assert run.family == "densnet" and run.is_potential
    mol = Molecule(ref["numbers"], ref["positions_angstrom"], id=ref["id"])
    fast = run.potential().compute(mol)
    slow = run.model.module.predict(mol, fast=False)
    f32 = run.model.astype("float32").compute(mol)
    for got, key in ((fast, "fast_float64"), (slow, "module_float64"), (f32, "fast_float32")):
        want = ref[key]
        # bit-identical on the machine that shipped it; other BLAS/numpy builds round differently
        tol = 1e-5 if key.endswith("float32") else 1e-9
        assert float(got["energy"]) == pytest.approx(want["energy"], rel=tol * 1e-3), key
        np.testing.assert_allclose(np.asarray(got["forces"], float), want["forces"], rtol=tol,
                                   atol=tol, err_msg=key)  # fmt: skip
        np.testing.assert_allclose(np.asarray(got["dipole"], float), want["dipole"], rtol=tol,
                                   atol=tol, err_msg=key)  # fmt: skip
    assert slow["energy"] == pytest.approx(fast["energy"], abs=1e-8)
    assert np.allclose(slow["forces"], fast["forces"], atol=1e-7)
    assert run.model.density(mol).electron_count() == pytest.approx(ref["electron_count"], 1e-10)
    m = run.manifest["metrics"]
    assert (m["n_energy_train"], m["n_energy_validation"], m["n_energy_test"]) == (950, 50, 1000)
    assert run.model.meta["energy_labels"]["file"] == "rmd17_ethanol_train_01.npz"


def test_run_from_legacy_keeps_predictions(tmp_path, ethanol):
    """A single-file model (format rhoml-densnet-1) converted to a run folder predicts the same
    numbers, bit for bit, and its training summary becomes metrics.csv and metrics."""
    from rhoml.density.flexible_basis import default_basis
    from rhoml.density.prior import prior_table
    from rhoml.families.densnet import run_from_legacy
    from rhoml.models.densnet.nets import NetConfig
    from rhoml.models.densnet.potential import DenSNet

    torch.manual_seed(0)
    basis = default_basis()
    cfg = NetConfig(channels=4, vectors=2, lmax=1, lmax_sh=2, layers=1)
    scales = {el: np.full(basis.n_functions(el), 0.02) for el in basis.elements}
    model = DenSNet(basis, prior_table(basis), scales, cfg, cfg, {1: -0.5, 6: -1.0, 8: -2.0}, 3.0)
    model = model.float()
    net = {"channels": 4, "vectors": 2, "lmax": 1, "lmax_sh": 2, "layers": 1}
    old = {"store": "s.rhoml", "output": "m.pt", "density_epochs": 2, "energy_epochs": 3,
           "density_net": net, "energy_net": net}  # fmt: skip
    meta = {"n_train": 5, "config": old, "start_numbers": ethanol.numbers.tolist(),
            "start_positions": ethanol.positions.tolist()}  # fmt: skip
    torch.save({"format": "rhoml-densnet-1", "basis": basis.to_dict(), "hparams": model.hparams,
                "meta": meta, "state": model.state_dict()}, tmp_path / "m.pt")  # fmt: skip
    want = DenSNet.from_build({"basis": basis.to_dict(), "hparams": model.hparams, "meta": meta},
                              model.state_dict()).predict(ethanol)  # fmt: skip
    summary = {"n_train": 5, "density_loss": [2.0, 1.0], "energy_loss": [3.0, 2.0, 1.5],
               "test": {"energy_mae_kcal_mol": 1.5, "n": 7}}  # fmt: skip
    run_from_legacy(tmp_path / "m.pt", tmp_path / "run", summary=summary)
    run = runs.load(tmp_path / "run")
    got = run.potential().compute(ethanol)
    assert got["energy"] == want["energy"] and np.array_equal(got["forces"], want["forces"])
    assert np.array_equal(got["dipole"], want["dipole"])
    assert run.manifest["metrics"] == {"n_train": 5, "energy_mae_kcal_mol": 1.5, "n_test": 7}
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 1 + 5
    assert run.config["train"]["energy_epochs"] == 3 and run.config["density_net"]["radial"] == 8
    assert run.potential().start_molecule().positions == pytest.approx(ethanol.positions)
    from rhoml.errors import InputError

    with pytest.raises(InputError, match="rhoml-densnet-1"):
        run_from_legacy(tmp_path / "run" / "model.pt", tmp_path / "again")


def test_training_under_torchrun_ddp(tmp_path):
    """Two CPU ranks (gloo) train one DenSNet through DistributedDataParallel; rank 0 writes
    the run folder with each stage's metrics."""
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parent / "densnet_ddp_script.py"
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(script), str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    run = runs.load(out)
    assert run.manifest["build"]["meta"]["n_train"] == 4
    for stage, epochs in (("density", 3), ("energy", 2)):
        rows = (RunFolder(out).checkpoints(stage) / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + epochs


def test_training_data_from_an_ase_db_equals_xyz(tmp_path):
    """Frames given as an ASE database and as extended XYZ become the same store records (same
    molecules, same xTB densities), so a model trains and predicts the same from either."""
    import numpy as np

    from rhoml.cli import main
    from rhoml.io import read_molecules, write_ase
    from rhoml.io.xyz import write_xyz
    from rhoml.store.sqlite_store import Store

    frames = [m for m in read_molecules("qm9:3")]
    write_xyz(tmp_path / "f.xyz", frames)
    write_ase(tmp_path / "f.db", frames)
    for name in ("f.xyz", "f.db"):
        out = tmp_path / f"{name}.rhoml"
        argv = ["density", "compute", str(tmp_path / name), "--method", "xtb", "--out", str(out)]
        assert main([*argv, "--workers", "1", "--quiet"]) == 0
    with Store.open(tmp_path / "f.xyz.rhoml", readonly=True) as a, \
            Store.open(tmp_path / "f.db.rhoml", readonly=True) as b:  # fmt: skip
        assert len(a) == len(b) == 3
        for i in a.indices():
            ma, mb = a.molecule(i), b.molecule(i)
            assert ma.id == mb.id and np.array_equal(ma.numbers, mb.numbers)
            assert np.array_equal(ma.positions, mb.positions)
            np.testing.assert_array_equal(a.density(i).data, b.density(i).data)


def test_shipped_energy_only_config_trains_as_shipped(tmp_path):
    """configs/densnet_ethanol_energy_large.toml (shipped run's coefficient network, a new
    energy network, rMD17 frames, no label store) for one epoch on 8 frames."""
    rmd17 = CONFIGS.parents[1] / "shared" / "data" / "rmd17"
    if not (rmd17 / "rmd17_ethanol_train_01.npz").is_file():
        pytest.skip(f"needs {rmd17} (the shared data folder beside the repository)")
    config = CONFIGS / "densnet_ethanol_energy_large.toml"
    sets = [
        "train.energy_epochs=1", "data.energy_n_train=8", "data.energy_validation=2",
        'data.energy_test_file=""', "energy_net.channels=4", "energy_net.vectors=2",
    ]  # fmt: skip
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--quiet",
                 *[x for s in sets for x in ("--set", s)]]) == 0  # fmt: skip
    run = runs.load(out)
    assert run.is_potential and run.manifest["metrics"]["n_energy_train"] == 8
    assert run.model.module.hparams["energy_cfg"]["lmax"] == 2
    shipped = runs.load("ethanol-small").model.module
    for p, q in zip(shipped.coeff_net.parameters(), run.model.module.coeff_net.parameters(),
                    strict=True):  # fmt: skip
        assert torch.equal(p, q.to(p.dtype))
    # the run folder's config shows the basis and coefficient network it got from init
    kept, base = runs.load(out).config, runs.load("ethanol-small").config
    assert kept["basis"] == base["basis"] and kept["density_net"] == base["density_net"]
    assert kept["energy_net"]["channels"] == 4  # new_energy_net: this config's


def test_shipped_ethanol_large_run_is_the_ethanol_density_model_with_a_larger_energy_net():
    """`ethanol-large` (configs/densnet_ethanol_energy_large.toml, issue 14 item 1): the
    `ethanol-small` coefficient network, a 32-channel lmax-2 energy network, and the rMD17 test
    metrics it was shipped with; fast and module paths agree."""
    large, base = runs.load("ethanol-large"), runs.load("ethanol-small")
    assert large.is_potential and large.model.module.hparams["energy_cfg"]["lmax"] == 2
    for p, q in zip(base.model.module.coeff_net.parameters(),
                    large.model.module.coeff_net.parameters(), strict=True):  # fmt: skip
        assert torch.equal(p, q)
    m = large.manifest["metrics"]
    assert m["n_energy_test"] == 1000 and m["force_mae_kcal_mol_angstrom"] < 0.5
    for key in ("basis", "density_net"):  # its config shows the init's sections
        assert large.config[key] == base.config[key]
    mol = large.model.start_molecule()
    fast = large.potential().compute(mol)
    slow = large.model.module.predict(mol, fast=False)
    np.testing.assert_allclose(np.asarray(fast["forces"]), slow["forces"], atol=1e-7)

"""The geometry-student family through the run interface: `rhoml train` smoke runs on rMD17
ethanol frames (plain and EDG-distilled with random teacher features and a random frozen ED
predictor) and one QM9 target, reload, predictions equal to the trained model's, the model as
a potential, and config errors (exit 2, one line, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path

from rhoml.cli import main

pytest.importorskip("torch_geometric")

RMD17 = """
family = "student"

[data]
dataset = "rmd17"
molecule = "ethanol"
root = "{root}"
n_train = 8
n_val = 4
n_test = 6

[model]
name = "schnet"
hidden_channels = 16
num_filters = 16
num_interactions = 2
num_gaussians = 10

[train]
epochs = 2
batch_size = 4
threads = 1
device = "cpu"
{extra}
"""

QM9 = """
family = "student"

[data]
dataset = "qm9"
targets = ["U0"]
n_train = 8
n_val = 4
n_test = 5

[model]
name = "painn"
hidden_channels = 16
num_interactions = 2

[train]
epochs = 2
batch_size = 4
threads = 1
device = "cpu"
"""


def _rmd17_config(tmp, extra: str = "", name: str = "e.toml"):
    root = shared_path("data", "rmd17")
    cfg = tmp / name
    cfg.write_text(RMD17.format(root=root, extra=extra))
    return cfg


def _teacher_files(tmp, ids, dim: int = 512, seed: int = 0):
    """Random teacher features for ``ids`` and a random ED predictor (512 → 256 → 768)."""
    from rhoml.models.students.distill import EDPredictor

    rng = np.random.default_rng(seed)
    feats = tmp / "teacher_features.npz"
    np.savez(feats, ids=np.array(ids), features=rng.normal(size=(len(ids), dim)).astype("f4"))
    torch.manual_seed(seed)
    edp = tmp / "ed_predictor.pt"
    torch.save(EDPredictor().state_dict(), edp)
    return feats, edp


def _ethanol_ids(n: int) -> list[str]:
    return [f"rmd17_ethanol_train_01#{i}" for i in range(n)]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("student")
    out = tmp / "run"
    assert main(["train", str(_rmd17_config(tmp)), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distilled")
    feats, edp = _teacher_files(tmp, _ethanol_ids(8))
    extra = f'\n[distill]\nlambda = 0.5\nfeatures = "{feats.name}"\ned_predictor = "{edp.name}"\n'
    out = tmp / "run"
    assert main(["train", str(_rmd17_config(tmp, extra)), "--out", str(out), "--quiet"]) == 0
    return out, edp


def _test_frames(n: int = 6):
    from rhoml.io.rmd17 import load_rmd17

    return load_rmd17("ethanol", "test", data_dir=shared_path("data", "rmd17"))[:n]


def test_rmd17_run_folder_reloads_as_a_potential(plain):
    from rhoml import runs

    for name in ("config.toml", "manifest.json", "model.pt", "metrics.csv", "learning_curve.png"):
        assert (plain / name).is_file(), name
    run = runs.load(plain)
    assert run.family == "student" and run.is_potential
    assert run.outputs == {"energy": "kcal/mol", "forces": "kcal/mol/angstrom"}
    m = run.manifest["metrics"]
    assert m["monitor"] == "force_mae" and m["n_train"] == 8 and m["n_val"] == 4
    assert set(m["test"]) >= {"energy_mae", "force_mae"}
    # the saved weights are the best validation epoch's (what the trained model held)
    best = torch.load(plain / "checkpoints" / "best.pt", weights_only=True)["model"]
    saved = torch.load(plain / "model.pt", weights_only=True)
    for k, v in saved.items():
        assert torch.equal(v, best[f"student.{k}"]), k


def test_rmd17_predictions_reproduce_the_test_metrics(plain):
    """The reloaded potential on the test frames gives the MAEs the trained model gave."""
    from rhoml import runs

    run = runs.load(plain)
    frames = _test_frames()
    rows = run.predict(frames)
    e = np.array([r["energy"] for r in rows])
    f = np.stack([r["forces"] for r in rows])
    e_ref = np.array([m.labels["energy"] for m in frames])
    f_ref = np.stack([m.labels["forces"] for m in frames])
    test = run.manifest["metrics"]["test"]
    assert np.abs(e - e_ref).mean() == pytest.approx(test["energy_mae"], rel=1e-4, abs=1e-4)
    assert np.abs(f - f_ref).mean() == pytest.approx(test["force_mae"], rel=1e-4)
    one = run.potential().compute(frames[2])
    # one frame vs a batch of six: float32 sums in another order (a few 1e-6 kcal/mol)
    assert one["energy"] == pytest.approx(rows[2]["energy"], abs=1e-4)
    np.testing.assert_allclose(one["forces"], rows[2]["forces"], atol=1e-4)
    # float64 evaluation of the float32-trained model agrees to float32 precision
    one64 = run.model.double().compute(frames[2])
    assert one64["energy"] == pytest.approx(one["energy"], abs=1e-3)
    np.testing.assert_allclose(one64["forces"], one["forces"], atol=1e-3)


def test_potential_refuses_other_molecules(plain):
    from rhoml import runs
    from rhoml.errors import InputError
    from rhoml.molecule import Molecule

    pot = runs.load(plain).potential()
    m = _test_frames(1)[0]
    with pytest.raises(InputError, match="9 atoms"):
        pot.check_molecule(Molecule(m.numbers[:-1], m.positions[:-1], multiplicity=2, id="x"))
    with pytest.raises(InputError, match="element"):
        pot.compute(Molecule([7, 1, 1, 1], np.eye(4, 3) * 1.0, id="ammonia"))


def test_predict_cli_and_foreign_elements(plain, tmp_path, capsys):
    from ase.io import read

    from rhoml.io.xyz import format_xyz

    frames = _test_frames(3)
    xyz = tmp_path / "eth.xyz"
    xyz.write_text("".join(format_xyz(m) for m in frames))
    capsys.readouterr()
    assert main(["predict", str(plain), str(xyz), "--out", str(tmp_path / "p.extxyz")]) == 0
    atoms = read(tmp_path / "p.extxyz", index=":")
    assert len(atoms) == 3 and "pred_energy" in atoms[0].info
    uracil = shared_path("data", "rmd17", "rmd17_uracil_test_01.npz")
    capsys.readouterr()
    assert main(["predict", str(plain), str(uracil), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not in the training data" in err[0]


def test_distilled_student_keeps_the_teacher_frozen(distilled):
    """The ED predictor in the last checkpoint is bit-identical to the teacher's file, the
    mapper was trained, and the run is an ordinary potential."""
    from rhoml import runs

    out, edp = distilled
    teacher = torch.load(edp, weights_only=True)
    last = torch.load(out / "checkpoints" / "last.pt", weights_only=False)["model"]
    for k, v in teacher.items():
        assert torch.equal(last[f"head.ed_predictor.{k}"], v), k
    assert "head.mapper.weight" in last
    run = runs.load(out)
    assert run.is_potential
    assert run.manifest["build"]["distill"]["lambda"] == 0.5
    assert run.manifest["build"]["distill"]["dim"] == 512
    assert len(run.predict(_test_frames(2))) == 2


def test_distillation_changes_training(plain, distilled):
    """Same seed and data: the ED term changes the training loss (it is part of the loss)."""
    import csv

    def losses(out):
        with open(out / "metrics.csv") as fh:
            return [float(r["train_loss"]) for r in csv.DictReader(fh)]

    a, b = losses(plain), losses(distilled[0])
    assert a[0] != b[0]


def test_qm9_student_smoke(tmp_path):
    from rhoml import runs
    from rhoml.datasets import qm9
    from rhoml.io.qm9 import load_qm9

    cfg = tmp_path / "q.toml"
    cfg.write_text(QM9)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    run = runs.load(out)
    assert run.outputs == {"U0": "meV"} and not run.is_potential
    sel = qm9.select(8, 4, 5)
    mols = load_qm9(indices=sel.test)
    pred = np.array([r["U0"] for r in run.predict(mols)])
    true = qm9.target_values(mols, ["U0"])[:, 0]
    assert np.abs(pred - true).mean() == pytest.approx(
        run.manifest["metrics"]["test"]["mae_U0"], rel=1e-4
    )


def _error(tmp_path, capsys, cfg) -> str:
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert not out.exists()  # refused before anything was written
    return err[0]


def test_teacher_must_cover_the_training_molecules(tmp_path, capsys):
    feats, edp = _teacher_files(tmp_path, _ethanol_ids(5))  # 8 training frames
    extra = f'[distill]\nlambda = 1.0\nfeatures = "{feats}"\ned_predictor = "{edp}"\n'
    err = _error(tmp_path, capsys, _rmd17_config(tmp_path, extra))
    assert "no teacher features for 3 of the 8 training molecules" in err
    assert "rmd17_ethanol_train_01#5" in err


def test_feature_dimension_must_match_the_ed_predictor(tmp_path, capsys):
    feats, edp = _teacher_files(tmp_path, _ethanol_ids(8), dim=256)
    extra = f'[distill]\nlambda = 1.0\nfeatures = "{feats}"\ned_predictor = "{edp}"\n'
    err = _error(tmp_path, capsys, _rmd17_config(tmp_path, extra))
    assert "256-d" in err and "512-d" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[distill]\nfeatures = "F"\ned_predictor = "E"\n', "missing required key 'lambda'"),
        ('[distill]\nlambda = -1.0\nfeatures = "F"\ned_predictor = "E"\n', "[distill].lambda"),
        ('[distill]\nlambda = 1.0\nfeatures = "F"\n', "needs ed_predictor"),
        ("[distill]\nlambda = 1.0\nweight = 2\n", "unknown key(s) weight"),
        ('[distill]\nlambda = 1.0\nfeatures = "nope.npz"\ned_predictor = "E"\n', "no such file"),
    ],
)
def test_distill_config_errors(tmp_path, capsys, extra, message):
    feats, edp = _teacher_files(tmp_path, _ethanol_ids(8))
    extra = extra.replace('"F"', f'"{feats}"').replace('"E"', f'"{edp}"')
    err = _error(tmp_path, capsys, _rmd17_config(tmp_path, extra))
    assert message in err


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("n_train = 8", "n_train = 997"), "n_train + n_val = 1001"),
        (('molecule = "ethanol"', 'molecule = "water"'), "not an rMD17 molecule"),
        (('name = "schnet"', 'name = "resnet3d"'), "not a geometry student"),
        (("num_interactions = 2", "num_interactions = 0"), "num_interactions"),
    ],
)
def test_data_and_model_config_errors(tmp_path, capsys, edit, message):
    cfg = _rmd17_config(tmp_path)
    cfg.write_text(cfg.read_text().replace(*edit))
    err = _error(tmp_path, capsys, cfg)
    assert message in err and str(cfg) in err


def test_manifest_is_valid_json_with_units(plain):
    manifest = json.loads((plain / "manifest.json").read_text())
    assert manifest["inputs"] == {"positions": "angstrom", "numbers": "dimensionless"}
    assert manifest["build"]["numbers"] == [6, 6, 8, 1, 1, 1, 1, 1, 1]
    assert manifest["build"]["distill"] is None


@pytest.mark.parametrize("name", ["student_ethanol_schnet.toml", "student_qm9_small.toml"])
def test_example_configs_load(name):
    """The shipped example configs are valid (checked as `rhoml train` checks them)."""
    from pathlib import Path

    from rhoml.runs import load_training_config

    shared_path("data", "rmd17")
    cfg = Path(__file__).resolve().parents[2] / "configs" / name
    family, resolved = load_training_config(cfg)
    assert family == "student" and resolved["distill"] == {}
    if resolved["data"]["dataset"] == "rmd17":
        assert resolved["train"]["monitor"] == "force_mae"


def test_potential_drives_energy_conserving_md(plain):
    """Velocity Verlet with the reloaded potential (float64) conserves the total energy: the
    forces it returns are the gradient of the energy it returns, in the units it declares."""
    from ase.data import atomic_masses

    from rhoml import runs
    from rhoml.molecule import Molecule
    from rhoml.units import convert

    pot = runs.load(plain).potential().double()
    assert pot.potential_units == {"energy": "kcal/mol", "forces": "kcal/mol/angstrom"}
    m = _test_frames(1)[0]
    mass = atomic_masses[m.numbers][:, None]  # amu
    # ASE units: eV, Å, amu; time unit Å·sqrt(amu/eV)
    dt = 0.25 * 0.09822694788464063  # 0.25 fs
    rng = np.random.default_rng(0)
    v = rng.normal(0.0, 0.01, m.positions.shape)
    x = m.positions.copy()

    def efs(pos):
        out = pot.compute(Molecule(m.numbers, pos, id="md"))
        return (convert(out["energy"], "kcal/mol", "eV"),
                convert(out["forces"], "kcal/mol/angstrom", "eV/angstrom"))  # fmt: skip

    e, f = efs(x)
    totals = []
    for _ in range(40):
        v_half = v + 0.5 * dt * f / mass
        x = x + dt * v_half
        e, f = efs(x)
        v = v_half + 0.5 * dt * f / mass
        totals.append(e + 0.5 * float((mass * v * v).sum()))
    kinetic = 0.5 * float((mass * v * v).sum())
    assert kinetic > 1e-3  # atoms moved
    assert np.ptp(totals) < 1e-3 * max(kinetic, 1e-2)


def test_teacher_run_that_cannot_serve_features_is_refused(tmp_path, capsys):
    """A teacher_run folder that is not a usable EDG teacher run: one line naming it, exit 2."""
    teacher = tmp_path / "not-a-teacher"
    teacher.mkdir()
    extra = f'[distill]\nlambda = 1.0\nteacher_run = "{teacher}"\n'
    err = _error(tmp_path, capsys, _rmd17_config(tmp_path, extra))
    assert str(teacher) in err


def test_student_distils_from_the_shipped_teacher_by_name(tmp_path):
    """``[distill] teacher_run = "edg-teacher-small"``: the shipped teacher's features of the
    training frames are computed once into ``features_store`` (declared store arrays with
    provenance), the student trains through its frozen ED predictor, and a second student reads
    the cached features back."""
    from rhoml import runs
    from rhoml.families.edg_features import features_array, load_teacher_features
    from rhoml.store.sqlite_store import Store

    if "edg-teacher-small" not in runs.shipped():
        pytest.skip("shipped run edg-teacher-small not in this checkout")
    store = tmp_path / "teacher.rhoml"
    extra = (f'\n[distill]\nlambda = 0.1\nteacher_run = "edg-teacher-small"\n'
             f'features_store = "{store.name}"\n')  # fmt: skip
    out = tmp_path / "run"
    assert main(["train", str(_rmd17_config(tmp_path, extra)), "--out", str(out), "--quiet"]) == 0
    distill = json.loads((out / "manifest.json").read_text())["build"]["distill"]
    name = features_array("edg-teacher-small")
    assert distill["lambda"] == 0.1 and distill["array"] == name
    assert distill["teacher_run"] == str(runs.shipped()["edg-teacher-small"].resolve())
    assert distill["store"] == str(store.resolve()) and distill["n_molecules"] == 8
    with Store.open(store, readonly=True) as st:
        assert len(st) == 8 and all(st.has_array(i, name) for i in st.indices())
    ids = _ethanol_ids(8)
    feats, prov = load_teacher_features(store, ids, teacher="edg-teacher-small", feature_dim=128)
    assert np.isfinite(feats).all() and prov["images"].startswith("rendered")
    # the loaded student is an ordinary potential, no teacher needed
    pot = runs.load(out).potential()
    assert np.isfinite(pot.compute(_test_frames(1)[0])["energy"])
    # a second student on the same frames reuses the cached features
    out2 = tmp_path / "run2"
    extra2 = extra.replace("lambda = 0.1", "lambda = 1.0")
    cfg2 = _rmd17_config(tmp_path, extra2, name="e2.toml")
    assert main(["train", str(cfg2), "--out", str(out2), "--quiet"]) == 0
    distill2 = json.loads((out2 / "manifest.json").read_text())["build"]["distill"]
    assert distill2["n_computed"] == 0 and distill2["created_at"] == distill["created_at"]
    # the same store serves as [distill] features with the teacher's model.pt as ed_predictor
    from rhoml.families.student import DistillConfig, rmd17_molecules, teacher_targets

    cfg = DistillConfig(
        weight=1.0,
        features=str(store),
        ed_predictor=str(runs.shipped()["edg-teacher-small"] / "model.pt"),
    )
    frames = rmd17_molecules(_data_config())["train"]
    edp, targets, prov = teacher_targets(cfg, frames, "test")
    with torch.no_grad():
        want = edp(torch.as_tensor(feats)).numpy()
    np.testing.assert_allclose(targets, want, rtol=1e-6, atol=1e-7)
    assert prov["teacher_weights"] in name


def _data_config():
    from rhoml.families.student import DataConfig

    return DataConfig(molecule="ethanol", root=str(shared_path("data", "rmd17")), n_train=8,
                      n_val=4, n_test=6)  # fmt: skip


def test_unknown_teacher_name_is_refused(tmp_path, capsys):
    extra = '[distill]\nlambda = 1.0\nteacher_run = "no-such-teacher"\n'
    err = _error(tmp_path, capsys, _rmd17_config(tmp_path, extra))
    assert "no-such-teacher" in err and "no such run folder" in err

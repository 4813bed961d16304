"""The energy-term family through `rhoml train`: every representation (density points, atom
points, voxels, images) trains one epoch on a tiny stand-in store and reloads as a predictor; a
store without energy terms and a model that does not read the representation are refused with one
line before any training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from energy_terms_fixtures import IMAGES, molecules, terms_store

from rhoml.cli import main

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return terms_store(tmp_path_factory)


def _config(tmp_path, store, rep: str, extra: str = "") -> str:
    path = tmp_path / f"{rep}.toml"
    path.write_text(f"""family = "energy-terms"
[data]
store = "{store}"
representation = "{rep}"
images = "{IMAGES}"
val_fraction = 0.2
test_fraction = 0.2
n_points = 32
[voxel]
spacing = 2.0
[train]
epochs = 1
batch_size = 2
device = "cpu"
threads = 1
{extra}""")
    return str(path)


@pytest.mark.parametrize("rep", ["points", "atoms", "voxels", "images"])
def test_each_representation_trains_and_reloads(rep, store, tmp_path, capsys):
    from rhoml import runs
    from rhoml.datasets.energy_terms import TERMS

    out = tmp_path / "run"
    assert main(["train", _config(tmp_path, store, rep), "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    m = manifest["metrics"]
    assert (m["n_train"], m["n_val"], m["n_test"]) == (4, 2, 2) and m["epochs_run"] == 1
    assert set(manifest["outputs"]) == set(TERMS)
    assert set(manifest["outputs"].values()) == {"kcal/mol"}
    for t in TERMS:
        assert np.isfinite(m["test"][f"rmse_{t}"]) and m["mean_predictor_test"][f"rmse_{t}"] > 0
    assert manifest["build"]["edg_labels"] == ["E1", "E2", "E3", "E4", "E5", "E6"]
    run = runs.load(out)
    rows = run.model.predict_store(store, [0, 1])
    assert [r["id"] for r in rows] == ["t0", "t1"] and all(np.isfinite(r["total"]) for r in rows)
    if rep == "atoms":  # atom clouds need no density: molecules are enough
        direct = run.predict(molecules()[:2])
        assert direct[0]["total"] == pytest.approx(rows[0]["total"], rel=1e-5)
    else:
        from rhoml.errors import InputError

        with pytest.raises(InputError, match="predict_store"):
            run.predict(molecules()[:1])
    # the split depends on the store and split_seed only: the same for every representation
    assert manifest["split_ids"]["test"] == ["t0", "t5"]


def test_store_without_energy_terms_is_refused(tmp_path, capsys):
    from rhoml.density import compute
    from rhoml.store.sqlite_store import Store

    bare = tmp_path / "xtb_only.rhoml"
    with Store.create(bare) as st:
        for mol in molecules()[:3]:
            st.put_density(st.add_molecules([mol])[0], "promolecule", compute(mol, "promolecule"))
    capsys.readouterr()
    code = main(["train", _config(tmp_path, bare, "voxels"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert str(bare) in err and "no DFT records with energy terms" in err
    assert not (tmp_path / "r").exists()


def test_model_must_read_the_representation(store, tmp_path, capsys):
    cfg = _config(tmp_path, store, "images", '[model]\nname = "pointnet-small"\n')
    capsys.readouterr()
    assert main(["train", cfg, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pointnet-small does not read images" in err and "\n" not in err


def test_atom_cloud_predictor_is_translation_and_permutation_invariant(water):
    """Atom clouds are centred and pooled symmetrically (rotations are learned from augmented
    data, not built in, so they are not checked)."""
    import torch

    from rhoml.families.energy_terms import EnergyTermsPredictor
    from rhoml.models.registry import build_model
    from rhoml.testing import assert_invariant

    torch.manual_seed(0)
    model = build_model("pointnet-small", {"pooling": "max+sum"}, in_features=8,
                        targets=["total", "dft_xc"]).eval()  # fmt: skip
    model.set_target_stats([-25000.0, -1500.0], [20000.0, 2000.0])
    build = {"representation": "atoms", "elements": ["H", "C", "N", "O", "F"],
             "targets": ["total", "dft_xc"], "units": ["kcal/mol"] * 2}  # fmt: skip
    pred = EnergyTermsPredictor(model, build)

    def fn(numbers, positions):
        from rhoml import Molecule

        row = pred.predict([Molecule(numbers, positions, id="m")])[0]
        return np.array([row["total"], row["dft_xc"]], dtype=np.float64)

    assert_invariant(fn, water.numbers, water.positions, rotation=False, reflection=False,
                     atol=0.05, rtol=1e-5)  # fmt: skip

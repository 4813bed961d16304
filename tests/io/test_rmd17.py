"""rMD17 / MD17 .npz archives (rhoml.io.rmd17)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from rhoml.errors import InputError
from rhoml.io.rmd17 import load_rmd17, read_npz


def _md17(path, n_frames=4, e_shape=(4, 1)):
    rng = np.random.default_rng(0)
    np.savez(
        path, z=np.array([8, 1, 1]), R=rng.normal(size=(n_frames, 3, 3)),
        E=rng.normal(size=e_shape), F=rng.normal(size=(n_frames, 3, 3)),
    )  # fmt: skip
    return path


def test_rmd17_ethanol_shapes():
    path = shared_path("data", "rmd17", "rmd17_ethanol_train_01.npz")
    mols = load_rmd17(path)
    assert len(mols) == 1000
    m = mols[0]
    assert m.formula == "C2H6O" and m.n_atoms == 9
    assert m.positions.shape == (9, 3) and m.labels["forces"].shape == (9, 3)
    assert m.label_units == {
        "energy": "kcal/mol", "forces": "kcal/mol/angstrom", "old_index": "dimensionless",
    }  # fmt: skip
    assert -1e5 < m.labels["energy"] < -9e4  # total energy of ethanol in kcal/mol
    assert m.id == "rmd17_ethanol_train_01#0" and m.source.endswith("train_01.npz#0")
    raw = np.load(path)
    np.testing.assert_array_equal(mols[7].positions, raw["coords"][7])
    np.testing.assert_array_equal(mols[7].labels["forces"], raw["forces"][7])
    assert mols[7].labels["old_index"] == int(raw["old_indices"][7])


def test_rmd17_by_name_and_split():
    folder = shared_path("data", "rmd17")
    test = load_rmd17("ethanol", split="test", indices=[0, 999], data_dir=folder)
    assert [m.id for m in test] == ["rmd17_ethanol_test_01#0", "rmd17_ethanol_test_01#999"]
    same = load_rmd17(folder / "ethanol", split="test", indices=[999])
    np.testing.assert_array_equal(same[0].positions, test[1].positions)
    train = load_rmd17("ethanol", data_dir=folder, indices=range(3))
    assert not np.allclose(train[0].positions, test[0].positions)
    with pytest.raises(InputError, match="no rmd17_aspirin_train_01.npz"):
        load_rmd17("aspirin", data_dir=folder)


def test_rmd17_full_distribution_with_split_files(tmp_path):
    (tmp_path / "npz_data").mkdir()
    (tmp_path / "splits").mkdir()
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "npz_data" / "rmd17_water.npz", nuclear_charges=np.array([8, 1, 1]),
        coords=rng.normal(size=(10, 3, 3)), energies=np.arange(10.0),
        forces=rng.normal(size=(10, 3, 3)), old_indices=np.arange(10) * 7,
    )  # fmt: skip
    np.savetxt(tmp_path / "splits" / "index_test_01.csv", [9, 2, 4], fmt="%d")
    mols = load_rmd17("water", split="test", data_dir=tmp_path)
    assert [m.labels["energy"] for m in mols] == [9.0, 2.0, 4.0]
    assert [m.labels["old_index"] for m in load_rmd17("water", "test", [1], data_dir=tmp_path)] == [
        14
    ]


def test_generic_md17(tmp_path):
    path = _md17(tmp_path / "md17_water.npz")
    mols = list(read_npz(path))
    assert len(mols) == 4 and mols[0].formula == "H2O"
    assert set(mols[0].labels) == {"energy", "forces"}
    assert mols[0].label_units["forces"] == "kcal/mol/angstrom"
    assert [m.id for m in read_npz(path, indices=[-1])] == ["md17_water#3"]
    np.savez(tmp_path / "geom_only.npz", z=np.array([1, 1]), R=np.zeros((1, 2, 3)) + [0, 0, 0.7])
    (m,) = read_npz(tmp_path / "geom_only.npz")
    assert m.labels == {}


def test_npz_errors(tmp_path):
    def error(path, **kw):
        with pytest.raises(InputError) as info:
            list(read_npz(path, **kw))
        msg = str(info.value)
        assert path.name in msg and "\n" not in msg
        return msg

    (tmp_path / "junk.npz").write_text("not a zip file")
    assert "not a readable .npz" in error(tmp_path / "junk.npz")
    np.savez(tmp_path / "keys.npz", positions=np.zeros((1, 3, 3)))
    assert "found: positions" in error(tmp_path / "keys.npz")
    np.savez(tmp_path / "shape.npz", z=np.array([1, 1]), R=np.zeros((2, 3, 3)))
    assert "expected (n_frames, 2, 3)" in error(tmp_path / "shape.npz")
    assert "5 energies for 4 frames" in error(_md17(tmp_path / "e.npz", e_shape=(5,)))
    assert "frame 4 out of range" in error(_md17(tmp_path / "ok.npz"), indices=[4])
    np.savez(tmp_path / "elem.npz", z=np.array([0, 1]), R=np.zeros((1, 2, 3)))
    assert "unknown atomic number" in error(tmp_path / "elem.npz")
    with pytest.raises(InputError, match="RHOML_RMD17_DIR"):
        load_rmd17("ethanol")
    with pytest.raises(InputError, match="split must be"):
        load_rmd17("ethanol", split="valid")

"""QM9 from qm9pack's CSV files (rhoml.io.qm9)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from rhoml.errors import InputError, UnknownElementError
from rhoml.io import qm9
from rhoml.io.qm9 import QM9_COLUMNS, QM9_SIZE, QM9_TARGETS, iter_qm9, load_qm9


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RHOML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(qm9, "_MEMO", {})


@pytest.fixture(scope="module")
def data_dir():
    try:
        return qm9.qm9_data_dir()
    except InputError as exc:
        pytest.skip(str(exc))


HEADER = (
    "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,"
    "Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz," + ",".join(QM9_COLUMNS.values())
)
ROW = (
    '"dsgdb9nsd_{i:06d}.xyz",{i},"O","InChI=1S/H2O/h1H2",3,"[2,0,0,1,0]","[{el}]",'
    '"[[-0.03,0.97,0.007],[0.06,0.02,0.001],[0.87,1.30,{z}]]","[-0.5,0.25,0.25]",'
    '"[1671.4,3803.6,3907.7]",799.6,437.9,282.9,1.8511,6.31,-0.2928,0.0687,0.3615,19.0002,'
    "0.021375,-76.404702,-76.401867,-76.400922,-76.422349,6.002"
)


def _fake(tmp_path, rows):
    d = tmp_path / "qm9data"
    d.mkdir(parents=True)
    for k, name in enumerate(qm9.CSV_FILES):
        lines = [HEADER] + (rows if k == 0 else [ROW.format(i=100 + k, el="'O','H','H'", z=0)])
        (d / name).write_text("\n".join(lines) + "\n")
    return d


def test_targets_and_units():
    assert list(QM9_TARGETS) == list(QM9_COLUMNS) == [
        "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "Cv",
    ]  # fmt: skip
    assert QM9_TARGETS["mu"] == "debye" and QM9_TARGETS["alpha"] == "bohr^3"
    assert QM9_TARGETS["r2"] == "bohr^2" and QM9_TARGETS["Cv"] == "cal/mol/K"
    assert {QM9_TARGETS[k] for k in ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G")} == {
        "hartree"
    }


def test_first_100_fast_and_sane(data_dir):
    t0 = time.perf_counter()
    mols = load_qm9(limit=100)
    assert time.perf_counter() - t0 < 5
    assert len(mols) == 100
    methane = mols[0]
    assert methane.id == "qm9_000001" and methane.formula == "CH4"
    assert methane.source == "qm9_part1.csv#0"
    assert (methane.charge, methane.multiplicity) == (0, 1)
    assert methane.labels["U0"] == pytest.approx(-40.47893)
    assert methane.label_units == QM9_TARGETS
    assert all(set(m.labels) == set(QM9_TARGETS) for m in mols)
    # C-H bond of methane ~1.09 Å: positions are in Å
    assert np.linalg.norm(methane.positions[1] - methane.positions[0]) == pytest.approx(
        1.09, abs=0.01
    )
    gap = np.array([m.labels["gap"] for m in mols])
    assert 0.15 < gap.mean() < 0.45  # Hartree (would be ~7 in eV)
    assert all(m.labels["gap"] == pytest.approx(m.labels["lumo"] - m.labels["homo"], abs=2e-4)
               for m in mols)  # fmt: skip
    alpha = np.array([m.labels["alpha"] for m in mols])
    assert 5 < alpha.min() and alpha.max() < 120  # Bohr^3
    assert np.all(np.array([m.labels["Cv"] for m in mols]) > 5)  # cal/mol/K


def test_selection_by_index_and_gdb_index(data_dir):
    picked = load_qm9(indices=[5, 0, 99])
    assert [m.id for m in picked] == [load_qm9(limit=100)[i].id for i in (5, 0, 99)]
    water = load_qm9(gdb_indices=[3])[0]
    assert water.id == "qm9_000003" and water.formula == "H2O"
    assert [m.id for m in load_qm9(indices=[1, 2, 3], limit=2)] == ["qm9_000002", "qm9_000003"]
    with pytest.raises(InputError, match="not both"):
        load_qm9(indices=[0], gdb_indices=[1])


def test_qm9pack_modules_not_imported(data_dir):
    code = (
        "import sys; from rhoml.io.qm9 import load_qm9; load_qm9(limit=2); "
        "print('qm9pack' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fake_data_dir_and_errors(tmp_path):
    good = ROW.format(i=1, el="'O','H','H'", z=0)
    d = _fake(tmp_path, [good])
    mols = load_qm9(data_dir=d)
    assert [m.id for m in mols] == ["qm9_000001", "qm9_000101", "qm9_000102"]
    assert mols[0].labels["gap"] == 0.3615
    assert [m.id for m in load_qm9(indices=[-1], data_dir=d)] == ["qm9_000102"]
    with pytest.raises(InputError, match="qm9: index 10000 out of range"):
        load_qm9(indices=[10000], data_dir=d)
    with pytest.raises(InputError, match="qm9: GDB index 7 is not in the data set"):
        load_qm9(gdb_indices=[7], data_dir=d)

    for k, (row, exc, expected) in enumerate(
        [
            (ROW.format(i=1, el="'O','Xq','H'", z=0), UnknownElementError, "unknown element"),
            (ROW.format(i=1, el="'O','H','H'", z="abc"), InputError, "malformed row"),
            (ROW.format(i=1, el="'O','H'", z=0), InputError, "2 elements but 9 coordinates"),
            (good.rsplit(",", 3)[0], InputError, "malformed row"),
        ]
    ):
        d = _fake(tmp_path / str(k), [good, row])
        with pytest.raises(exc) as info:
            list(iter_qm9(data_dir=d))
        msg = str(info.value)
        assert "qm9_part1.csv#1: line 3" in msg and expected in msg and "\n" not in msg

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="qm9_part1.csv: no such file"):
        load_qm9(data_dir=empty)


def test_cache_round_trip(tmp_path):
    d = _fake(tmp_path, [ROW.format(i=1, el="'O','H','H'", z=0)])
    first = load_qm9(data_dir=d)
    assert list((tmp_path / "cache").glob("qm9_*.npz"))
    qm9._MEMO.clear()
    again = load_qm9(data_dir=d)  # from the disk cache
    assert [m.id for m in again] == [m.id for m in first]
    np.testing.assert_array_equal(again[2].positions, first[2].positions)
    assert again[0].source == first[0].source == "qm9_part1.csv#0"


@pytest.mark.slow
def test_full_load(data_dir):
    t0 = time.perf_counter()
    mols = load_qm9()
    cold = time.perf_counter() - t0
    assert len(mols) == QM9_SIZE == 130_831
    assert cold < 30
    ids = [m.id for m in mols]
    assert len(set(ids)) == QM9_SIZE and ids[-1] == "qm9_133885"
    gap = np.array([m.labels["gap"] for m in mols])
    assert gap.mean() == pytest.approx(0.252, abs=0.005)
    assert {z for m in mols for z in set(m.numbers.tolist())} == {1, 6, 7, 8, 9}
    assert max(m.n_atoms for m in mols) == 29
    qm9._MEMO.clear()
    t0 = time.perf_counter()
    assert len(load_qm9()) == QM9_SIZE  # from the disk cache
    assert time.perf_counter() - t0 < cold

"""`rhoml voxelize --engine dft` reuses the densities `rhoml density compute --method dft` put in
the same store (same method key), and computes only the missing ones."""

from __future__ import annotations

import pytest

from rhoml.cli import main
from rhoml.store.sqlite_store import Store

WATER = """3
water
O 0.000000 0.000000 0.117300
H 0.000000 0.757200 -0.469200
H 0.000000 -0.757200 -0.469200
"""
AMMONIA = """4
ammonia
N 0.000 0.000 0.116
H 0.000 0.939 -0.271
H 0.813 -0.470 -0.271
H -0.813 -0.470 -0.271
"""
VOX = ["--box", "6", "--spacing", "0.5", "--channels", "density", "--quiet", "--workers", "1"]


def _records(store) -> dict[str, tuple[int, int]]:
    with Store.open(store, readonly=True) as st:
        return {k: (v.get("ok", 0), v.get("failed", 0)) for k, v in st.summary()["methods"].items()}


def test_voxelize_dft_reuses_density_compute_records(tmp_path, capsys):
    water, ammonia = tmp_path / "water.xyz", tmp_path / "ammonia.xyz"
    water.write_text(WATER)
    ammonia.write_text(AMMONIA)
    store = tmp_path / "s.rhoml"
    level = ["--functional", "PBE", "--basis", "sto-3g"]
    args = ["density", "compute", str(water), "--method", "dft", *level, "--out", str(store)]
    assert main([*args, "--quiet", "--workers", "1"]) == 0
    before = _records(store)
    assert len(before) == 1 and next(iter(before.values())) == (1, 0)
    (key,) = before
    with Store.open(store, readonly=True) as st:
        energy = st.density(0, key).properties["energy"]
    capsys.readouterr()

    # no level given: the store's single dft level is used, nothing is recomputed
    assert main(["voxelize", str(water), "--engine", "dft", "--out", str(store), *VOX]) == 0
    out = capsys.readouterr().out
    assert f"{key}: 1 density record(s) reused, 0 computed, 0 failed" in out
    assert _records(store) == before  # no new method key (e.g. a bare "dft"), no new record
    with Store.open(store, readonly=True) as st:
        assert st.density(0, key).properties["energy"] == energy
        assert any(name.startswith("voxels/") for name in st.summary()["arrays"])

    # a new molecule at the same level: only it is computed, into the same record key
    args = ["voxelize", str(water), str(ammonia), "--engine", "dft", *level, "--out", str(store)]
    assert main([*args, *VOX]) == 0
    assert "1 density record(s) reused, 1 computed" in capsys.readouterr().out
    assert _records(store) == {key: (2, 0)}


def test_voxelize_dft_asks_for_a_level_when_the_store_has_several(tmp_path):
    water = tmp_path / "water.xyz"
    water.write_text(WATER)
    store = tmp_path / "s.rhoml"
    for functional in ("PBE", "LDA"):
        args = ["density", "compute", str(water), "--method", "dft", "--functional", functional,
                "--basis", "sto-3g", "--out", str(store), "--quiet", "--workers", "1"]  # fmt: skip
        assert main(args) == 0
    from rhoml.errors import RhomlError

    with pytest.raises(RhomlError, match="several levels"):
        from rhoml.commands.voxel import _method_spec

        class A:
            engine, functional, basis, solvent, out = "dft", None, None, None, str(store)

        _method_spec(A)
    assert main(["voxelize", str(water), "--engine", "dft", "--out", str(store), *VOX]) != 0

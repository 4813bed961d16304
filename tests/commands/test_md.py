"""`rhoml md` and `rhoml ir` with the shipped ethanol run (short runs) and their refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from rhoml.cli import main


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("rhoml: error: ")
    return err[0]


def test_shipped_run_predicts_rmd17_energy_and_forces():
    from rhoml import runs
    from rhoml.io.rmd17 import load_rmd17

    d = shared_path("data", "rmd17")
    pot = runs.load("ethanol").potential()
    mols = load_rmd17("ethanol", "test", [900, 950], data_dir=d)  # not used in training
    for m in mols:
        pot.check_molecule(m)
        out = pot.compute(m)
        assert out["energy"] == pytest.approx(m.labels["energy"], abs=10.0)  # kcal/mol
        assert np.abs(out["forces"] - m.labels["forces"]).mean() < 15.0  # kcal/mol/Å
        assert 0.5 < np.linalg.norm(out["dipole"]) < 3.0  # Debye; ethanol ≈ 1.6 D
        assert pot.density(m).electron_count() == pytest.approx(26.0, abs=1e-8)


def test_md_and_ir_commands(tmp_path, capsys):
    traj = tmp_path / "t.npz"
    assert main(["md", "ethanol", "--steps", "20", "--out", str(traj), "--quiet"]) == 0
    with np.load(traj) as z:
        assert z["dipole"].shape == (21, 3)
        assert json.loads(str(z["meta"]))["family"] == "densnet"
    out = tmp_path / "ir"
    code = main(["ir", "--trajectory", str(traj), "--max-lag", "5", "--out", str(out)])
    assert code == 0
    assert (out / "ir.csv").exists() and (out / "ir.png").exists()
    assert isinstance(json.loads((out / "peaks.json").read_text()), list)
    t32 = tmp_path / "t32.npz"
    args = ["md", "ethanol", "--steps", "20", "--out", str(t32), "--quiet", "--float32"]
    assert main(args) == 0
    with np.load(traj) as a, np.load(t32) as b:  # same start, float32 vs float64 forces
        np.testing.assert_allclose(b["positions"], a["positions"], atol=1e-4)
        assert np.abs(b["positions"] - a["positions"]).max() > 0


def test_md_from_a_geometry_file(tmp_path, ethanol):
    from rhoml.io.xyz import format_xyz

    xyz = tmp_path / "e.xyz"
    xyz.write_text(format_xyz(ethanol))
    traj = tmp_path / "t.npz"
    args = ["md", "ethanol", "--geometry", str(xyz), "--steps", "3", "--out", str(traj), "--quiet"]
    assert main(args) == 0
    with np.load(traj) as z:
        np.testing.assert_allclose(z["positions"][0], ethanol.positions, atol=1e-6)


def test_wrong_molecule_missing_run_and_bad_values_are_one_line(tmp_path, capsys, water):
    from rhoml.io.xyz import format_xyz

    xyz = tmp_path / "water.xyz"
    xyz.write_text(format_xyz(water))
    out = str(tmp_path / "t.npz")
    assert main(["md", "ethanol", "--geometry", str(xyz), "--steps", "2", "--out", out]) == 2
    assert "3 atoms" in _err_line(capsys)
    assert main(["ir", "ethanol", "--geometry", str(xyz), "--steps", "20", "--out", out]) == 2
    assert "3 atoms" in _err_line(capsys)
    assert main(["md", "no_such_run", "--steps", "2", "--out", out]) == 2
    assert "no_such_run" in _err_line(capsys)
    assert main(["md", "ethanol", "--steps", "-2", "--out", out]) == 2
    assert "--steps" in capsys.readouterr().err


def test_md_output_folder_is_checked_before_the_run(tmp_path, capsys):
    from rhoml.cli import main

    missing = tmp_path / "missing" / "traj.npz"
    assert main(["md", "ethanol", "--steps", "100000", "--out", str(missing), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]

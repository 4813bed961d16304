"""The shipped ethanol model and the `rhoml md` / `rhoml ir` commands (short runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from rhoml.cli import main


def test_shipped_model_predicts_rmd17_energy_and_forces():
    from rhoml.densnet.potential import load_model, shipped_model_path
    from rhoml.io.rmd17 import load_rmd17

    d = shared_path("data", "rmd17")
    model = load_model(shipped_model_path("ethanol"))
    mols = load_rmd17("ethanol", "test", [900, 950], data_dir=d)  # not used in training
    for m in mols:
        out = model.predict(m)
        assert out["energy"] == pytest.approx(m.labels["energy"], abs=10.0)  # kcal/mol
        assert np.abs(out["forces"] - m.labels["forces"]).mean() < 15.0  # kcal/mol/Å
        assert 0.5 < np.linalg.norm(out["dipole"]) < 3.0  # Debye; ethanol ≈ 1.6 D
        assert model.density(m).electron_count() == pytest.approx(26.0, abs=1e-8)


def test_md_and_ir_commands(tmp_path, capsys):
    traj = tmp_path / "t.npz"
    assert main(["md", "ethanol", "--steps", "20", "--out", str(traj), "--quiet"]) == 0
    with np.load(traj) as z:
        assert z["dipole"].shape == (21, 3)
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


def test_missing_model_is_a_one_line_error(capsys):
    assert main(["md", "no_such_model.pt", "--steps", "2", "--out", "x.npz"]) == 2
    assert "no_such_model.pt" in capsys.readouterr().err

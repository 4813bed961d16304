"""`rhoml densnet build`: geometry in → sampled frames, DFT labels, generated config, trained
run and validation report out; a rerun skips every finished stage; other settings refused.
Tiny settings (water, STO-3G, 1-layer nets, 1-2 epochs) keep it to seconds."""

from __future__ import annotations

import json

import pytest

from rhoml.cli import main

pytest.importorskip("tblite")
pytest.importorskip("pyscf")

TINY = ["--temperatures", "300", "600", "--frames", "3", "--test-frames", "1", "--interval", "5",
        "--equilibration", "5", "--basis", "sto-3g", "--density-epochs", "1",
        "--energy-epochs", "2", "--grid-level", "1", "--workers", "1",
        "--set", "density_net.channels=4", "--set", "density_net.vectors=2",
        "--set", "density_net.layers=1", "--set", "energy_net.channels=4",
        "--set", "energy_net.vectors=2", "--set", "energy_net.layers=1",
        "--set", "train.batch_size=2", "--quiet"]  # fmt: skip


def test_build_from_a_geometry_file_and_resume(tmp_path, capsys):
    xyz = tmp_path / "water.xyz"
    xyz.write_text("3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n")
    out = tmp_path / "b"
    assert main(["densnet", "build", str(xyz), "--out", str(out), *TINY]) == 0
    line = capsys.readouterr().out
    assert "force MAE" in line and "density NMAE" in line
    for name in ("build.json", "geometry.xyz", "config.toml", "labels.rhoml", "report.json",
                 "report.md", "samples/water-T300_train.xyz", "samples/water-T600_test.xyz",
                 "run/model.pt"):  # fmt: skip
        assert (out / name).exists(), name
    r = json.loads((out / "report.json").read_text())
    assert (r["n_train"], r["n_test"], r["labels_ok"], r["labels_failed"]) == (6, 2, 8, 0)
    assert r["n_energy_validation"] == 1  # 10 % of the training frames
    from rhoml.store.sqlite_store import Store

    with Store.open(out / "labels.rhoml", readonly=True) as st:  # temperatures interleaved
        ids = [st.molecule(i).id for i in sorted(st.finished(st.methods()[0]))]
    assert ids[:2] == ["water-T300_train#0", "water-T600_train#0"]
    assert ids[-1] == "water-T600_test#0"
    assert r["level"] == "PBE/sto-3g" and r["n_atoms"] == 3
    assert 0 < r["density_nmae"]["mean_percent"] < 100 and r["force_mae_kcal_mol_angstrom"] > 0
    from rhoml import runs

    run = runs.load(out / "run")
    assert run.is_potential and run.config["train"]["energy_epochs"] == 2
    # a rerun finds every stage complete: nothing recomputed
    stamps = {p: p.stat().st_mtime_ns for p in (out / "run" / "model.pt", out / "report.json")}
    assert main(["densnet", "build", str(xyz), "--out", str(out), *TINY]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # other settings in the same folder: one line, exit 2
    capsys.readouterr()
    assert main(["densnet", "build", str(xyz), "--out", str(out), *TINY[:-1], "--frames", "5",
                 "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0]


def test_build_refuses_a_file_without_molecules(tmp_path, capsys):
    empty = tmp_path / "e.xyz"
    empty.write_text("")
    assert main(["densnet", "build", str(empty), "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "e.xyz" in capsys.readouterr().err

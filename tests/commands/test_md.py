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
    assert isinstance(json.loads((out / "peaks.json").read_text())["rows"], list)
    # the shipped run was trained in float32: the default evaluates it in float32
    t32, t64 = tmp_path / "t32.npz", tmp_path / "t64.npz"
    for path, flag in ((t32, "--float32"), (t64, "--float64")):
        args = ["md", "ethanol", "--steps", "20", "--out", str(path), "--quiet", flag]
        assert main(args) == 0
    with np.load(traj) as a, np.load(t32) as b, np.load(t64) as c:  # same start
        np.testing.assert_array_equal(a["positions"], b["positions"])
        np.testing.assert_allclose(c["positions"], b["positions"], atol=1e-4)
        assert np.abs(c["positions"] - b["positions"]).max() > 0


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


def _synthetic_jdx(path) -> None:
    """A small JCAMP-DX absorbance spectrum with bands at 1050 and 2950 cm⁻¹."""
    from rhoml.io.jcamp import write_jcamp

    x = np.arange(500.0, 4000.0, 4.0)
    y = np.exp(-0.5 * ((x - 1050) / 10) ** 2) + 0.5 * np.exp(-0.5 * ((x - 2950) / 15) ** 2)
    write_jcamp(path, x, y, title="synthetic")


def test_ir_protocol_end_to_end_with_harmonic_and_experiment(tmp_path, capsys):
    """`rhoml ir ethanol` with tiny settings: every output, the metadata header, the band and
    assignment tables, and the plot's axis and labels."""
    jdx = tmp_path / "exp.jdx"
    _synthetic_jdx(jdx)
    out = tmp_path / "ir"
    args = ["ir", "ethanol", "--steps", "40", "--equilibration", "10", "--sampling", "langevin",
            "--no-conformers", "--trajectories", "2", "--workers", "1", "--max-lag", "10",
            "--harmonic",
            "--experimental", str(jdx), "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "MD bands" in printed and "band assignment against exp.jdx" in printed
    names = {p.name for p in out.iterdir()}
    assert {"ir.csv", "ir.jdx", "ir.png", "peaks.csv", "peaks.json", "harmonic.csv",
            "harmonic.json", "bands.csv", "bands.json", "protocol.json",
            "trajectories"} <= names  # fmt: skip
    assert sorted(p.name for p in (out / "trajectories").iterdir()) == [
        "langevin_00.npz", "langevin_01.npz", "nve_00.npz", "nve_01.npz"
    ]  # fmt: skip
    header = [ln for ln in (out / "ir.csv").read_text().splitlines() if ln.startswith("#")]
    for key in ("model run: ethanol", "temperature: 300 K", "time step: 0.5 fs",
                "trajectories: 2 NVE", "total time: 0.04 ps", "window: 10 fs",
                "quantum correction: harmonic", "units: wavenumber cm^-1"):  # fmt: skip
        assert any(ln.startswith(f"# {key}") for ln in header), key
    data = np.loadtxt(out / "ir.csv", delimiter=",", skiprows=len(header) + 1)
    assert data.shape[1] == 3 and np.all(np.diff(data[:, 0]) > 0)
    harmonic = json.loads((out / "harmonic.json").read_text())["rows"]
    assert len(harmonic) == 21 and harmonic[0]["method"] == "model harmonic"
    bands = json.loads((out / "bands.json").read_text())["rows"]
    assert [round(r["experiment_cm-1"]) for r in bands] == [1050, 2950]
    assert {"md_cm-1", "model_harmonic_cm-1", "model_harmonic_shift_cm-1"} <= set(bands[0])
    proto = json.loads((out / "protocol.json").read_text())
    assert len(proto["nve"]) == 2 and "median_abs_drift_eV_per_ps" in proto["drift"]


def test_ir_normal_mode_starts_and_conformers_from_the_cli(tmp_path, capsys, monkeypatch):
    """`rhoml ir ethanol --sampling normal-modes --conformers --dft-reference`: ethanol's
    trans and gauche conformers (the shipped model), settling runs, the conformer table in
    protocol.json, and harmonic analyses at both conformers with the protocol's weights (the
    DFT reference replaced by the model itself, so the mode-by-mode deviation is small)."""
    from rhoml import runs
    from rhoml.md import reference

    monkeypatch.setattr(
        reference, "dft_potential", lambda settings=None: runs.load("ethanol").potential()
    )
    out = tmp_path / "ir"
    args = ["ir", "ethanol", "--steps", "40", "--sampling", "normal-modes", "--conformers",
            "--settle", "5", "--trajectories", "3", "--workers", "1", "--max-lag", "10",
            "--dft-reference", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "conformer 2 (weight" in printed
    line = next(ln for ln in printed.splitlines() if ln.startswith("model vs DFT harmonic"))
    assert "36/36 within 20" in line, line  # 2 conformers x 18 modes above 500 cm-1
    rows = json.loads((out / "harmonic.json").read_text())["rows"]
    model = [r for r in rows if r["method"] == "model harmonic"]
    assert len(model) == 42 and {r["conformer"] for r in model} == {1, 2}
    assert sorted(p.name for p in (out / "trajectories").iterdir()) == [
        "nve_00.npz", "nve_01.npz", "nve_02.npz", "settle_00.npz", "settle_01.npz",
        "settle_02.npz"]  # fmt: skip
    proto = json.loads((out / "protocol.json").read_text())
    conf = proto["conformers"]
    assert len(conf) == 2 and sorted(c["count"] for c in conf) == [1, 2]  # trans, 2 gauche
    assert sum(c["trajectories"] for c in conf) == 3
    assert abs(sum(c["weight"] for c in conf) - 1) < 1e-9
    weights = {r["conformer"]: r["weight"] for r in model}
    assert [weights[1], weights[2]] == [round(c["weight"], 4) for c in conf]
    assert proto["settings"]["sampling"] == "normal-modes" and proto["langevin"] == {}
    header = (out / "ir.csv").read_text()
    assert "fixed-energy normal-mode initial conditions" in header and "conformers:" in header


def test_ir_protocol_reuses_finished_trajectories(tmp_path, capsys, monkeypatch):
    """A second `rhoml ir` into the same folder reads finished trajectories back (here any new
    simulation would fail), also with other analysis settings; another seed simulates again."""
    from rhoml.md import protocol

    out = tmp_path / "ir"
    args = ["ir", "ethanol", "--steps", "40", "--sampling", "normal-modes", "--no-conformers",
            "--settle", "5", "--trajectories", "2", "--workers", "1", "--max-lag", "10",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    first = (out / "ir.csv").read_text()

    def no_md(job):
        raise AssertionError("simulated again")

    monkeypatch.setattr(protocol, "_trajectory_job", no_md)
    assert main(args) == 0
    assert (out / "ir.csv").read_text() == first
    from rhoml import runs

    folder = str(runs.resolve("ethanol"))  # the same run, named by its folder
    assert main([a if a != "ethanol" else folder for a in args]) == 0
    assert main([*args, "--no-timestep-correction"]) == 0  # analysis only: no MD
    assert "Verlet" not in (out / "ir.csv").read_text() and "Verlet" in first
    with pytest.raises(AssertionError, match="simulated again"):
        main([*args, "--seed", "1"])


def test_ir_plot_axis_runs_high_to_low_with_labelled_curves():
    from rhoml.md.ir import EnsembleSpectrum, HarmonicIR
    from rhoml.md.ir_report import ir_figure

    wn = np.linspace(0, 4500, 901)
    per = np.stack([np.exp(-0.5 * ((wn - 1000 - k) / 20) ** 2) for k in range(3)])
    h = HarmonicIR(np.array([1010.0, 3000.0]), np.array([50.0, 20.0]), np.zeros((2, 3)))
    fig = ir_figure(md=EnsembleSpectrum(wn, per), md_label="MD dipole-derivative ACF, 3 traj",
                    harmonic={"model harmonic": h},
                    experiment=(wn, per[0], "experiment (x.jdx)"))  # fmt: skip
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert lo > hi  # wavenumber decreasing to the right
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "MD dipole-derivative ACF, 3 traj" in labels
    assert any(lab.startswith("model harmonic") for lab in labels)
    assert "experiment (x.jdx)" in labels


def test_ir_refusals_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jdx"
    bad.write_text("this is not a spectrum\n")
    out = str(tmp_path / "o")
    assert main(["ir", "ethanol", "--experimental", str(bad), "--out", out]) == 2
    assert "bad.jdx: not a JCAMP-DX file" in _err_line(capsys)
    assert main(["ir", "ethanol", "--no-md", "--out", out]) == 2
    assert "--no-md" in _err_line(capsys)
    t = tmp_path / "t.npz"
    assert main(["md", "ethanol", "--steps", "20", "--out", str(t), "--quiet"]) == 0
    capsys.readouterr()
    with np.load(t) as z:
        d = {k: z[k] for k in z.files}
    d["dipole"][5, 1] = np.nan
    np.savez(tmp_path / "nan.npz", **d)
    assert main(["ir", "--trajectory", str(tmp_path / "nan.npz"), "--out", out]) == 2
    assert "nan.npz: non-finite dipole from frame 5" in _err_line(capsys)


def test_ir_harmonic_only_with_the_dft_reference_wired_in(tmp_path, capsys, monkeypatch):
    """--no-md --dft-reference: the DFT column comes from rhoml.md.reference (replaced here by
    the model itself, so both columns agree; the real PySCF Hessian takes tens of minutes)."""
    from rhoml import runs
    from rhoml.md import reference

    monkeypatch.setattr(
        reference, "dft_potential", lambda settings=None: runs.load("ethanol").potential()
    )
    out = tmp_path / "h"
    assert main(["ir", "ethanol", "--no-md", "--dft-reference", "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "harmonic.json").read_text())["rows"]
    model = [r["frequency_cm-1"] for r in rows if r["method"] == "model harmonic"]
    dft = [r["frequency_cm-1"] for r in rows if r["method"] == "DFT harmonic"]
    assert len(model) == len(dft) == 21
    np.testing.assert_allclose(dft[6:], model[6:], atol=2.0)  # same potential, fmax 5e-3 vs 1e-3
    assert not (out / "ir.csv").exists() and (out / "ir.png").exists()
    assert "DFT harmonic cm-1" in capsys.readouterr().out


def test_ir_dft_reference_at_the_level_of_the_labels_or_the_one_asked(tmp_path, capsys,
                                                                       monkeypatch):  # fmt: skip
    """The DFT reference runs at the level the model's labels were computed at (the shipped
    ethanol: PBE/def2-SVP, from its manifest) unless --dft-level names another; the level is in
    harmonic.csv's header. A malformed level is refused with one line before any work."""
    from rhoml import runs
    from rhoml.md import reference

    levels = []

    def fake(settings=None):
        levels.append(settings.level)
        return runs.load("ethanol").potential()

    monkeypatch.setattr(reference, "dft_potential", fake)
    out = tmp_path / "h"
    args = ["ir", "ethanol", "--no-md", "--dft-level", "B3LYP/def2-SVP", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert levels == ["B3LYP/def2-SVP"]
    assert "# DFT level: B3LYP/def2-SVP (PySCF)" in (out / "harmonic.csv").read_text()
    capsys.readouterr()
    assert main(["ir", "ethanol", "--no-md", "--dft-level", "B3LYP", "--out",
                 str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "expected FUNCTIONAL/BASIS" in _err_line(capsys)
    assert not (tmp_path / "bad").exists()
    assert reference.run_level(runs.load("ethanol").manifest) == "PBE/def2-SVP"

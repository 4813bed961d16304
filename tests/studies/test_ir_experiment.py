"""`rhoml bench ir-vs-experiment` at toy scale: a tiny water model built from its geometry, a
short protocol, the band assignment against a synthetic JCAMP-DX spectrum, the summary files,
resume (nothing recomputed) and a molecule that fails recorded while the others go on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rhoml.cli import main
from rhoml.io.jcamp import write_jcamp

pytest.importorskip("tblite")
pytest.importorskip("pyscf")

TINY_BUILD = ["--temperatures", "300", "--frames", "4", "--test-frames", "1", "--interval", "5",
              "--equilibration", "5", "--basis", "sto-3g", "--density-epochs", "1",
              "--energy-epochs", "2", "--grid-level", "1",
              "--set", "density_net.channels=4", "--set", "density_net.vectors=2",
              "--set", "density_net.layers=1", "--set", "energy_net.channels=4",
              "--set", "energy_net.vectors=2", "--set", "energy_net.layers=1",
              "--set", "train.batch_size=2"]  # fmt: skip
TINY_MD = ["--trajectories", "2", "--md-steps", "200", "--md-equilibration", "20",
           "--md-settle", "10",
           "--max-lag", "50", "--no-dft-reference", "--workers", "1", "--quiet"]  # fmt: skip


def _experiment(folder):
    folder.mkdir()
    x = np.arange(500.0, 4000.0, 2.0)
    y = sum(a * np.exp(-0.5 * ((x - c) / 12.0) ** 2)
            for c, a in ((1595.0, 1.0), (3756.0, 0.5)))  # fmt: skip
    write_jcamp(folder / "water.jdx", x, y, title="synthetic water")
    write_jcamp(folder / "ghost.jdx", x, y, title="no geometry")


def test_ir_vs_experiment_builds_compares_and_resumes(tmp_path, capsys):
    exp = tmp_path / "exp"
    _experiment(exp)
    out = tmp_path / "study"
    (out / "geometries").mkdir(parents=True)
    (out / "geometries" / "water.xyz").write_text(
        "3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n"
    )
    argv = ["bench", "ir-vs-experiment", "water", "ghost", "--out", str(out),
            "--experimental-dir", str(exp), *TINY_BUILD, *TINY_MD]  # fmt: skip
    assert main(argv) == 1  # ghost has no geometry: recorded, water still done
    printed = capsys.readouterr().out
    assert "ghost: failed" in printed and "water: MD bands assigned" in printed
    data = json.loads((out / "ir_vs_experiment.json").read_text())
    assert "unknown molecule" in data["molecules"]["ghost"]["error"]
    water = data["molecules"]["water"]
    assert water["experiment"] == "water.jdx"
    assert [r["experiment_cm-1"] for r in water["assignment"]] == pytest.approx(
        [1595.0, 3756.0], abs=1.0
    )
    assert set(water["shift_summary"]) == {"md", "model_harmonic"}
    assert water["goals"]["md_assigned"].endswith("/2")
    assert water["smoothing_cm-1"] > 100  # water's P-R branch separation at 298 K
    assert water["model"]["level"] == "PBE/sto-3g" and water["model"]["n_train"] == 4
    text = (out / "ir_vs_experiment.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    md = (out / "ir_vs_experiment.md").read_text()
    assert "| water |" in md and "failed" in md and "## water" in md
    # MD positions are band centroids, like the experimental band centres they are compared to
    assert water["md_band_position"] == "centroid" and "MD positions: band centroid" in md
    md_centroids = {b["centroid_cm-1"] for b in water["md_bands"]}
    assert {r["md_cm-1"] for r in water["assignment"] if r["md_cm-1"]} <= md_centroids
    for name in ("ir_vs_experiment.png", "water/run/model.pt", "water/report.json",
                 "water/ir/ir.csv", "water/ir/ir.jdx", "water/ir/bands.json",
                 "water/ir/summary.json"):  # fmt: skip
        assert (out / name).is_file(), name
    # rerun with water alone: nothing recomputed, exit 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / "water/run/model.pt",
                                                  out / "water/ir/summary.json")}  # fmt: skip
    argv = [a for a in argv if a != "ghost"]
    assert main(argv) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # another ACF window changes the analysis only: the spectrum is redone from the stored
    # trajectories, which are not simulated again
    traj = sorted((out / "water/ir/trajectories").glob("nve_*.npz"))
    before = {p: p.stat().st_mtime_ns for p in traj}
    argv[argv.index("--max-lag") + 1] = "40"
    assert main(argv) == 0
    assert (out / "water/ir/summary.json").stat().st_mtime_ns > stamps[
        out / "water/ir/summary.json"
    ]
    assert "40 fs Hann" in (out / "water/ir/ir.csv").read_text()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    redone = json.loads((out / "water/ir/summary.json").read_text())
    assert redone["ir_settings"]["protocol"]["max_lag_fs"] == 40.0


def test_missing_experimental_spectrum_is_one_line(tmp_path, capsys):
    exp = tmp_path / "exp"
    exp.mkdir()
    assert main(["bench", "ir-vs-experiment", "methanol", "--out", str(tmp_path / "o"),
                 "--experimental-dir", str(exp), "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "methanol" in err[0] and "no experimental spectrum" in err[0]


def test_md_position_of_digests_without_the_key_is_inferred():
    from rhoml.studies.ir_experiment import _md_position

    bands = [{"position_cm-1": 1000.0, "centroid_cm-1": 1003.2}]
    assert _md_position({"md_band_position": "centroid"}) == "centroid"
    assert _md_position({"md_bands": bands, "assignment": [{"md_cm-1": 1003.2}]}) == "centroid"
    assert _md_position({"md_bands": bands, "assignment": [{"md_cm-1": 1000.0}]}).startswith(
        "maximum"
    )

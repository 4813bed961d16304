"""The energy-term study (`rhoml bench energy-terms`): the shipped CPU config, shrunk to one epoch
on a tiny stand-in store, runs every representation × seed end to end (run folders, RMSE table
with a mean-predictor row, bar plot, JSON without NaN), a rerun trains nothing, and config errors
are one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from energy_terms_fixtures import IMAGES, terms_store

from rhoml.cli import main

pytest.importorskip("torch")

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _strict_json(path: Path):
    def no_nan(x):
        raise AssertionError(f"{path}: {x} in JSON")

    return json.loads(path.read_text(), parse_constant=no_nan)


def _shrunk(store) -> list[str]:
    sets = [f'data.store="{store}"', f'data.images="{IMAGES}"', "data.val_fraction=0.2",
            "data.test_fraction=0.2", "data.n_points=32", "voxel.spacing=2.0", "study.seeds=2",
            "train.epochs=1", "train.batch_size=2"]  # fmt: skip
    return [x for s in sets for x in ("--set", s)]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    store = terms_store(tmp_path_factory)
    out = tmp_path_factory.mktemp("terms_study") / "study"
    cfg = CONFIGS / "energy_terms_cpu.toml"
    args = ["bench", "energy-terms", str(cfg), "--out", str(out), "--quiet", *_shrunk(store)]
    assert main(args) == 0
    return args, out, store


def test_study_runs_every_representation_and_seed(study):
    _, out, _ = study
    s = _strict_json(out / "results.json")
    reps = ["points", "voxels", "images", "atoms"]
    assert s["runs_finished"] == s["runs_planned"] == 8 and s["representations"] == reps
    assert s["same_test_molecules"] and s["split"]["n_test"] == 2 and s["unit"] == "kcal/mol"
    for row in s["rows"]:
        assert row["seeds"] == 2
        for t in s["terms"]:
            cell = row["rmse"][t]
            assert cell["n"] == 2 and cell["std"] is not None and cell["mean"] > 0
            assert row["rmse_ratio"][t]["mean"] > 0
    assert all(v > 0 for v in s["mean_predictor"].values())
    assert set(s["composition_baseline"]["rmse"]) == set(s["terms"])
    assert set(s["best"].values()) <= set(reps)
    md = (out / "results.md").read_text()
    assert "| formula only (least squares on atom counts) |" in md
    assert "| mean predictor (training mean) |" in md and "±" in md and "E5 dft_xc (kcal/mol)" in md
    assert "CPU scale" in md and "ResNet18 (6×4×224×224)" in md  # the paper's rows beside ours
    assert (out / "rmse.png").stat().st_size > 10_000
    for rep in reps:
        for seed in (0, 1):
            assert (out / "runs" / rep / f"s{seed}" / "model.pt").is_file()


def test_rerun_trains_nothing(study, capsys):
    args, out, _ = study
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/**/model.pt")}
    assert len(stamps) == 8
    capsys.readouterr()
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/**/model.pt")} == stamps
    assert main([*args, "--plan"]) == 0
    assert "8 of 8 planned runs finished" in capsys.readouterr().out


def test_gpu_config_checks(study, capsys):
    _, _, store = study
    args = [
        "bench",
        "energy-terms",
        str(CONFIGS / "energy_terms_gpu.toml"),
        "--out",
        str(Path(store).parent / "gpu_plan"),
        "--plan",
        "--set",
        f'data.store="{store}"',
    ]
    assert main(args) == 0
    assert "0 of 12 planned runs finished" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (['data.representation="images"'], "set per run by the study"),
        (['study.representations=["pixels"]'], "representations"),
        (['models.images.name="pointnet-small"'], "does not read images"),
        (["train_overrides.graphs.lr=0.1"], "[train_overrides.graphs]: not among"),
    ],
)
def test_config_errors_are_one_line(study, tmp_path, capsys, sets, message):
    args, _, _ = study
    bad = [*args[:4], str(tmp_path / "o"), *args[5:]]
    bad += [x for s in sets for x in ("--set", s)]
    capsys.readouterr()
    assert main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "o").exists()

"""Every shipped voxel config trains as shipped for 2 optimizer steps: `rhoml train
configs/voxel_*.toml` with overrides of sizes only (training/validation/test counts, batch
size, grid spacing, pocket radius, worker and thread counts), then `rhoml predict` with the run.
The xTB PDBbind config runs GFN2-xTB on protein pockets (minutes): marked slow."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rhoml.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SAMPLE = CONFIGS.parents[1] / "shared" / "data" / "pdbbind_sample"

#: 4 training molecules in batches of 2 for 1 epoch = 2 optimizer steps
TWO_STEPS = ["train.epochs=1", "train.batch_size=2", "data.n_train=4", "data.n_val=2",
             "data.n_test=2", "data.workers=1", "train.threads=1"]  # fmt: skip
#: per config, further size overrides that keep the check fast
SMALLER = {
    "voxel_qm9_small.toml": [],
    "voxel_pdbbind_sample.toml": ["voxel.spacing=2.0"],
    "voxel_pdbbind_xtb.toml": ["voxel.spacing=2.0", "data.pocket_cutoff=3.5"],
}
SLOW = {"voxel_pdbbind_xtb.toml"}


def _params() -> list:
    return [pytest.param(f, id=f.stem, marks=[pytest.mark.slow] if f.name in SLOW else [])
            for f in sorted(CONFIGS.glob("voxel_*.toml"))]  # fmt: skip


def test_every_shipped_voxel_config_has_an_entry():
    assert {f.name for f in CONFIGS.glob("voxel_*.toml")} == set(SMALLER)


@pytest.mark.parametrize("config", _params())
def test_shipped_config_trains_two_steps(config, tmp_path, capsys):
    if "pdbbind" in config.name and not SAMPLE.is_dir():
        pytest.skip(f"needs {SAMPLE} (the shared data folder beside the repository)")
    if "xtb" in config.read_text():
        pytest.importorskip("tblite")
    out = tmp_path / "run"
    sets = [x for o in TWO_STEPS + SMALLER[config.name] for x in ("--set", o)]
    assert main(["train", str(config), "--out", str(out), "--quiet", *sets]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    metrics = manifest["metrics"]
    assert metrics["epochs_run"] == 1 and metrics["n_test"] == 2
    with open(out / "metrics.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 1
    assert "mean_predictor_test" in metrics and manifest["dropped"]["file"] == "dropped.csv"
    assert (out / "dropped.csv").is_file()
    capsys.readouterr()
    inputs = [str(SAMPLE / "1a61")] if "pdbbind" in config.name else ["qm9:2"]
    if "pdbbind" in config.name:  # predict reads a PDBbind folder: one complex's copy
        import shutil

        shutil.copytree(SAMPLE / "1a61", tmp_path / "one" / "1a61")
        inputs = [str(tmp_path / "one")]
    assert main(["predict", str(out), *inputs, "--quiet"]) == 0
    rows = [x for x in capsys.readouterr().out.splitlines() if not x.startswith("#")]
    assert len(rows) == 1 + (1 if "pdbbind" in config.name else 2)

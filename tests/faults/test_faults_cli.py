"""User errors through the real command line: bad option values are usage errors (exit 2, no
traceback), and training into a folder that holds another config's run is refused before
anything in it is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_no_traceback, run

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    "option",
    [
        ("--max-atoms", "0"),
        ("--max-memory", "0"),
        ("--max-memory", "lots"),
        ("--workers", "-1"),
        ("--limit", "-1"),
    ],  # fmt: skip
    ids=lambda o: " ".join(o),
)
def test_bad_batch_option_values_exit_2(tmp_path, option):
    res = run("density", "compute", "qm9:2", "--method", "xtb", "--out", tmp_path / "s", *option)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr  # argparse's usage, then one error line
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("rhoml density compute: error: argument") and option[0] in last
    assert not (tmp_path / "s").exists()  # checked before any work


def test_max_memory_is_refused_with_a_dask_scheduler(tmp_path):
    res = run("density", "compute", "qm9:2", "--method", "xtb", "--out", tmp_path / "s",
              "--max-memory", "2", "--scheduler", "tcp://127.0.0.1:1", "--quiet")  # fmt: skip
    assert res.returncode == 2
    assert_no_traceback(res.stderr)
    assert res.stderr.strip().splitlines() == [
        "rhoml: error: a memory limit applies to local worker processes; give Dask workers "
        "their own (dask worker --memory-limit)"
    ]
    assert not (tmp_path / "s").exists()  # checked before any work


def test_train_into_a_folder_of_another_config_is_refused(tmp_path):
    from rhoml.train.run_folder import RunFolder

    run_dir = tmp_path / "run"
    RunFolder.create(run_dir, {"family": "voxel-cnn", "train": {"epochs": 1}})
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    res = run("train", CONFIGS / "voxel_qm9_small.toml", "--out", run_dir, "--quiet")
    assert res.returncode == 2
    assert_no_traceback(res.stderr)
    assert res.stderr.strip() == (
        f"rhoml: error: {run_dir}: holds a run of another config (differs at data); give "
        "another --out or delete the folder"
    )
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before

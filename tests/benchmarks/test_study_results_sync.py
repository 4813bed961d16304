"""benchmarks/study_results_sync.py: finished results and unfinished runs survive a fresh study
folder (the study restarts no finished run and resumes unfinished ones from their checkpoint)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "study_results_sync.py"


def _module():
    spec = importlib.util.spec_from_file_location("study_results_sync", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(folder: Path, epochs: int, finished: bool = False) -> None:
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"state %d" % epochs)
    rows = "epoch,val_loss\n" + "".join(f"{i},1.0\n" for i in range(epochs))
    (folder / "checkpoints" / "metrics.csv").write_text(rows)
    (folder / "config.toml").write_text("seed = 0\n")
    if finished:
        (folder / "result.json").write_text('{"mae": 1}')
        (folder / "manifest.json").write_text('{"build": {}}')


def test_save_and_restore_keep_results_and_unfinished_runs(tmp_path):
    mod = _module()
    study, saved, fresh = tmp_path / "study", tmp_path / "saved", tmp_path / "fresh"
    _run(study / "runs" / "atoms" / "n1000" / "s0", 5, finished=True)
    _run(study / "runs" / "density" / "n1000" / "s0", 7)
    mod.copy_results(study / "runs", saved, overwrite=True)
    assert mod.save_partial(study / "runs", saved) == (1, 0)
    assert (saved / "atoms" / "n1000" / "s0" / "result.json").is_file()
    assert (saved / "atoms" / "n1000" / "s0" / "manifest.json").is_file()  # kept beside it
    assert not (saved / "atoms" / "n1000" / "s0" / "config.toml").exists()
    part = saved / "partial" / "density" / "n1000" / "s0"
    assert (part / "checkpoints" / "last.pt").read_bytes() == b"state 7"
    assert not (saved / "partial" / "atoms").exists()  # finished runs are not saved whole

    # a fresh study folder gets the result and the unfinished run with its checkpoint
    assert mod.copy_results(saved, fresh / "runs", overwrite=False) == 1
    assert (fresh / "runs" / "atoms" / "n1000" / "s0" / "manifest.json").is_file()
    assert mod.restore_partial(saved, fresh / "runs") == 1
    run = fresh / "runs" / "density" / "n1000" / "s0"
    assert mod.epochs_done(run) == 7 and (run / "config.toml").is_file()
    # result files inside partial/ are never taken for finished runs
    assert not (fresh / "runs" / "partial").exists()

    # a study that got further is not rolled back
    _run(run, 9)
    assert mod.restore_partial(saved, fresh / "runs") == 0
    assert mod.epochs_done(run) == 9

    # once the run finishes, saving drops its partial copy and keeps the result
    _run(run, 10, finished=True)
    assert mod.save_partial(fresh / "runs", saved) == (0, 1)
    mod.copy_results(fresh / "runs", saved, overwrite=True)
    assert not part.exists() and (saved / "density" / "n1000" / "s0" / "result.json").is_file()

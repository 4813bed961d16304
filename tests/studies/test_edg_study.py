"""The EDG study (`rhoml bench edg-study`): the shipped tiny config end to end (student run
folders, λ chosen on validation, tables, learning curves, JSON without NaN), resuming (a rerun
trains nothing, a lost result.json is rebuilt from the finished run), the summary statistics on
fabricated results, and config errors (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from rhoml.cli import main

pytest.importorskip("torch_geometric")

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _strict_json(path: Path):
    def no_nan(x):
        raise AssertionError(f"{path}: {x} in JSON")

    return json.loads(path.read_text(), parse_constant=no_nan)


def _runs_finished(out: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in out.glob("runs/**/result.json")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from rhoml import runs

    shared_path("data", "rmd17")
    if "edg-teacher-small" not in runs.shipped():
        pytest.skip("shipped run edg-teacher-small not in this checkout")
    out = tmp_path_factory.mktemp("edg_study") / "study"
    cfg = CONFIGS / "edg_study_tiny.toml"
    assert main(["bench", "edg-study", str(cfg), "--out", str(out), "--quiet"]) == 0
    return cfg, out


def test_tiny_study_writes_runs_tables_and_curves(tiny):
    from rhoml import runs

    _, out = tiny
    summary = _strict_json(out / "results.json")
    # per (item, model): plain s0, 2 λ on s0, plain s1, EDG at λ* on s1
    assert summary["runs_finished"] == summary["runs_planned"] == 10
    for cell in summary["cells"]:
        sweep = {w["lambda"]: w["val"]["mean"] for w in cell["sweep"]}
        assert cell["lambda"] == min(sweep, key=lambda k: (sweep[k], k))
        assert cell["seeds"] == {"plain": 2, "edg": 2}
        for m in cell["metrics"].values():
            for side in ("plain", "edg"):
                assert m[side]["n"] == 2 and m[side]["std"] is not None
            assert m["gain_percent"] == pytest.approx(
                100 * (m["plain"]["mean"] - m["edg"]["mean"]) / m["plain"]["mean"]
            )
    cells = {(c["dataset"], c["item"]) for c in summary["cells"]}
    assert cells == {("rmd17", "ethanol"), ("qm9", "gap")}
    md = (out / "results.md").read_text()
    assert "| ethanol | schnet |" in md and "| gap (meV) | schnet |" in md and "±" in md
    assert "smoke scale" in md and "epochs/s" in md
    assert (out / "learning_curves.png").stat().st_size > 10_000
    # every training is an ordinary student run folder; EDG runs record their teacher
    lam = next(c["lambda"] for c in summary["cells"] if c["dataset"] == "rmd17")
    folder = out / "runs" / "rmd17" / "ethanol" / "schnet" / f"edg-lambda{lam:.0e}" / "s1"
    run = runs.load(folder)
    distill = run.manifest["build"]["distill"]
    assert distill["lambda"] == lam and distill["teacher_weights"] in distill["array"]
    assert run.is_potential
    plain = runs.load(out / "runs" / "qm9" / "gap" / "schnet" / "plain" / "s0")
    assert plain.manifest["build"]["distill"] is None
    assert plain.manifest["build"]["readout"] == "mean"  # gap: intensive


def test_rerun_trains_nothing_and_rebuilds_a_lost_result(tiny, capsys):
    cfg, out = tiny
    before = _runs_finished(out)
    lost = sorted(before)[0]
    row = json.loads(lost.read_text())
    lost.unlink()
    capsys.readouterr()
    assert main(["bench", "edg-study", str(cfg), "--out", str(out), "--quiet"]) == 0
    after = _runs_finished(out)
    assert set(after) == set(before)
    assert all(after[p] == before[p] for p in before if p != lost)
    again = json.loads(lost.read_text())
    assert again["test"] == row["test"] and again["epochs_run"] == row["epochs_run"]
    assert main(["bench", "edg-study", str(cfg), "--out", str(out), "--plan"]) == 0
    text = capsys.readouterr().out
    assert "pending" not in text and "10 of 10 planned runs finished" in text


def _fake(out: Path, variant: str, seed: int, val: float, test: float, item="ethanol"):
    folder = out / "runs" / "rmd17" / item / "m" / variant / f"s{seed}"
    folder.mkdir(parents=True)
    row = {"test": {"energy_mae": test, "force_mae": test / 2},
           "best_val": {"force_mae": val}, "epochs_run": 10, "train_seconds": 5.0,
           "seconds_per_epoch": 0.5, "units": {"energy": "kcal/mol"}}  # fmt: skip
    (folder / "result.json").write_text(json.dumps(row))


def test_summary_statistics_on_fabricated_results(tmp_path):
    from rhoml.studies.edg import load_study, markdown, plan, summarise

    cfg_path = tmp_path / "s.toml"
    cfg_path.write_text(
        '[study]\nseeds = 3\nlambdas = [0.1, 1.0]\nteacher_run = "edg-teacher-small"\n'
        '[models.m]\nname = "schnet-small"\n'
        f'[rmd17]\nmolecules = ["ethanol"]\nroot = "{tmp_path}"\n'
    )
    try:
        cfg = load_study(cfg_path)
    except Exception as exc:  # no shipped teacher in this checkout
        pytest.skip(str(exc))
    out = tmp_path / "study"
    _fake(out, "plain", 0, val=1.0, test=2.0)
    _fake(out, "edg-lambda1e-01", 0, val=0.9, test=1.0)
    _fake(out, "edg-lambda1e+00", 0, val=0.8, test=float("nan"))  # λ* = 1 by validation
    assert len(plan(cfg, out)) == 3 + 2 + 2  # sweep finished: EDG on seeds 1, 2 planned
    s = summarise(cfg, out)
    (cell,) = s["cells"]
    assert cell["lambda"] == 1.0 and cell["seeds"] == {"plain": 1, "edg": 1}
    e = cell["metrics"]["energy_mae"]
    assert e["plain"]["std"] is None and e["edg"]["mean"] is None  # NaN is dropped, not averaged
    assert e["gain_percent"] is None and e["verdict"] == "pending"
    _fake(out, "plain", 1, val=1.0, test=4.0)
    _fake(out, "edg-lambda1e+00", 1, val=0.8, test=1.5)
    _fake(out, "edg-lambda1e+00", 2, val=0.8, test=2.5)
    s = summarise(cfg, out)
    e = s["cells"][0]["metrics"]["energy_mae"]
    assert e["plain"]["mean"] == 3.0 and e["plain"]["std"] == pytest.approx(np.sqrt(2))
    assert e["edg"]["mean"] == 2.0 and e["edg"]["n"] == 2
    assert e["gain_percent"] == pytest.approx(100 / 3)
    assert e["verdict"] == "within spread"
    json.dumps(s, allow_nan=False)
    md = markdown(s)
    assert "| ethanol | m | 3 ± 1.4 | 2 ± 0.71 | +33.3 % |" in md


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"[rmd17]": '[rmd17]\nmolecules = ["caffeine"]\n'}, "unknown caffeine"),
        ({"[study]": "[study]\nsweep_seeds = 3\nseeds = 2\n"}, "sweep_seeds"),
        ({"[models.schnet]": "[models.schnet]\nwidth = 3\n"}, "models.schnet"),
        ({'teacher_run = "edg-teacher-small"': 'teacher_run = "nope"'}, "teacher_run"),
    ],
)
def test_config_errors_exit_2_with_one_line(tmp_path, capsys, edit, message):
    text = (CONFIGS / "edg_study_tiny.toml").read_text()
    for old, new in edit.items():
        if old == "[study]":
            text = text.replace("seeds = 2\nsweep_seeds = 1\n", "")
        if old == "[models.schnet]":
            text = text.replace('[models.schnet]\nname = "schnet"\n', "[models.schnet]\n")
        if old == "[rmd17]":
            text = text.replace('[rmd17]\nmolecules = ["ethanol"]\n', "[rmd17]\n")
        text = text.replace(old, new, 1)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    capsys.readouterr()
    assert main(["bench", "edg-study", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()

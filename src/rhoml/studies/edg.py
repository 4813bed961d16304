"""The EDG study (``rhoml bench edg-study CONFIG``): geometry students with and without EDG
distillation on the same splits, the distillation weight λ chosen on validation, several seeds,
tables in the form of the EDG paper (Xiang et al., IJCAI 2025, Tables 1–3) and learning curves.

Protocol, per data set item (an rMD17 molecule or a QM9 target) and student model:

1. the plain student on seeds ``0 .. seeds-1``;
2. the EDG student for every λ of ``lambdas`` on seeds ``0 .. sweep_seeds-1`` (the sweep);
3. λ* = the λ with the lowest mean validation score of the sweep (rMD17: the validation force
   MAE at the best epoch; QM9: the validation MAE of the target at the best epoch);
4. the EDG student at λ* on the remaining seeds.

Test scores are those at the best validation epoch (the student family's protocol: rMD17 950 /
50 frames of the train split file, the 1,000 test frames, kcal/mol and kcal/mol/Å, loss
0.05·L1(E) + 0.95·L1(F); QM9 the 110k/10k/10,831 split with nested training subsets, one model
per target). Each training is an ordinary ``student`` run folder
``OUT/runs/<dataset>/<item>/<model>/<plain | edg-lambda<λ>>/s<seed>`` with a ``result.json``
written when it finishes; a rerun skips finished runs and resumes interrupted ones from their
checkpoints, so a study can span sessions. ``OUT/results.json`` / ``results.md`` /
``learning_curves.png`` summarise what has finished (mean ± std over seeds only where ≥ 2 seeds
finished; JSON without NaN).

Config sections: ``[study]`` (:class:`StudyConfig`), ``[models.<label>]`` (a student ``[model]``
table each: ``name`` = a model or preset, its parameters, ``readout``), ``[rmd17]``
(:class:`RMD17Part`), ``[qm9]`` (:class:`QM9Part`), ``[rmd17_train]`` / ``[qm9_train]``
(:class:`~rhoml.train.config.TrainConfig` of every run of that data set; the seed is set per
run).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.config import ConfigError, load_config, option
from rhoml.errors import RhomlError
from rhoml.studies.run_results import ResultFolder
from rhoml.train.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_LAMBDAS", "PAPER_SCHNET", "QM9Part", "RMD17Part", "StudyConfig", "StudyRun",
    "load_study", "markdown", "plan", "plot", "run_study", "summarise",
]  # fmt: skip

#: the λ grid of the EDG paper ("from 1e-4 ... to 1.0 with 10× steps")
PAPER_LAMBDAS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]

#: EDG paper, SchNet at full scale (Tables 1-3): (dataset, item, metric) → (plain, EDG) MAE
PAPER_SCHNET = {
    ("rmd17", "ethanol", "energy_mae"): (0.125, 0.061),
    ("rmd17", "ethanol", "force_mae"): (0.385, 0.379),
    ("rmd17", "aspirin", "energy_mae"): (0.739, 0.355),
    ("qm9", "gap", "mae_gap"): (50.8, 49.8),
    ("qm9", "U0", "mae_U0"): (13.9, 13.8),
}


@dataclass
class StudyConfig:
    """``[study]``: ``scale`` (a label printed with every table, e.g. "CPU scale: ..."),
    ``seeds`` (seeds per final cell), ``lambdas`` (the λ grid), ``sweep_seeds`` (seeds of the λ
    sweep, ≤ seeds), ``teacher_run`` (an edg-teacher run folder or shipped name),
    ``features_store`` (where teacher features are cached; "" = ``OUT/teacher_features``)."""

    scale: str = ""
    seeds: int = option(3, min=1)
    lambdas: list[float] = field(default_factory=lambda: list(PAPER_LAMBDAS))
    sweep_seeds: int = option(1, min=1)
    teacher_run: str = "edg-teacher-small"
    features_store: str = option("", path=True)

    def __post_init__(self) -> None:
        if not self.lambdas or any(not float(x) > 0 for x in self.lambdas):
            raise ValueError("lambdas must be a non-empty list of positive numbers")
        if self.sweep_seeds > self.seeds:
            raise ValueError(f"sweep_seeds ({self.sweep_seeds}) > seeds ({self.seeds})")


@dataclass
class RMD17Part:
    """``[rmd17]``: ``molecules`` (empty = none), ``root`` (the rMD17 folder), ``n_train`` /
    ``n_val`` (first / last frames of the train split file), ``n_test`` (0 = all 1,000)."""

    molecules: list[str] = field(default_factory=list)
    root: str = option("", path=True)
    n_train: int = option(950, min=1)
    n_val: int = option(50, min=1)
    n_test: int = option(0, min=0)


@dataclass
class QM9Part:
    """``[qm9]``: ``targets`` (empty = none; one model per target), ``n_train`` (a nested
    subset of the 110k training split), ``n_val``, ``n_test`` (0 = all 10,831),
    ``subset_seed``; ``mean_readout``: targets whose model averages over atoms instead of
    summing (intensive orbital energies)."""

    targets: list[str] = field(default_factory=list)
    mean_readout: list[str] = field(default_factory=lambda: ["homo", "lumo", "gap"])
    n_train: int = option(110000, min=1)
    n_val: int = option(10000, min=1)
    n_test: int = option(0, min=0)
    subset_seed: int = option(0, min=0)


SECTIONS: dict[str, type | None] = {
    "study": StudyConfig,
    "models": None,
    "rmd17": RMD17Part,
    "qm9": QM9Part,
    "rmd17_train": TrainConfig,
    "qm9_train": TrainConfig,
}


@dataclass
class StudyRun(ResultFolder):
    """One training of the study: where it goes and the student config it trains."""

    dataset: str  # rmd17 | qm9
    item: str  # molecule or target
    model: str  # label of [models.<label>]
    lam: float | None  # None = plain student
    seed: int
    folder: Path

    @property
    def variant(self) -> str:
        return "plain" if self.lam is None else f"edg-lambda{_lam(self.lam)}"


def _lam(x: float) -> str:
    return f"{float(x):.0e}"


def load_study(path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read and check a study config → its sections (dataclasses; ``models``: label → table).
    One-line :class:`ConfigError` for what is wrong."""
    from rhoml.models.registry import check_model_section

    where = str(path)
    cfg = load_config(path, SECTIONS, where, overrides=overrides)
    models = cfg["models"]
    if not models:
        raise ConfigError(f"{where}: no [models.<label>] tables (e.g. [models.schnet] name = ...)")
    for label, table in models.items():
        if not isinstance(table, dict) or "name" not in table:
            raise ConfigError(f"{where}: [models.{label}] must be a table with a 'name'")
        params = dict(table)
        readout = params.pop("readout", "sum")
        if readout not in ("sum", "mean"):
            raise ConfigError(f"{where}: [models.{label}].readout must be 'sum' or 'mean'")
        check_model_section(params, f"{where}: [models.{label}]", "schnet-small")
    r, q = cfg["rmd17"], cfg["qm9"]
    if not r.molecules and not q.targets:
        raise ConfigError(f"{where}: nothing to study: give [rmd17].molecules or [qm9].targets")
    if r.molecules:
        from rhoml.io.rmd17 import RMD17_MOLECULES

        bad = [m for m in r.molecules if m not in RMD17_MOLECULES]
        if bad:
            raise ConfigError(f"{where}: [rmd17].molecules: unknown {', '.join(bad)}")
        if not r.root:
            raise ConfigError(f"{where}: [rmd17].root: the rMD17 folder is needed")
    if q.targets:
        from rhoml.datasets.qm9 import REPORT_UNITS

        bad = [t for t in q.targets if t not in REPORT_UNITS]
        if bad:
            raise ConfigError(f"{where}: [qm9].targets: unknown {', '.join(bad)}")
    from rhoml.train.run_folder import resolve_run

    try:
        resolve_run(cfg["study"].teacher_run)
    except RhomlError as exc:
        raise ConfigError(f"{where}: [study].teacher_run: {exc}") from None
    return cfg


def plan(cfg: dict, out) -> list[StudyRun]:
    """Every run of the study in the order they train: per item and model the plain seed 0, the
    λ sweep, then the remaining seeds (EDG ones at λ* once the sweep has finished; until then
    they are not planned)."""
    out = Path(out).resolve()
    s: StudyConfig = cfg["study"]
    runs: list[StudyRun] = []
    items = [("rmd17", m) for m in cfg["rmd17"].molecules] + [
        ("qm9", t) for t in cfg["qm9"].targets
    ]
    for dataset, item in items:
        for label in cfg["models"]:
            base = out / "runs" / dataset / item / label

            def run(lam, seed, base=base, dataset=dataset, item=item, label=label):
                r = StudyRun(dataset, item, label, lam, seed, base)
                r.folder = base / r.variant / f"s{seed}"
                return r

            cell = [run(None, k) for k in range(s.sweep_seeds)]
            cell += [run(lam, k) for lam in s.lambdas for k in range(s.sweep_seeds)]
            cell += [run(None, k) for k in range(s.sweep_seeds, s.seeds)]
            best = choose_lambda(cell, s)
            if best is not None:
                cell += [run(best, k) for k in range(s.sweep_seeds, s.seeds)]
            runs += cell
    return runs


def _val_score(dataset: str, item: str, result: dict) -> float | None:
    """The validation score λ is chosen on (lower is better)."""
    best = result.get("best_val") or {}
    v = best.get("force_mae") if dataset == "rmd17" else best.get(f"mae_{item}")
    return None if v is None or not np.isfinite(v) else float(v)


def choose_lambda(cell: list[StudyRun], s: StudyConfig) -> float | None:
    """λ* of one (item, model): lowest mean validation score over the sweep seeds; None until
    every sweep run has finished."""
    scores = {}
    for lam in s.lambdas:
        rs = [r for r in cell if r.lam == lam and r.seed < s.sweep_seeds]
        res = [r.result() for r in rs]
        if len(rs) < s.sweep_seeds or any(x is None for x in res):
            return None
        vals = [_val_score(r.dataset, r.item, x) for r, x in zip(rs, res, strict=True)]
        vals = [v for v in vals if v is not None]
        scores[lam] = float(np.mean(vals)) if vals else float("inf")
    return min(scores, key=lambda k: (scores[k], k))


def run_config(cfg: dict, r: StudyRun, out: Path) -> dict:
    """The ``student`` training config (a plain dict, absolute paths) of one study run."""
    s: StudyConfig = cfg["study"]
    train = asdict(cfg[f"{r.dataset}_train"])
    train["seed"] = r.seed
    if r.dataset == "rmd17":
        p: RMD17Part = cfg["rmd17"]
        # canonical paths: the same run config wherever the study config is read from
        root = str(Path(p.root).resolve())
        data = {"dataset": "rmd17", "molecule": r.item, "root": root, "n_train": p.n_train,
                "n_val": p.n_val, "n_test": p.n_test}  # fmt: skip
    else:
        q: QM9Part = cfg["qm9"]
        data = {"dataset": "qm9", "targets": [r.item], "n_train": q.n_train, "n_val": q.n_val,
                "n_test": q.n_test, "subset_seed": q.subset_seed}  # fmt: skip
    distill = {}
    if r.lam is not None:
        store = s.features_store or str(Path(out).resolve() / "teacher_features")
        distill = {"lambda": float(r.lam), "teacher_run": s.teacher_run,
                   "features_store": str(Path(store).resolve() / f"{r.dataset}.rhoml")}  # fmt: skip
    model = dict(cfg["models"][r.model])
    if r.dataset == "qm9" and r.item in cfg["qm9"].mean_readout:
        model["readout"] = "mean"
    return {"family": "student", "data": data, "model": model, "distill": distill,
            "train": train}  # fmt: skip


def run_one(cfg: dict, r: StudyRun, out: Path, progress: bool = False) -> dict:
    """Train (or resume) one study run and write its ``result.json``; returns it."""
    from rhoml import runs

    done = r.result()
    if done is not None:
        return done
    t0 = time.perf_counter()
    run = runs.train(run_config(cfg, r, out), r.folder, progress=progress)
    m = run.manifest["metrics"]
    epochs = m.get("epochs_run") or 0
    secs = m.get("train_seconds") or 0.0
    row = {
        "dataset": r.dataset, "item": r.item, "model": r.model, "variant": r.variant,
        "lambda": r.lam, "seed": r.seed, "test": m["test"], "best_val": m.get("best_val"),
        "best_epoch": m.get("best_epoch"), "epochs_run": epochs, "train_seconds": secs,
        "seconds_per_epoch": secs / epochs if epochs else None,
        "wall_seconds": time.perf_counter() - t0, "n_train": m.get("n_train"),
        "n_val": m.get("n_val"), "n_test": m.get("n_test"), "parameters": m.get("parameters"),
        "device": m.get("device"), "torch_threads": m.get("torch_threads"),
        "units": run.outputs,
    }  # fmt: skip
    from rhoml.io.atomic import atomic_write
    from rhoml.train.run_folder import json_safe

    atomic_write(r.folder / "result.json", json.dumps(json_safe(row), indent=1) + "\n")
    return row


def run_study(cfg: dict, out, *, progress: bool = True, summary_only: bool = False,
              max_runs: int = 0) -> dict:  # fmt: skip
    """Train every planned run that has not finished (in plan order; the plan grows as λ sweeps
    finish), then write and return the summary. ``summary_only``: train nothing. ``max_runs``:
    stop after training that many (0 = no limit)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trained = 0
    while not summary_only:
        todo = [r for r in plan(cfg, out) if not r.done]
        if not todo or (max_runs and trained >= max_runs):
            break
        r = todo[0]
        n_all = len(plan(cfg, out))
        logger.info("[%d/%d planned] %s %s %s %s seed %d", n_all - len(todo) + 1, n_all,
                    r.dataset, r.item, r.model, r.variant, r.seed)  # fmt: skip
        row = run_one(cfg, r, out, progress=False)
        trained += 1
        logger.info("  test %s; %d epochs, %.2f s/epoch", _short(row), row["epochs_run"] or 0,
                    row["seconds_per_epoch"] or 0.0)  # fmt: skip
        write_summary(cfg, out)
    return write_summary(cfg, out)


def _short(row: dict) -> str:
    t = row["test"]
    if row["dataset"] == "rmd17":
        return f"E {t['energy_mae']:.4g} kcal/mol, F {t['force_mae']:.4g} kcal/mol/Å"
    return f"{row['item']} MAE {t.get('mae_' + row['item'], float('nan')):.4g}"


def write_summary(cfg: dict, out: Path) -> dict:
    from rhoml.io.atomic import atomic_write
    from rhoml.train.run_folder import json_safe

    summary = json_safe(summarise(cfg, out))
    atomic_write(out / "results.json", json.dumps(summary, indent=1) + "\n")
    atomic_write(out / "results.md", markdown(summary) + "\n")
    if summary["cells"]:
        plot(summary, out, out / "learning_curves.png")
    return summary


# -- summary -----------------------------------------------------------------------------------
def _stat(values: list[float]) -> dict:
    """mean, std (only for ≥ 2 values), n and the values."""
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    return {"mean": float(np.mean(v)) if v else None,
            "std": float(np.std(v, ddof=1)) if len(v) >= 2 else None,
            "n": len(v), "values": v}  # fmt: skip


def _metrics(dataset: str, item: str) -> list[str]:
    return ["energy_mae", "force_mae"] if dataset == "rmd17" else [f"mae_{item}"]


def _gain(plain: dict, edg: dict) -> float | None:
    """Relative gain of EDG in % (positive = lower error with EDG), as in the paper."""
    if plain["mean"] is None or edg["mean"] is None or plain["mean"] == 0:
        return None
    return 100.0 * (plain["mean"] - edg["mean"]) / plain["mean"]


def _verdict(plain: dict, edg: dict) -> str:
    if plain["mean"] is None or edg["mean"] is None:
        return "pending"
    if plain["std"] is None or edg["std"] is None:
        return "better" if edg["mean"] < plain["mean"] else "worse"
    spread = float(np.hypot(plain["std"], edg["std"]))
    diff = plain["mean"] - edg["mean"]
    if abs(diff) <= spread:
        return "within spread"
    return "better" if diff > 0 else "worse"


def summarise(cfg: dict, out) -> dict:
    """Cells (item × model) with plain and EDG test errors over seeds, λ*, the λ sweep's
    validation scores, relative gains and per-data-set average gains; timings."""
    out = Path(out)
    s: StudyConfig = cfg["study"]
    planned = plan(cfg, out)
    cells = []
    keys = list(dict.fromkeys((r.dataset, r.item, r.model) for r in planned))
    for dataset, item, model in keys:
        cell = [r for r in planned if (r.dataset, r.item, r.model) == (dataset, item, model)]
        lam = choose_lambda(cell, s)
        results = {id(r): r.result() for r in cell}
        plain = [results[id(r)] for r in cell if r.lam is None and results[id(r)]]
        edg = [results[id(r)] for r in cell if lam is not None and r.lam == lam and results[id(r)]]
        sweep = []
        for x in s.lambdas:
            rs = [results[id(r)] for r in cell if r.lam == x and r.seed < s.sweep_seeds]
            vals = [_val_score(dataset, item, v) for v in rs if v]
            sweep.append({"lambda": x, "val": _stat([v for v in vals if v is not None])})
        plain_val = _stat([_val_score(dataset, item, v) for v in plain if v])
        entry = {"dataset": dataset, "item": item, "model": model, "lambda": lam,
                 "sweep": sweep, "plain_val": plain_val,
                 "seeds": {"plain": len(plain), "edg": len(edg)},
                 "units": (plain or edg or [{}])[0].get("units"),
                 "runs_finished": sum(1 for v in results.values() if v),
                 "runs_planned": len(cell),
                 "seconds_per_epoch": _stat([v["seconds_per_epoch"] for v in results.values()
                                             if v and v.get("seconds_per_epoch")]),
                 "epochs_run": _stat([v["epochs_run"] for v in results.values() if v]),
                 "metrics": {}}  # fmt: skip
        for key in _metrics(dataset, item):
            p = _stat([v["test"].get(key) for v in plain])
            e = _stat([v["test"].get(key) for v in edg])
            entry["metrics"][key] = {"plain": p, "edg": e, "gain_percent": _gain(p, e),
                                     "verdict": _verdict(p, e)}  # fmt: skip
        if lam is None:
            entry["status"] = "λ sweep unfinished"
        cells.append(entry)
    averages = []
    for dataset in dict.fromkeys(c["dataset"] for c in cells):
        for model in cfg["models"]:
            cs = [c for c in cells if c["dataset"] == dataset and c["model"] == model]
            for key in ["energy_mae", "force_mae"] if dataset == "rmd17" else ["mae"]:
                gains = [m["gain_percent"] for c in cs for k, m in c["metrics"].items()
                         if (k == key or (key == "mae" and k.startswith("mae_")))
                         and m["gain_percent"] is not None]  # fmt: skip
                averages.append({"dataset": dataset, "model": model, "metric": key,
                                 "mean_gain_percent": float(np.mean(gains)) if gains else None,
                                 "n_items": len(gains)})  # fmt: skip
    finished = [r.result() for r in planned if r.done]
    return {
        "scale": s.scale, "teacher_run": s.teacher_run, "seeds": s.seeds,
        "sweep_seeds": s.sweep_seeds, "lambdas": list(s.lambdas),
        "models": {k: dict(v) for k, v in cfg["models"].items()},
        "rmd17": asdict(cfg["rmd17"]), "qm9": asdict(cfg["qm9"]),
        "rmd17_train": asdict(cfg["rmd17_train"]), "qm9_train": asdict(cfg["qm9_train"]),
        "runs_finished": len(finished), "runs_planned": len(planned),
        "train_hours_so_far": sum((r.get("train_seconds") or 0) for r in finished) / 3600,
        "cells": cells, "average_gains": averages,
    }  # fmt: skip


def _cell(e: dict, digits: int = 4) -> str:
    if e["mean"] is None:
        return "–"
    if e["std"] is not None:
        return f"{e['mean']:.{digits}g} ± {e['std']:.2g}"
    return f"{e['mean']:.{digits}g}"


_PAPER_LABEL = {"energy_mae": " energy", "force_mae": " force"}


def _pct(x) -> str:
    return "–" if x is None else f"{x:+.1f} %"


def markdown(summary: dict) -> str:
    """Tables in the paper's form: MAE per molecule / target, plain vs EDG, relative gain,
    spread across seeds; the λ sweep; timings."""
    lines = [f"# EDG study{': ' + summary['scale'] if summary.get('scale') else ''}", ""]
    lines += [
        f"Teacher: `{summary['teacher_run']}`. λ grid {summary['lambdas']}, chosen per cell on "
        f"validation over {summary['sweep_seeds']} seed(s); {summary['seeds']} seed(s) per "
        "final cell. Cells: mean ± std over seeds where ≥ 2 seeds finished, else the single "
        "run. Gain = (plain − EDG) / plain (positive: EDG better). Verdict: better / worse "
        "beyond the seed spread (√(std²+std²)), or within it; with one seed the sign only.",
        f"Runs finished: {summary['runs_finished']} of {summary['runs_planned']} planned "
        f"({summary['train_hours_so_far']:.2f} h of training).", "",
    ]  # fmt: skip
    cells = summary["cells"]
    for dataset, title in (("rmd17", "rMD17"), ("qm9", "QM9")):
        cs = [c for c in cells if c["dataset"] == dataset]
        if not cs:
            continue
        part = summary[dataset]
        if dataset == "rmd17":
            lines += [f"## {title}: energy MAE (kcal/mol) and force MAE (kcal/mol/Å)", "",
                      f"{part['n_train']} training / {part['n_val']} validation frames of the "
                      f"train split file, {part['n_test'] or 1000} test frames; test at the best "
                      "validation force MAE.", "",
                      "| molecule | model | E plain | E EDG | E gain | F plain | F EDG | F gain "
                      "| verdict (E / F) | λ* | seeds (plain / EDG) |",
                      "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]  # fmt: skip
            for c in cs:
                e, f = c["metrics"]["energy_mae"], c["metrics"]["force_mae"]
                lines.append(
                    f"| {c['item']} | {c['model']} | {_cell(e['plain'])} | {_cell(e['edg'])} | "
                    f"{_pct(e['gain_percent'])} | {_cell(f['plain'])} | {_cell(f['edg'])} | "
                    f"{_pct(f['gain_percent'])} | {e['verdict']} / {f['verdict']} | "
                    f"{_lam(c['lambda']) if c['lambda'] is not None else 'sweep running'} | "
                    f"{c['seeds']['plain']} / {c['seeds']['edg']} |"
                )
        else:
            lines += [f"## {title}: test MAE per target (one model per target)", "",
                      f"{part['n_train']} training molecules (nested subset of the 110k split), "
                      f"{part['n_val']} validation, {part['n_test'] or 10831} test.", "",
                      "| target (unit) | model | plain | EDG | gain | verdict | λ* | seeds "
                      "(plain / EDG) |", "|---|---|---:|---:|---:|---|---:|---|"]  # fmt: skip
            for c in cs:
                m = c["metrics"][f"mae_{c['item']}"]
                unit = (c.get("units") or {}).get(c["item"], "")
                lines.append(
                    f"| {c['item']} ({unit}) | {c['model']} | {_cell(m['plain'])} | "
                    f"{_cell(m['edg'])} | {_pct(m['gain_percent'])} | {m['verdict']} | "
                    f"{_lam(c['lambda']) if c['lambda'] is not None else 'sweep running'} | "
                    f"{c['seeds']['plain']} / {c['seeds']['edg']} |"
                )
        paper = [(item, key, v) for (d, item, key), v in PAPER_SCHNET.items()
                 if d == dataset and any(c["item"] == item for c in cs)]  # fmt: skip
        if paper:
            lines += ["", "EDG paper, SchNet at full scale, for comparison: " + "; ".join(
                f"{item}{_PAPER_LABEL.get(key, '')} MAE {a:g} → {b:g} ({_pct(100 * (a - b) / a)})"
                for item, key, (a, b) in paper) + "."]  # fmt: skip
        avg = [a for a in summary["average_gains"] if a["dataset"] == dataset]
        if avg:
            lines += ["", "Average gain over " + ("molecules" if dataset == "rmd17" else
                      "targets") + " (the paper's summary): " + "; ".join(
                f"{a['model']} {a['metric']} {_pct(a['mean_gain_percent'])} "
                f"({a['n_items']})" for a in avg) + "."]  # fmt: skip
        lines += ["", f"### {title}: λ sweep (validation score at the best epoch, "
                  + ("force MAE" if dataset == "rmd17" else "target MAE") + ")", "",
                  "| item | model | plain | " + " | ".join(_lam(x) for x in summary["lambdas"])
                  + " |", "|---|---|---:|" + "---:|" * len(summary["lambdas"])]  # fmt: skip
        for c in cs:
            vals = " | ".join(_cell(w["val"]) for w in c["sweep"])
            lines.append(f"| {c['item']} | {c['model']} | {_cell(c['plain_val'])} | {vals} |")
        lines += ["", f"### {title}: cost per run", "",
                  "| item | model | runs finished | epochs | s/epoch | epochs/s |",
                  "|---|---|---:|---:|---:|---:|"]  # fmt: skip
        for c in cs:
            spe = c["seconds_per_epoch"]["mean"]
            lines.append(f"| {c['item']} | {c['model']} | {c['runs_finished']} of "
                         f"{c['runs_planned']} | {_cell(c['epochs_run'])} | "
                         f"{'–' if spe is None else f'{spe:.3g}'} | "
                         f"{'–' if not spe else f'{1 / spe:.3g}'} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines).rstrip()


def _curve(folder: Path, column: str) -> np.ndarray | None:
    import csv

    p = folder / "metrics.csv"
    if not p.is_file():
        return None
    with p.open() as fh:
        rows = list(csv.DictReader(fh))
    vals = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
    return np.asarray(vals) if vals else None


def plot(summary: dict, out: Path, path) -> None:
    """Per (item, model): the validation score against the epoch, plain vs EDG at λ* (mean
    over seeds; thin lines: each seed), log scale; one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = summary["cells"]
    n = len(cells)
    ncols = min(4, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax, c in zip(axes.flat, cells, strict=False):
        column = "force_mae" if c["dataset"] == "rmd17" else f"mae_{c['item']}"
        base = out / "runs" / c["dataset"] / c["item"] / c["model"]
        variants = [("plain", "plain student", "C0")]
        if c["lambda"] is not None:
            variants.append((f"edg-lambda{_lam(c['lambda'])}", f"EDG, λ = {_lam(c['lambda'])}",
                             "C3"))  # fmt: skip
        for variant, label, colour in variants:
            curves = [_curve(f, column) for f in sorted((base / variant).glob("s*"))]
            curves = [x for x in curves if x is not None]
            if not curves:
                continue
            for x in curves:
                ax.plot(np.arange(1, len(x) + 1), x, color=colour, lw=0.5, alpha=0.4)
            m = min(len(x) for x in curves)
            mean = np.mean([x[:m] for x in curves], axis=0)
            ax.plot(
                np.arange(1, m + 1),
                mean,
                color=colour,
                lw=1.5,
                label=f"{label} ({len(curves)} seed{'s' if len(curves) > 1 else ''})",
            )
        unit = "kcal/mol/Å" if c["dataset"] == "rmd17" else (c.get("units") or {}).get(c["item"])
        what = "force MAE" if c["dataset"] == "rmd17" else f"{c['item']} MAE"
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {what}" + (f" ({unit})" if unit else ""))
        ax.set_title(f"{c['dataset']} {c['item']}, {c['model']}", fontsize=9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    import textwrap

    scale = summary.get("scale") or ""
    title = f"EDG study learning curves{': ' + scale if scale else ''}"
    fig.suptitle(textwrap.fill(title, width=int(55 * ncols)), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

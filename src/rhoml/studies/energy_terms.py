"""The energy-term study (``rhoml bench energy-terms CONFIG``), the analogue of the EDG paper's
appendix Table 4 ("DBED-1w"): DFT energy terms E1–E6 predicted from point clouds (PointNet),
voxels (ResNet-3D) and the 6-view RGB-D images (ResNet-18), on the same molecules and the same
split, several seeds, test RMSE per term.

Every (representation, seed) is an ordinary ``energy-terms`` run folder
``OUT/runs/<representation>/s<seed>`` (:mod:`rhoml.families.energy_terms`) with a
``result.json`` written when it finishes; a rerun skips finished runs and resumes interrupted ones
from their checkpoints. The seed sets the model's initialisation and batch order; the split is
``[data].split_seed``'s, the same for every run. ``OUT/results.json`` / ``results.md`` /
``rmse.png`` hold mean ± std over seeds (std only with ≥ 2 finished seeds; JSON without NaN),
the training-mean predictor as a baseline row, each representation's RMSE relative to it, and
EDG's Table 4 for comparison.

Config sections: ``[study]`` (:class:`StudyConfig`), ``[data]`` (the family's
:class:`~rhoml.families.energy_terms.TermsDataConfig`; ``representation`` is set per run),
``[voxel]`` (the family's voxel grid), ``[models.<representation>]`` (a ``[model]`` table per
representation; default the family's), ``[train]`` (:class:`~rhoml.train.config.TrainConfig`
of every run) and ``[train_overrides.<representation>]`` (keys of ``[train]`` that differ for
one representation).
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
from rhoml.datasets.energy_terms import EDG_LABELS
from rhoml.errors import RhomlError
from rhoml.families.energy_terms import TermsDataConfig
from rhoml.studies.run_results import ResultFolder
from rhoml.train.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "PAPER_TABLE4", "StudyConfig", "StudyRun", "load_study", "markdown", "plan", "plot",
    "run_study", "summarise",
]  # fmt: skip

#: EDG appendix Table 4 (DBED-1w, 10k PCQM4Mv2 molecules, Psi4 B3LYP/6-31G**): test RMSE of
#: E1–E6 per representation. The paper states no unit (EDBench's Psi4 logs are in Hartree).
PAPER_TABLE4 = {
    "PointNet (point cloud)": [275.1, 168.6, 557.7, 244.8, 14.5, 288.9],
    "ResNet3D (voxel 60³)": [121.1, 313.9, 947.8, 271.2, 7.9, 202.0],
    "ResNet18 (6×4×224×224)": [111.6, 47.9, 349.8, 85.6, 4.4, 124.5],
}
#: what each representation is called in the tables
LABELS = {"points": "PointNet (density point cloud)", "atoms": "PointNet (atom point cloud)",
          "voxels": "ResNet3D (density voxels)", "images": "ResNet18 (6 RGB-D views)"}  # fmt: skip


@dataclass
class StudyConfig:
    """``[study]``: ``scale`` (a label printed with every table), ``seeds`` (per
    representation), ``representations`` (of points, atoms, voxels, images)."""

    scale: str = ""
    seeds: int = option(3, min=1)
    representations: list[str] = field(default_factory=lambda: ["points", "voxels", "images"])

    def __post_init__(self) -> None:
        from rhoml.families.energy_terms_data import REPRESENTATIONS

        reps = self.representations
        bad = [r for r in reps if r not in REPRESENTATIONS]
        if bad or not reps or len(set(reps)) != len(reps):
            raise ValueError(
                f"representations: distinct names from {', '.join(REPRESENTATIONS)}, got {reps}"
            )


SECTIONS: dict[str, type | None] = {
    "study": StudyConfig,
    "data": TermsDataConfig,
    "voxel": None,
    "models": None,
    "train": TrainConfig,
    "train_overrides": None,
}


@dataclass
class StudyRun(ResultFolder):
    representation: str
    seed: int
    folder: Path


def load_study(path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read and check a study config → its sections; every run's family config is checked too
    (models, voxel grid, the store's energy terms), so a bad config fails before any training
    with one line."""
    from rhoml.config import apply_overrides, read_table_file
    from rhoml.runs import load_training_config

    where = "config" if isinstance(path, dict) else str(path)
    raw = apply_overrides(dict(path) if isinstance(path, dict) else read_table_file(path),
                          overrides)  # fmt: skip
    if "representation" in (raw.get("data") or {}):
        raise ConfigError(f"{where}: [data].representation is set per run by the study; "
                          "list them in [study].representations")  # fmt: skip
    base = None if isinstance(path, dict) else Path(path).resolve().parent
    cfg = load_config(raw, SECTIONS, where, base_dir=base, required=("data",))
    reps = cfg["study"].representations
    for name, table in (("models", cfg["models"]), ("train_overrides", cfg["train_overrides"])):
        extra = sorted(set(table) - set(reps))
        if extra:
            raise ConfigError(f"{where}: [{name}.{extra[0]}]: not among [study].representations "
                              f"({', '.join(reps)})")  # fmt: skip
        if any(not isinstance(v, dict) for v in table.values()):
            raise ConfigError(f"{where}: [{name}] holds one table per representation")
    for rep in reps:
        try:
            load_training_config(run_config(cfg, rep, 0), [])
        except RhomlError as exc:
            raise type(exc)(f"{where}: {rep}: {exc}") from None
    return cfg


def run_config(cfg: dict, rep: str, seed: int) -> dict:
    """The ``energy-terms`` training config (a plain dict, absolute paths) of one run."""
    data = asdict(cfg["data"])
    data["representation"] = rep
    data["store"] = str(Path(data["store"]).resolve())
    train = {**asdict(cfg["train"]), **cfg["train_overrides"].get(rep, {}), "seed": seed}
    out = {"family": "energy-terms", "data": data, "train": train}
    if rep == "voxels" and cfg["voxel"]:
        out["voxel"] = dict(cfg["voxel"])
    if rep in cfg["models"]:
        out["model"] = dict(cfg["models"][rep])
    return out


def plan(cfg: dict, out) -> list[StudyRun]:
    """Every run, seed-major (all representations of seed 0 first, so an interrupted study
    still compares them all)."""
    out = Path(out).resolve()
    s: StudyConfig = cfg["study"]
    return [StudyRun(rep, k, out / "runs" / rep / f"s{k}")
            for k in range(s.seeds) for rep in s.representations]  # fmt: skip


def run_one(cfg: dict, r: StudyRun, progress: bool = False) -> dict:
    """Train (or resume) one run and write its ``result.json``; returns it."""
    from rhoml import runs
    from rhoml.io.atomic import atomic_write
    from rhoml.train.run_folder import json_safe

    done = r.result()
    if done is not None:
        return done
    t0 = time.perf_counter()
    run = runs.train(run_config(cfg, r.representation, r.seed), r.folder, progress=progress)
    m = run.manifest["metrics"]
    b = run.manifest["build"]
    epochs = m.get("epochs_run") or 0
    secs = m.get("train_seconds") or 0.0
    row = {
        "representation": r.representation, "seed": r.seed, "model": b["model"],
        "test": m["test"], "best_val": m.get("best_val"),
        "mean_predictor_test": m.get("mean_predictor_test"), "test_ids": m.get("test_ids"),
        "n_train": m.get("n_train"), "n_val": m.get("n_val"), "n_test": m.get("n_test"),
        "best_epoch": m.get("best_epoch"), "epochs_run": epochs, "train_seconds": secs,
        "seconds_per_epoch": secs / epochs if epochs else None,
        "data_seconds": m.get("data_seconds"), "wall_seconds": time.perf_counter() - t0,
        "parameters": m.get("parameters"), "device": m.get("device"),
        "torch_threads": m.get("torch_threads"), "method": b.get("method"),
        "terms": b["targets"], "unit": b["units"][0],
    }  # fmt: skip
    atomic_write(r.folder / "result.json", json.dumps(json_safe(row), indent=1) + "\n")
    return row


def run_study(cfg: dict, out, *, progress: bool = True, summary_only: bool = False,
              max_runs: int = 0) -> dict:  # fmt: skip
    """Train every unfinished run (``max_runs`` > 0: at most that many now), then write and
    return the summary; ``summary_only``: train nothing."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trained = 0
    planned = plan(cfg, out)
    for i, r in enumerate(planned, 1):
        if summary_only or (max_runs and trained >= max_runs):
            break
        if r.done:
            continue
        if progress:
            logger.info("[%d/%d] %s seed %d", i, len(planned), r.representation, r.seed)
        row = run_one(cfg, r)
        trained += 1
        if progress:
            logger.info("  %d epochs, %.2f s/epoch; test RMSE %s", row["epochs_run"],
                        row["seconds_per_epoch"] or 0.0,
                        ", ".join(f"{EDG_LABELS[t]} {row['test'][f'rmse_{t}']:.4g}"
                                  for t in row["terms"]))  # fmt: skip
        write_summary(cfg, out)
    return write_summary(cfg, out)


def write_summary(cfg: dict, out: Path) -> dict:
    from rhoml.io.atomic import atomic_write
    from rhoml.train.run_folder import json_safe

    summary = json_safe(summarise(cfg, out))
    atomic_write(out / "results.json", json.dumps(summary, indent=1) + "\n")
    atomic_write(out / "results.md", markdown(summary) + "\n")
    if summary["rows"]:
        plot(summary, out / "rmse.png")
    return summary


# -- summary -----------------------------------------------------------------------------------
def _stat(values) -> dict:
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    return {"mean": float(np.mean(v)) if v else None,
            "std": float(np.std(v, ddof=1)) if len(v) >= 2 else None,
            "n": len(v), "values": v}  # fmt: skip


def summarise(cfg: dict, out) -> dict:
    """Per representation and term: test RMSE and MAE over seeds, RMSE / mean-predictor RMSE;
    the mean-predictor row; the best representation per term."""
    s: StudyConfig = cfg["study"]
    d: TermsDataConfig = cfg["data"]
    planned = plan(cfg, out)
    results = [r.result() for r in planned]
    done = [x for x in results if x]
    terms = list(d.terms)
    rows = []
    for rep in s.representations:
        res = [x for x in done if x["representation"] == rep]
        if not res:
            continue
        row = {"representation": rep, "label": LABELS[rep], "model": res[0]["model"],
               "seeds": len(res), "parameters": res[0].get("parameters"),
               "seconds_per_epoch": _stat([x.get("seconds_per_epoch") for x in res]),
               "epochs_run": _stat([x.get("epochs_run") for x in res]),
               "rmse": {}, "mae": {}, "rmse_ratio": {}}  # fmt: skip
        for t in terms:
            row["rmse"][t] = _stat([x["test"].get(f"rmse_{t}") for x in res])
            row["mae"][t] = _stat([x["test"].get(f"mae_{t}") for x in res])
            base = (res[0].get("mean_predictor_test") or {}).get(f"rmse_{t}")
            row["rmse_ratio"][t] = _stat(
                [
                    x["test"].get(f"rmse_{t}") / base
                    for x in res
                    if base and x["test"].get(f"rmse_{t}") is not None
                ]
            )
        rows.append(row)
    baseline = dict(done[0].get("mean_predictor_test") or {}) if done else {}
    best = {}
    for t in terms:
        cand = [(r["rmse"][t]["mean"], r["representation"]) for r in rows
                if r["rmse"][t]["mean"] is not None]  # fmt: skip
        best[t] = min(cand)[1] if cand else None
    first = done[0] if done else {}
    composition = _composition(d)
    return {
        "title": "DFT energy terms from point clouds, voxels and images (EDG Table 4 analogue)",
        "scale": s.scale, "terms": terms, "edg_labels": [EDG_LABELS[t] for t in terms],
        "unit": d.unit, "store": str(Path(d.store).resolve()), "method": first.get("method"),
        "split": {"kind": "random", "seed": d.split_seed, "val_fraction": d.val_fraction,
                  "test_fraction": d.test_fraction, "n_train": first.get("n_train"),
                  "n_val": first.get("n_val"), "n_test": first.get("n_test")},
        "same_test_molecules": len({x.get("test_ids") for x in done}) <= 1,
        "seeds": s.seeds, "representations": s.representations,
        "runs_finished": len(done), "runs_planned": len(planned),
        "rows": rows, "mean_predictor": {t: baseline.get(f"rmse_{t}") for t in terms},
        "mean_predictor_mae": {t: baseline.get(f"mae_{t}") for t in terms},
        "composition_baseline": composition, "best": best, "paper_table4": PAPER_TABLE4,
        "paper_note": "EDG appendix Table 4 (DBED-1w: 10k PCQM4Mv2 molecules, Psi4 "
                      "B3LYP/6-31G**, test RMSE). The paper states no unit (EDBench's Psi4 logs "
                      "are in Hartree). Its E5/E1 RMSE ratios (0.04-0.07) are those of models "
                      "whose errors scale with each term's spread, not of models that learned "
                      "the formula (for which E1 errors shrink to the E5 level); such errors are "
                      "a sizeable part of the spread, which for total energies is hundreds of "
                      "Hartree, so Hartree is the likelier reading (an inference). Compare the "
                      "ranking of the representations, not the numbers.",
        "settings": {"train": asdict(cfg["train"]), "train_overrides": cfg["train_overrides"],
                     "models": cfg["models"], "voxel": cfg["voxel"],
                     "data": asdict(d)},
        "runs": done,
    }  # fmt: skip


def _num(x: float) -> str:
    """Whole numbers from 100 up (energies in kcal/mol), else 3 significant digits."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _composition(d: TermsDataConfig) -> dict | None:
    """The formula-only reference (:func:`~rhoml.families.energy_terms_data.composition_baseline`)
    on the study's split; None when the store cannot be read."""
    from rhoml.families.energy_terms_data import composition_baseline, load_terms

    try:
        data = load_terms(d.store, d.method, terms=d.terms, unit=d.unit,
                          val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                          split_seed=d.split_seed, limit=d.limit)  # fmt: skip
        return composition_baseline(data)
    except (RhomlError, OSError, np.linalg.LinAlgError):
        return None


def _cell(st: dict) -> str:
    if st.get("mean") is None:
        return "–"
    if st.get("std") is not None:
        return f"{_num(st['mean'])} ± {_num(st['std'])}"
    return _num(st["mean"])


def markdown(summary: dict) -> str:
    terms, labels, unit = summary["terms"], summary["edg_labels"], summary["unit"]
    sp = summary["split"]
    head = (
        "| representation | model | seeds | "
        + " | ".join(f"{lab} {t} ({unit})" for lab, t in zip(labels, terms, strict=True))
        + " |"
    )
    sep = "|---|---|---:|" + "---:|" * len(terms)
    lines = [f"## {summary['title']}", ""]
    if summary.get("scale"):
        lines += [f"Scale: {summary['scale']}", ""]
    lines += [
        f"Data: {summary['store']} (DFT record {summary.get('method')}); random split seed "
        f"{sp['seed']}: {sp['n_train']} train / {sp['n_val']} validation / {sp['n_test']} test "
        f"molecules, the same for every run (same test molecules in every run: "
        f"{'yes' if summary['same_test_molecules'] else 'NO'}). "
        f"{summary['runs_finished']} of {summary['runs_planned']} runs finished.",
        "", f"Test RMSE ({unit}); cells: mean ± std over seeds (std with ≥ 2 seeds).", "",
        head, sep,
    ]  # fmt: skip
    for r in summary["rows"]:
        lines.append(f"| {r['label']} | {r['model']} | {r['seeds']} | "
                     + " | ".join(_cell(r["rmse"][t]) for t in terms) + " |")  # fmt: skip
    base = summary["mean_predictor"]
    lines.append("| mean predictor (training mean) | – | – | " + " | ".join(
        "–" if base.get(t) is None else _num(base[t]) for t in terms) + " |")  # fmt: skip
    comp = (summary.get("composition_baseline") or {}).get("rmse")
    if comp:
        lines.append("| formula only (least squares on atom counts) | – | – | " + " | ".join(
            _num(comp[t]) for t in terms) + " |")  # fmt: skip
    lines += ["", "Test RMSE relative to the mean predictor (1 = no better than predicting the "
              "training mean):", "", head.replace(f" ({unit})", ""), sep]  # fmt: skip
    for r in summary["rows"]:
        lines.append(
            f"| {r['label']} | {r['model']} | {r['seeds']} | "
            + " | ".join(_cell(r["rmse_ratio"][t]) for t in terms)
            + " |"
        )
    if comp and all(base.get(t) for t in terms):
        lines.append("| formula only (least squares on atom counts) | – | – | " + " | ".join(
            f"{comp[t] / base[t]:.3g}" for t in terms) + " |")  # fmt: skip
    best = ", ".join(f"{lab} {summary['best'][t] or '–'}"
                     for lab, t in zip(labels, terms, strict=True))  # fmt: skip
    lines += ["", f"Lowest mean test RMSE per term: {best}."]
    lines += ["", "For comparison, " + summary["paper_note"], "",
              "| representation | " + " | ".join(f"E{i + 1}" for i in range(6)) + " |",
              "|---|" + "---:|" * 6]  # fmt: skip
    for name, vals in summary["paper_table4"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:g}" for v in vals) + " |")
    timing = ", ".join(f"{r['representation']} {_cell(r['seconds_per_epoch'])} s/epoch "
                       f"({r['parameters']:,} parameters)" for r in summary["rows"])  # fmt: skip
    if timing:
        lines += ["", f"Training time: {timing}."]
    return "\n".join(lines)


def plot(summary: dict, path) -> None:
    """Grouped bars: test RMSE / mean-predictor RMSE per term and representation (error bars:
    std over seeds), a dashed line at 1 (the mean predictor)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    terms, labels = summary["terms"], summary["edg_labels"]
    rows = summary["rows"]
    fig, ax = plt.subplots(figsize=(1.3 * len(terms) + 3, 3.8))
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(terms))
    for k, r in enumerate(rows):
        y = [r["rmse_ratio"][t]["mean"] or np.nan for t in terms]
        err = [r["rmse_ratio"][t]["std"] or 0.0 for t in terms]
        ax.bar(x + (k - (len(rows) - 1) / 2) * width, y, width, yerr=err, capsize=2,
               label=r["label"])  # fmt: skip
    ax.axhline(1.0, color="0.4", ls="--", lw=1, label="mean predictor")
    ax.set_xticks(x, [f"{lab}\n{t}" for lab, t in zip(labels, terms, strict=True)], fontsize=8)
    ax.set_ylabel("test RMSE / mean-predictor RMSE")
    n = summary["split"]
    ax.set_title(f"Energy terms ({n['n_train']} train / {n['n_test']} test molecules; bars: std "
                 f"over seeds)", fontsize=9)  # fmt: skip
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

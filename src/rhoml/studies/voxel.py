"""The voxel-representation study (3D CNNs on electron-density voxels, "beyond atoms"):
voxel representation × training-set size × seed → test errors.

Representations (channel subsets of one cached voxel tensor, so every representation sees the
same molecules, poses and splits):

* ``atoms`` — per-element Gaussian atom-type channels;
* ``density`` — transformed ρ (GFN2-xTB valence density for QM9; promolecule or xTB for PDBbind);
* ``gradient`` — transformed |∇ρ|;
* ``shape`` — occupancy only (the shape baseline);
* ``density+gradient`` — both density channels.

Every run trains the same ResNet-3D with the shared loop (:func:`rhoml.train.loop.fit`), selects
the epoch with the lowest validation loss, and reports test metrics in the targets' units. Runs
are resumable: each writes ``OUT/runs/<rep>/n<size>/s<seed>/result.json`` and finished runs are
skipped. ``OUT/results.json`` / ``results.md`` / ``learning_curve.png`` summarise mean ± std
over seeds.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rhoml.datasets import VoxelData
from rhoml.errors import RhomlError
from rhoml.represent.voxel_data import REPRESENTATIONS, channel_indices, channel_kind

logger = logging.getLogger(__name__)

__all__ = [
    "REPRESENTATIONS", "StudyData", "StudySettings", "channel_indices", "channel_kind",
    "markdown", "plot", "run_one", "run_study", "summarise",
]  # fmt: skip

#: what the study hands its callers and reads back from protocols
StudyData = VoxelData


@dataclass
class StudySettings:
    representations: list[str]
    sizes: list[int]
    seeds: int
    model: str = "resnet3d-small"
    model_params: dict = field(default_factory=dict)
    samples_per_run: int = 12000  # training samples seen per run (epochs = this / size)
    min_epochs: int = 10
    max_epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 10  # epochs without validation improvement before stopping (0: never)
    scheduler: str = "plateau"  # or "cosine" (over the run's epochs)
    loss: str = "l1"
    augment: bool = True
    threads: int = 0
    device: str = "auto"

    def epochs_for(self, size: int) -> int:
        return int(min(self.max_epochs, max(self.min_epochs, round(self.samples_per_run / size))))


def run_one(data: StudyData, rep: str, size: int, seed: int, settings: StudySettings, out: Path,
            progress: bool = True) -> dict:  # fmt: skip
    """Train and test one (representation, size, seed) into the run folder ``out`` (through
    :func:`rhoml.families.voxel_cnn.train_on_data`); returns the result row, also written to
    ``out/result.json`` (finished runs are read back, not retrained)."""
    from rhoml.families.voxel_cnn import VoxelCNNFamily, train_on_data
    from rhoml.represent.voxel_data import channel_indices
    from rhoml.train.config import TrainConfig
    from rhoml.train.run_folder import RunFolder

    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = TrainConfig(
        epochs=settings.epochs_for(size), batch_size=min(settings.batch_size, size), lr=settings.lr,
        patience=settings.patience, scheduler=settings.scheduler, seed=seed, loss=settings.loss,
        threads=settings.threads,
        device=settings.device, eval_batch_size=64,
    )  # fmt: skip
    config = {
        "family": VoxelCNNFamily.name,
        "study": {"dataset": data.name, "representation": rep, "size": size, "seed": seed,
                  "augment": settings.augment},
        "model": {"name": settings.model, **settings.model_params},
        "train": asdict(cfg),
    }  # fmt: skip
    run = RunFolder.create(out, config)
    metrics = train_on_data(data, rep, size, cfg, run, model_name=settings.model,
                            model_params=settings.model_params, augment=settings.augment,
                            progress=progress)  # fmt: skip
    row = {"representation": rep, "size": size, "seed": seed,
           "channels": len(channel_indices(data.channel_names, rep)), **metrics}  # fmt: skip
    done.write_text(json.dumps(row, indent=1))
    return row


def run_study(data: StudyData | None, settings: StudySettings, out_dir, progress: bool = True,
              summary_only: bool = False) -> dict:  # fmt: skip
    """Every representation × size × seed; writes and returns the summary.

    With ``summary_only`` nothing is trained: the summary collects the finished runs under
    ``OUT/runs`` (cells may then have fewer seeds than asked; each cell records its count).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if data is not None and len(data.targets.get("test", [])):
        from rhoml.train.metrics import confidence_intervals, regression_report

        # reference: predict the mean of the largest training set for every test molecule
        y = data.targets["train_pool"][: max(settings.sizes)]
        test = data.targets["test"]
        mean = np.broadcast_to(y.mean(0), test.shape)
        data.info["mean_predictor_test"] = regression_report(mean, test, data.target_names)
        data.info["mean_predictor_test_ci95"] = confidence_intervals(mean, test,
                                                                     data.target_names)  # fmt: skip
    if data is not None:
        from rhoml.datasets import write_dropped

        # what the protocol left out and why (header only when nothing was dropped)
        write_dropped(out / "dropped.csv", list(data.info.get("dropped") or []))
        _write_info(out, data.info)  # now as well as at the end: a summary of an unfinished study

    rows = []
    combos = [(r, s, k) for s in settings.sizes for r in settings.representations
              for k in range(settings.seeds)]  # fmt: skip
    for i, (rep, size, seed) in enumerate(combos, 1):
        run_dir = _run_dir(out, rep, size, seed)
        if summary_only:
            if (run_dir / "result.json").is_file():
                rows.append(json.loads((run_dir / "result.json").read_text()))
            continue
        if progress:
            logger.info("[%d/%d] %s %s n=%d seed=%d", i, len(combos), data.name, rep, size, seed)
        rows.append(run_one(data, rep, size, seed, settings, run_dir, progress))
    if not rows:
        raise RhomlError(f"{out}: no finished runs to summarise")
    if data is None:  # summary only: the description of the data comes from a finished run
        meta = _run_description(out, rows)
        data = StudyData(meta["dataset"], meta["targets"], meta["units"],
                         meta["all_channel_names"], {}, {}, _read_info(out))  # fmt: skip
    from rhoml.train.run_folder import json_safe

    summary = json_safe(summarise(data, settings, rows))
    _write_info(out, data.info)
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "results.md").write_text(markdown(summary) + "\n")
    plot(summary, out / "learning_curve.png")
    return summary


def _run_dir(out: Path, rep: str, size: int, seed: int) -> Path:
    """Run folder of one (representation, size, seed) of the study in ``out``."""
    return out / "runs" / rep / f"n{size}" / f"s{seed}"


def _write_info(out: Path, info: dict) -> None:
    from rhoml.train.run_folder import json_safe

    (out / "data_info.json").write_text(json.dumps(json_safe(info), indent=1) + "\n")


def _run_description(out: Path, rows: list[dict]) -> dict:
    """Data set, targets, units and channels from the first finished run of ``rows`` whose
    folder under ``out/runs`` keeps its manifest (its build; ``model.json`` for runs written by
    older versions). Runs restored from their ``result.json`` alone have neither."""
    for r in rows:
        folder = _run_dir(out, r["representation"], r["size"], r["seed"])
        if (folder / "manifest.json").is_file():
            return json.loads((folder / "manifest.json").read_text())["build"]
        if (folder / "model.json").is_file():
            return json.loads((folder / "model.json").read_text())
    raise RhomlError(
        f"{out}: no finished run keeps its manifest.json, which the summary needs "
        "for the data set description"
    )


def _read_info(out: Path) -> dict:
    p = out / "data_info.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def _metric_keys(data: StudyData) -> list[str]:
    keys = [f"mae_{t}" for t in data.target_names]
    if len(data.target_names) == 1:
        keys = [f"rmse_{data.target_names[0]}", "pearson", "spearman"]
    return keys


def summarise(data: StudyData, settings: StudySettings, rows: list[dict]) -> dict:
    table = []
    for rep in settings.representations:
        for size in settings.sizes:
            runs = [r for r in rows if r["representation"] == rep and r["size"] == size]
            if not runs:
                continue
            entry = {"representation": rep, "size": size, "seeds": len(runs)}
            for key in _metric_keys(data):
                vals = np.array([_num(r["test"].get(key)) for r in runs], float)
                ok = vals[np.isfinite(vals)]
                entry[key] = {
                    "mean": float(ok.mean()) if len(ok) else None,
                    # a spread needs at least two seeds
                    "std": float(ok.std(ddof=1)) if len(ok) >= 2 else None,
                    "values": vals.tolist(),
                }
                if len(runs) == 1 and runs[0].get("test_ci95", {}).get(key):
                    entry[key]["ci95"] = runs[0]["test_ci95"][key]
            table.append(entry)
    return {
        "dataset": data.name, "targets": data.target_names, "units": data.target_units,
        "metrics": _metric_keys(data), "settings": asdict(settings), "info": data.info,
        "table": table, "runs": rows,
    }  # fmt: skip


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def _cell(e: dict) -> str:
    """``mean ± std`` over seeds (≥ 2), else the single value with its bootstrap 95 % interval
    when known; ``–`` when undefined."""
    if e.get("mean") is None:
        return "–"
    if e.get("std") is not None:
        return f"{e['mean']:.4g} ± {e['std']:.2g}"
    ci = e.get("ci95")
    if ci and all(c is not None for c in ci):
        return f"{e['mean']:.4g} [{ci[0]:.3g}, {ci[1]:.3g}]"
    return f"{e['mean']:.4g}"


def markdown(summary: dict) -> str:
    units = dict(zip(summary["targets"], summary["units"], strict=True))
    heads = []
    for k in summary["metrics"]:
        t = k.split("_", 1)[-1]
        heads.append(f"{k} ({units[t]})" if t in units else k)
    lines = ["Cells: mean ± standard deviation over seeds (≥ 2 seeds), else the single run's value "
             "[bootstrap 95 % interval over test molecules].", "",
             "| representation | n train | seeds | " + " | ".join(heads) + " |",
             "|---|---:|---:|" + "---:|" * len(heads)]  # fmt: skip
    for e in summary["table"]:
        cells = [_cell(e[k]) for k in summary["metrics"]]
        lines.append(f"| {e['representation']} | {e['size']} | {e['seeds']} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    info = summary.get("info", {})
    base = info.get("mean_predictor_test")
    if base:
        ci = info.get("mean_predictor_test_ci95") or {}
        cells = [_cell({"mean": base.get(k) if _finite(base.get(k)) else None, "std": None,
                        "ci95": ci.get(k)}) for k in summary["metrics"]]  # fmt: skip
        size = max(summary.get("settings", {}).get("sizes") or [0]) or "–"
        lines.append(f"| mean predictor (training mean) | {size} | – | " + " | ".join(cells) + " |")
    if info.get("split"):
        lines += ["", f"Split: {info['split']}."]
    dropped = info.get("dropped_summary")
    if dropped and dropped.get("n"):
        stages = ", ".join(f"{k} {v}" for k, v in dropped["by_stage"].items())
        lines.append(f"Dropped while preparing: {dropped['n']} ({stages}; see dropped.csv).")
    return "\n".join(lines)


def _finite(v) -> bool:
    return v is not None and bool(np.isfinite(v))


def plot(summary: dict, path) -> None:
    """Test metric vs training-set size per representation (error bars: std over seeds where
    ≥ 2, else the bootstrap 95 % interval of the single run), the mean predictor as a dashed
    line; axes with units, a legend on every panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = summary["metrics"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.8), squeeze=False)
    units = dict(zip(summary["targets"], summary["units"], strict=True))
    info = summary.get("info", {})
    base = info.get("mean_predictor_test") or {}
    noun = "complexes" if summary["dataset"] == "pdbbind" else "molecules"
    for ax, key in zip(axes[0], metrics, strict=True):
        reps = list(dict.fromkeys(e["representation"] for e in summary["table"]))
        for k, rep in enumerate(reps):
            es = [e for e in summary["table"] if e["representation"] == rep]
            # a small horizontal offset per representation keeps the error bars apart
            x = [e["size"] * 1.04 ** (k - (len(reps) - 1) / 2) for e in es]
            y = [_num(e[key]["mean"]) for e in es]
            err = np.zeros((2, len(es)))
            for j, e in enumerate(es):
                cell = e[key]
                if cell.get("std") is not None:
                    err[:, j] = cell["std"]
                elif cell.get("ci95") and all(_finite(c) for c in cell["ci95"]):
                    err[:, j] = [y[j] - cell["ci95"][0], cell["ci95"][1] - y[j]]
            ax.errorbar(x, y, yerr=np.clip(err, 0, None), marker="o", capsize=3, label=rep)
        if _finite(base.get(key)):
            ax.axhline(base[key], color="0.4", ls="--", lw=1, label="mean predictor")
        t = key.split("_", 1)[-1]
        unit = units.get(t)
        unit = "pK units" if unit == "dimensionless" and t == "pK" else unit
        ax.set_xscale("log")
        sizes = sorted({e["size"] for e in summary["table"]})
        ax.set_xticks(sizes, [str(x) for x in sizes])
        ax.minorticks_off()
        if key.startswith(("mae", "rmse")) and summary["dataset"] != "pdbbind":
            ax.set_yscale("log")
        ax.set_xlabel(f"training {noun}")
        kind, _, target = key.partition("_")
        name = {"pearson": "Pearson R", "spearman": "Spearman ρ"}.get(
            key, f"{kind.upper()} of {target}" if target else key
        )
        ax.set_ylabel(f"test {name}" + (f" ({unit})" if unit and key not in
                                          ("pearson", "spearman") else ""))  # fmt: skip
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    split = info.get("split_kind") or ("random" if summary["dataset"] == "qm9" else "")
    title = f"{summary['dataset']}: voxel representations" + (f", {split} split" if split else "")
    fig.suptitle(title + " (bars: std over seeds if ≥ 2, else bootstrap 95 % CI)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

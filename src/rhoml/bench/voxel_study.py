"""The seed-000 study: voxel representation × training-set size × seed → test errors.

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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rhoml.errors import RhomlError

REPRESENTATIONS = ("atoms", "density", "gradient", "shape", "density+gradient")


def channel_indices(channel_names: list[str], representation: str) -> list[int]:
    """Indices of the channels of ``representation`` in a voxel tensor's channel list."""
    wanted = representation.split("+")
    out = [
        i for i, name in enumerate(channel_names)
        if any(name.split(":")[-1] == w or name.split(":")[-2:-1] == [w] for w in wanted)
    ]  # fmt: skip
    if not out or any(w not in REPRESENTATIONS for w in wanted):
        raise RhomlError(
            f"representation {representation!r} not available; choose from "
            f"{', '.join(REPRESENTATIONS)} (channels present: {', '.join(channel_names)})"
        )
    return out


@dataclass
class StudyData:
    """What a protocol hands the study: cached voxels (N, P, C, n, n, n) and targets (N, T) for
    the training pool (in learning-curve order), validation and test parts."""

    name: str
    target_names: list[str]
    target_units: list[str]
    channel_names: list[str]
    voxels: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    info: dict = field(default_factory=dict)


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
    patience: int = 10
    loss: str = "l1"
    augment: bool = True
    threads: int = 0
    device: str = "auto"

    def epochs_for(self, size: int) -> int:
        return int(min(self.max_epochs, max(self.min_epochs, round(self.samples_per_run / size))))


def run_one(data: StudyData, rep: str, size: int, seed: int, settings: StudySettings, out: Path,
            progress: bool = True) -> dict:  # fmt: skip
    """Train and test one (representation, size, seed); returns the result row."""
    import torch

    from rhoml.models.registry import build_model
    from rhoml.represent.voxel_data import VoxelDataset
    from rhoml.train.config import TrainConfig
    from rhoml.train.loop import Objective, fit, predict, seed_everything
    from rhoml.train.metrics import regression_report

    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    ch = channel_indices(data.channel_names, rep)
    pool_v, pool_y = data.voxels["train_pool"], data.targets["train_pool"]
    if size > len(pool_v):
        raise RhomlError(f"{data.name}: training size {size} > pool of {len(pool_v)}")
    # nested subsets: a seeded permutation of the pool, first `size` of it
    sel = np.sort(np.random.default_rng([seed, 7]).permutation(len(pool_v))[:size])
    train = VoxelDataset(pool_v[sel], pool_y[sel], ch, augment=settings.augment)
    val = VoxelDataset(data.voxels["val"], data.targets["val"], ch)
    test = VoxelDataset(data.voxels["test"], data.targets["test"], ch)
    seed_everything(seed)
    model = build_model(settings.model, settings.model_params, in_channels=len(ch),
                        targets=data.target_names)  # fmt: skip
    y = pool_y[sel]
    model.set_target_stats(y.mean(0), y.std(0) if len(y) > 1 else np.ones(y.shape[1]))
    std = model.target_std

    def criterion(p, t):
        z = (p - t) / std.to(p.device)
        return z.abs().mean() if settings.loss == "l1" else (z * z).mean()

    names = data.target_names
    obj = Objective(lambda b: b["y"], criterion, lambda p, t: regression_report(p, t, names))
    cfg = TrainConfig(
        epochs=settings.epochs_for(size), batch_size=min(settings.batch_size, size), lr=settings.lr,
        patience=settings.patience, seed=seed, loss=settings.loss, threads=settings.threads,
        device=settings.device, eval_batch_size=64,
    )  # fmt: skip
    res = fit(model, train, val, obj, cfg, out, progress=progress)
    t0 = time.perf_counter()
    pred, true = predict(model, test, batch_size=64, device=next(model.parameters()).device,
                         targets=lambda b: b["y"])  # fmt: skip
    test_seconds = time.perf_counter() - t0
    row = {
        "representation": rep, "size": size, "seed": seed, "channels": len(ch),
        "test": regression_report(pred, true, names), "n_test": len(true),
        "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
        "train_seconds": res.seconds, "train_samples_per_second": res.samples_per_second,
        "test_molecules_per_second": len(true) / test_seconds if test_seconds else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(next(model.parameters()).device), "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    done.write_text(json.dumps(row, indent=1))
    return row


def run_study(data: StudyData, settings: StudySettings, out_dir, progress: bool = True) -> dict:
    """Every representation × size × seed; writes and returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    combos = [(r, s, k) for s in settings.sizes for r in settings.representations
              for k in range(settings.seeds)]  # fmt: skip
    for i, (rep, size, seed) in enumerate(combos, 1):
        if progress:
            print(f"[{i}/{len(combos)}] {data.name} {rep} n={size} seed={seed}", flush=True)
        rows.append(run_one(data, rep, size, seed, settings,
                            out / "runs" / rep / f"n{size}" / f"s{seed}", progress))  # fmt: skip
    summary = summarise(data, settings, rows)
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "results.md").write_text(markdown(summary) + "\n")
    plot(summary, out / "learning_curve.png")
    return summary


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
            entry = {"representation": rep, "size": size, "seeds": len(runs)}
            for key in _metric_keys(data):
                vals = np.array([r["test"][key] for r in runs], float)
                entry[key] = {"mean": float(vals.mean()), "std": float(vals.std()),
                              "values": vals.tolist()}  # fmt: skip
            table.append(entry)
    return {
        "dataset": data.name, "targets": data.target_names, "units": data.target_units,
        "metrics": _metric_keys(data), "settings": asdict(settings), "info": data.info,
        "table": table, "runs": rows,
    }  # fmt: skip


def markdown(summary: dict) -> str:
    units = dict(zip(summary["targets"], summary["units"], strict=True))
    heads = []
    for k in summary["metrics"]:
        t = k.split("_", 1)[-1]
        heads.append(f"{k} ({units[t]})" if t in units else k)
    lines = ["| representation | n train | " + " | ".join(heads) + " |",
             "|---|---:|" + "---:|" * len(heads)]  # fmt: skip
    for e in summary["table"]:
        cells = [f"{e[k]['mean']:.4g} ± {e[k]['std']:.2g}" for k in summary["metrics"]]
        lines.append(f"| {e['representation']} | {e['size']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = summary["metrics"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    units = dict(zip(summary["targets"], summary["units"], strict=True))
    for ax, key in zip(axes[0], metrics, strict=True):
        for rep in dict.fromkeys(e["representation"] for e in summary["table"]):
            es = [e for e in summary["table"] if e["representation"] == rep]
            x = [e["size"] for e in es]
            ax.errorbar(x, [e[key]["mean"] for e in es], yerr=[e[key]["std"] for e in es],
                        marker="o", capsize=3, label=rep)  # fmt: skip
        t = key.split("_", 1)[-1]
        ax.set_xscale("log")
        if key.startswith(("mae", "rmse")):
            ax.set_yscale("log")
        ax.set_xlabel("training molecules")
        ax.set_ylabel(f"test {key}" + (f" ({units[t]})" if t in units else ""))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{summary['dataset']}: voxel representations (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

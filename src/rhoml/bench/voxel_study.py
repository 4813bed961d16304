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


def channel_kind(name: str) -> str:
    """``atoms``, ``density``, ``gradient`` or ``shape`` of a channel name such as
    ``protein:atoms:C`` or ``ligand:density``."""
    parts = name.split(":")
    if parts[0] in ("protein", "ligand"):
        parts = parts[1:]
    return parts[0]


def channel_indices(channel_names: list[str], representation: str) -> list[int]:
    """Indices of the channels of ``representation`` in a voxel tensor's channel list."""
    wanted = representation.split("+")
    out = [i for i, name in enumerate(channel_names) if channel_kind(name) in wanted]
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


def train_model(data: StudyData, rep: str, size: int, seed: int, model_name: str,
                model_params: dict, train_cfg, out: Path, *, augment: bool = True,
                progress: bool = True):  # fmt: skip
    """Train one model on ``size`` pool molecules (nested seeded subset) with representation
    ``rep``; writes ``out/model.json`` (everything :func:`load_trained` needs) next to the
    loop's checkpoints. Returns (model, FitResult, channel indices)."""
    from rhoml.models.registry import build_model
    from rhoml.represent.voxel_data import VoxelDataset
    from rhoml.train.loop import Objective, fit, seed_everything
    from rhoml.train.metrics import regression_report

    ch = channel_indices(data.channel_names, rep)
    pool_v, pool_y = data.voxels["train_pool"], data.targets["train_pool"]
    if size > len(pool_v):
        raise RhomlError(f"{data.name}: training size {size} > pool of {len(pool_v)}")
    # nested subsets: the pool is a seeded random order of the training split; a training set
    # of size n is its first n (the same for every seed: seeds vary initialisation and batch
    # order, and results do not depend on how large the pool was)
    sel = np.arange(size)
    train = VoxelDataset(pool_v[sel], pool_y[sel], ch, augment=augment)
    val = VoxelDataset(data.voxels["val"], data.targets["val"], ch)
    seed_everything(seed)
    model = build_model(model_name, model_params, in_channels=len(ch),
                        targets=data.target_names)  # fmt: skip
    y = pool_y[sel]
    model.set_target_stats(y.mean(0), y.std(0) if len(y) > 1 else np.ones(y.shape[1]))
    std = model.target_std
    loss = train_cfg.loss

    def criterion(p, t):
        z = (p - t) / std.to(p.device)
        return z.abs().mean() if loss == "l1" else (z * z).mean()

    names = data.target_names
    obj = Objective(lambda b: b["y"], criterion, lambda p, t: regression_report(p, t, names))
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps({
        "model": model_name, "model_params": model_params, "targets": names,
        "units": data.target_units, "representation": rep, "channels": ch,
        "channel_names": [data.channel_names[i] for i in ch],
        "all_channel_names": data.channel_names, "voxel_spec": data.info.get("voxel_spec"),
        "engine": data.info.get("engine"), "engine_options": data.info.get("engine_options"),
        "pocket_cutoff": data.info.get("pocket_cutoff"), "dataset": data.name, "n_train": size,
        "seed": seed,
    }, indent=1))  # fmt: skip
    res = fit(model, train, val, obj, train_cfg, out, progress=progress)
    return model, res, ch


def run_one(data: StudyData, rep: str, size: int, seed: int, settings: StudySettings, out: Path,
            progress: bool = True) -> dict:  # fmt: skip
    """Train and test one (representation, size, seed); returns the result row."""
    import torch

    from rhoml.represent.voxel_data import VoxelDataset
    from rhoml.train.config import TrainConfig
    from rhoml.train.loop import predict
    from rhoml.train.metrics import regression_report

    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    cfg = TrainConfig(
        epochs=settings.epochs_for(size), batch_size=min(settings.batch_size, size), lr=settings.lr,
        patience=settings.patience, seed=seed, loss=settings.loss, threads=settings.threads,
        device=settings.device, eval_batch_size=64,
    )  # fmt: skip
    model, res, ch = train_model(data, rep, size, seed, settings.model, settings.model_params,
                                 cfg, out, augment=settings.augment, progress=progress)  # fmt: skip
    test = VoxelDataset(data.voxels["test"], data.targets["test"], ch)
    t0 = time.perf_counter()
    pred, true = predict(model, test, batch_size=64, device=next(model.parameters()).device,
                         targets=lambda b: b["y"])  # fmt: skip
    test_seconds = time.perf_counter() - t0
    row = {
        "representation": rep, "size": size, "seed": seed, "channels": len(ch),
        "test": regression_report(pred, true, data.target_names), "n_test": len(true),
        "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
        "train_seconds": res.seconds, "train_samples_per_second": res.samples_per_second,
        "test_molecules_per_second": len(true) / test_seconds if test_seconds else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(next(model.parameters()).device), "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
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
        from rhoml.train.metrics import regression_report

        # reference: predict the mean of the largest training set for every test molecule
        y = data.targets["train_pool"][: max(settings.sizes)]
        test = data.targets["test"]
        mean = np.broadcast_to(y.mean(0), test.shape)
        data.info["mean_predictor_test"] = regression_report(mean, test, data.target_names)
    rows = []
    combos = [(r, s, k) for s in settings.sizes for r in settings.representations
              for k in range(settings.seeds)]  # fmt: skip
    for i, (rep, size, seed) in enumerate(combos, 1):
        run_dir = out / "runs" / rep / f"n{size}" / f"s{seed}"
        if summary_only:
            if (run_dir / "result.json").is_file():
                rows.append(json.loads((run_dir / "result.json").read_text()))
            continue
        if progress:
            print(f"[{i}/{len(combos)}] {data.name} {rep} n={size} seed={seed}", flush=True)
        rows.append(run_one(data, rep, size, seed, settings, run_dir, progress))
    if not rows:
        raise RhomlError(f"{out}: no finished runs to summarise")
    if data is None:  # summary only: the description of the data comes from a finished run
        meta = json.loads((out / "runs" / rows[0]["representation"] / f"n{rows[0]['size']}"
                           / f"s{rows[0]['seed']}" / "model.json").read_text())  # fmt: skip
        data = StudyData(meta["dataset"], meta["targets"], meta["units"],
                         meta["all_channel_names"], {}, {}, _read_info(out))  # fmt: skip
    summary = summarise(data, settings, rows)
    (out / "data_info.json").write_text(json.dumps(data.info, indent=1) + "\n")
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "results.md").write_text(markdown(summary) + "\n")
    plot(summary, out / "learning_curve.png")
    return summary


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
    lines = ["| representation | n train | seeds | " + " | ".join(heads) + " |",
             "|---|---:|---:|" + "---:|" * len(heads)]  # fmt: skip
    for e in summary["table"]:
        cells = [f"{e[k]['mean']:.4g} ± {e[k]['std']:.2g}" for k in summary["metrics"]]
        lines.append(f"| {e['representation']} | {e['size']} | {e['seeds']} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    base = summary.get("info", {}).get("mean_predictor_test")
    if base:
        cells = [f"{base[k]:.4g}" if k in base else "–" for k in summary["metrics"]]
        lines.append("| (mean of the training set) | – | – | " + " | ".join(cells) + " |")
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


# -- one experiment from a config file (``rhoml train``) and prediction (``rhoml predict``) -----
@dataclass
class DataConfig:
    """``[data]`` of a voxel experiment config. ``dataset``: ``qm9`` or ``pdbbind`` (``root``
    needed); ``store``: density/voxel store (default OUT/store); ``n_test``: QM9 test molecules
    from the test split (0 = all 10,831) or PDBbind held-out complexes."""

    dataset: str = "qm9"
    root: str = ""
    store: str = ""
    targets: list[str] = field(default_factory=lambda: ["gap"])
    representation: str = "density"
    n_train: int = 1000
    n_val: int = 200
    n_test: int = 1000
    engine: str = ""  # default: xtb (QM9), promolecule (PDBbind)
    n_poses: int = 1
    augment: bool = True
    split_seed: int = 42
    subset_seed: int = 0
    pocket_cutoff: float = 0.0
    workers: int = 2
    solvent: str = ""  # xtb: ALPB implicit solvent (e.g. "water"); "" = gas phase

    def __post_init__(self) -> None:
        if self.dataset not in ("qm9", "pdbbind"):
            raise ValueError(f"dataset must be qm9 or pdbbind, got {self.dataset!r}")
        if self.dataset == "pdbbind" and not self.root:
            raise ValueError("dataset pdbbind needs root (the PDBbind folder)")
        if self.dataset == "pdbbind" and list(self.targets) != ["pK"]:
            raise ValueError(f"dataset pdbbind has the single target pK, got {self.targets}")


EXPERIMENT_SECTIONS = ("data", "voxel", "model", "train")


def load_experiment(path):
    """Read and check an experiment config (TOML/JSON) → dict of sections."""
    from rhoml.models.registry import ConfigError
    from rhoml.represent.voxel import VoxelSpec
    from rhoml.train.config import TrainConfig, load_config

    cfg = load_config(path, {"data": DataConfig, "voxel": None, "model": None,
                             "train": TrainConfig})  # fmt: skip
    try:
        cfg["voxel"] = VoxelSpec.from_dict(cfg["voxel"]) if cfg["voxel"] else None
    except RhomlError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    model = dict(cfg["model"])
    cfg["model_name"] = model.pop("name", "resnet3d-small")
    cfg["model_params"] = model
    return cfg


def experiment_data(cfg, out: Path, progress: bool = True) -> StudyData:
    d: DataConfig = cfg["data"]
    store = Path(d.store) if d.store else out / "store"
    if d.dataset == "qm9":
        from rhoml.bench import qm9_protocol as q

        sel = q.select(d.n_train, d.n_val, d.n_test or None, split_seed=d.split_seed,
                       subset_seed=d.subset_seed)  # fmt: skip
        return q.study_data(store, sel, d.targets, spec=cfg["voxel"] or q.default_spec(),
                            engine=d.engine or "xtb", n_poses=d.n_poses, workers=d.workers,
                            progress=progress)  # fmt: skip
    from rhoml.bench import pdbbind_protocol as p

    return p.study_data(d.root, store, spec=cfg["voxel"] or p.default_spec(),
                        engine=d.engine or "promolecule", n_val=d.n_val, n_test=d.n_test,
                        max_train=d.n_train, split_seed=d.split_seed,
                        pocket_cutoff=d.pocket_cutoff or None, n_poses=d.n_poses,
                        engine_options={"solvent": d.solvent} if d.solvent else None,
                        workers=d.workers, progress=progress)  # fmt: skip


def train_experiment(path, out_dir, progress: bool = True) -> dict:
    """``rhoml train``: data → voxels → one model → test metrics (``OUT/test_metrics.json``).
    Under ``torchrun`` (see :mod:`rhoml.train.distributed`) rank 0 prepares the data, every rank
    trains its shard through DDP, and rank 0 writes the files."""
    from rhoml.represent.voxel_data import VoxelDataset
    from rhoml.train.distributed import is_main_process, rank0_first
    from rhoml.train.loop import predict
    from rhoml.train.metrics import regression_report

    cfg = load_experiment(path)
    out = Path(out_dir)
    main = is_main_process()
    with rank0_first():  # under torchrun rank 0 computes the densities and voxels
        data = experiment_data(cfg, out, progress and main)
    d, t = cfg["data"], cfg["train"]
    model, res, ch = train_model(data, d.representation, d.n_train, t.seed, cfg["model_name"],
                                 cfg["model_params"], t, out, augment=d.augment,
                                 progress=progress)  # fmt: skip
    test = VoxelDataset(data.voxels["test"], data.targets["test"], ch)
    pred, true = predict(model, test, batch_size=64, device=next(model.parameters()).device,
                         targets=lambda b: b["y"])  # fmt: skip
    metrics = regression_report(pred, true, data.target_names)
    report = {"test": metrics, "n_test": len(true), "best_epoch": res.best_epoch,
              "epochs_run": res.epochs_run, "units": data.target_units,
              "train_samples_per_second": res.samples_per_second}  # fmt: skip
    if main:
        (out / "test_metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def load_trained(model_dir, device="cpu"):
    """A trained model and its description (``model.json``) from a ``rhoml train`` folder."""
    import torch

    from rhoml.models.registry import build_model

    folder = Path(model_dir)
    meta_path, weights = folder / "model.json", folder / "best.pt"
    if not meta_path.is_file() or not weights.is_file():
        raise RhomlError(f"{folder}: not a trained model folder (needs model.json and best.pt)")
    meta = json.loads(meta_path.read_text())
    model = build_model(meta["model"], meta["model_params"], in_channels=len(meta["channels"]),
                        targets=meta["targets"])  # fmt: skip
    model.load_state_dict(torch.load(weights, map_location=device)["model"])
    return model.to(device).eval(), meta


def predict_inputs(model_dir, molecules=(), map_path=None, *, device="cpu",
                   progress: bool = True) -> list[dict]:  # fmt: skip
    """Predictions for molecules (densities from the model's engine) or for a density map.

    A CCP4/MRC map or cube file (``map_path``) feeds the density channels, resampled
    (trilinearly) onto the model's grid; its values are used as they are, so they must be on the
    scale the model was trained on (e/Bohr³ for cube densities; an experimental map on an
    absolute scale). With molecules, the map is used for each of them (atom channels and the box
    centre come from the molecule); without, the box is centred on the map and the model must use
    density channels only.
    """
    import torch

    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    model, meta = load_trained(model_dir, device)
    spec = VoxelSpec.from_dict(meta["voxel_spec"])
    vox = Voxelizer(spec, device=device, engine=meta["engine"] or "xtb",
                    engine_options=meta.get("engine_options"))  # fmt: skip
    if meta.get("pocket_cutoff"):  # complexes are cut and capped as in training
        from rhoml.bench.pdbbind_protocol import cut_pocket

        molecules = [
            cut_pocket(m, meta["pocket_cutoff"]) if m.groups is not None and m.source else m
            for m in molecules
        ]
    density = None
    if map_path is not None:
        density = _load_map(map_path)
    rows = []
    items = list(molecules) or [None]
    if progress and len(items) > 1:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="predict", leave=False)
    for mol in items:
        if mol is None:
            if density is None:
                raise RhomlError("predict: give molecules, a map, or both")
            kinds = {channel_kind(n) for n in meta["channel_names"]}
            if not kinds <= {"density", "gradient"}:
                raise RhomlError(
                    f"{map_path}: model {model_dir} uses {', '.join(sorted(kinds))} channels; "
                    "a map alone can only feed density/gradient models (give a molecule too)"
                )
            g = density.grid
            centre = g.origin + 0.5 * (np.array(g.shape) - 1) @ g.axes
            from rhoml.molecule import Molecule

            # a placeholder atom: only the (unused) atom/shape channels see it
            dummy = Molecule([1], [centre], multiplicity=2, id=Path(map_path).name)
            x = vox([dummy], [[density] * len(spec.groups)], centers=[centre])
            name = Path(map_path).name
        else:
            dens = None if density is None else [density] * len(spec.groups)
            x = vox([mol], None if dens is None else [dens])
            name = mol.id
        with torch.no_grad():
            y = model({"voxels": x[:, meta["channels"]].to(device)})[0].cpu().numpy()
        rows.append({"id": name, **{t: float(v) for t, v in zip(meta["targets"], y, strict=True)}})
    return rows


def _load_map(path):
    p = Path(path)
    if p.suffix.lower() == ".cube":
        from rhoml.io.cube import load_cube_density

        return load_cube_density(p)
    from rhoml.io.ccp4 import load_map_density

    return load_map_density(p)

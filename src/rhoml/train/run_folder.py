"""Run folders: everything one trained model needs, in one folder, written safely.

::

    RUN/
      config.toml          the fully resolved config (defaults written out), family included
      manifest.json        family, rhoml version, git revision, data fingerprint, inputs and
                           outputs with units, final metrics, created-at, build arguments
      model.pt             weights only (a state_dict), written to a temporary file and renamed
      metrics.csv          one row per epoch (a ``stage`` column for multi-stage families)
      learning_curve.png   the losses of metrics.csv against epoch
      checkpoints/         the training loop's last.pt / best.pt per stage (resume)

A folder with a ``config.toml`` is claimed by that config: rerunning with the same config
resumes from the checkpoints, a different config is refused before anything is touched.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rhoml.config import ConfigError, dump_toml, read_table_file
from rhoml.errors import InputError, RhomlError
from rhoml.io.atomic import atomic_write

CONFIG = "config.toml"
MANIFEST = "manifest.json"
WEIGHTS = "model.pt"
METRICS = "metrics.csv"
CURVE = "learning_curve.png"
CHECKPOINTS = "checkpoints"


def git_revision() -> str | None:
    """The git commit of the rhoml source tree, or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def data_fingerprint(items: Iterable[Any]) -> str:
    """sha256 (first 16 hex digits) over strings and arrays (ids, atomic numbers, positions,
    labels): two runs with the same fingerprint saw the same data."""
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, str):
            h.update(item.encode())
        else:
            a = np.ascontiguousarray(np.asarray(item))
            h.update(str(a.dtype).encode() + str(a.shape).encode())
            h.update(a.tobytes())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def _first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            d = _first_difference(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
            if d:
                return d
        return None
    return None if a == b else (prefix or "config")


class RunFolder:
    """One run folder (see the module docstring). Only rank 0 of a distributed run writes."""

    def __init__(self, path, *, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer

    # -- names ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def curve_path(self) -> Path:
        return self.path / CURVE

    def checkpoints(self, stage: str = "") -> Path:
        """Checkpoint folder of ``stage`` (the loop's last.pt, best.pt, metrics.csv)."""
        p = self.path / CHECKPOINTS
        return p / stage if stage else p

    # -- creation ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path, config: dict, *, writer: bool = True) -> RunFolder:
        """Claim ``path`` for ``config`` (a resolved plain dict). A new or empty folder is
        created; a folder of the same config is reused (resume); a folder holding another config
        or files that are not a run is refused with one line, before anything is written."""
        run = cls(path, writer=writer)
        p = run.path
        if not writer:  # another rank of a distributed run checks and writes the folder
            return run
        if p.exists() and not p.is_dir():
            raise InputError(f"{p}: exists and is not a folder")
        if run.config_path.is_file():
            old = read_table_file(run.config_path)
            new = json.loads(json.dumps(config))
            old_clean = json.loads(dump_toml_roundtrip(old))
            new_clean = json.loads(dump_toml_roundtrip(new))
            diff = _first_difference(old_clean, new_clean)
            if diff:
                raise ConfigError(
                    f"{p}: holds a run of another config (differs at {diff}); "
                    "give another --out or delete the folder"
                )
            return run
        if p.is_dir() and any(p.iterdir()):
            raise InputError(f"{p}: folder is not empty and holds no run; give another --out")
        if writer:
            try:
                p.mkdir(parents=True, exist_ok=True)
                atomic_write(run.config_path, dump_toml(config))
            except OSError as exc:
                raise InputError(f"{p}: cannot write the run folder ({exc.strerror})") from None
        return run

    @property
    def finished(self) -> bool:
        """True when the weights and a manifest with final metrics are written."""
        if not (self.weights_path.is_file() and self.manifest_path.is_file()):
            return False
        return bool(self.read_manifest().get("finished"))

    # -- writing -------------------------------------------------------------------------------
    def save_weights(self, state_dict: dict) -> None:
        """``model.pt``: the state_dict on the CPU (weights only), written atomically."""
        if not self.writer:
            return
        import io

        import torch

        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
        atomic_write(self.weights_path, buf.getvalue())

    def write_manifest(
        self,
        family: str,
        *,
        inputs: dict[str, str],
        outputs: dict[str, str],
        build: dict,
        metrics: dict | None = None,
        data: str | None = None,
        extra: dict | None = None,
        finished: bool = True,
    ) -> dict:
        """Write ``manifest.json``. ``inputs``/``outputs``: quantity → unit; ``build``: what the
        family needs besides the weights to rebuild the model (JSON-able); ``data``: the data
        fingerprint (:func:`data_fingerprint`)."""
        from rhoml import __version__

        manifest = {
            "format": "rhoml-run-1",
            "family": family,
            "rhoml_version": __version__,
            "git_revision": git_revision(),
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "data_fingerprint": data,
            "inputs": inputs,
            "outputs": outputs,
            "metrics": json_safe(metrics or {}),
            "build": build,
            "finished": finished,
            **(extra or {}),
        }
        if self.writer:
            atomic_write(self.manifest_path, json.dumps(manifest, indent=1) + "\n")
        return manifest

    def collect_metrics(self, stages: dict[str, Path] | None = None) -> None:
        """``metrics.csv`` from the loop's per-stage files (a ``stage`` column when there are
        several) and ``learning_curve.png`` beside it."""
        if not self.writer:
            return
        stages = stages or {"": self.checkpoints()}
        rows: list[dict] = []
        for stage, folder in stages.items():
            f = Path(folder) / METRICS
            if not f.is_file():
                continue
            with open(f, newline="") as fh:
                for row in csv.DictReader(fh):
                    rows.append({"stage": stage, **row} if len(stages) > 1 else row)
        if not rows:
            return
        names: list[str] = []
        for r in rows:
            names += [k for k in r if k not in names]
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=names, restval="")
        w.writeheader()
        w.writerows(rows)
        atomic_write(self.metrics_path, buf.getvalue())
        plot_learning_curve(self.metrics_path, self.curve_path)

    def finish(
        self,
        family: str,
        state_dict: dict,
        *,
        inputs: dict[str, str],
        outputs: dict[str, str],
        build: dict,
        metrics: dict | None = None,
        data: str | None = None,
        config: dict | None = None,
        stages: dict[str, Path] | None = None,
        extra: dict | None = None,
    ) -> dict:
        """Close a training run: weights, ``metrics.csv`` + learning curve (from ``stages``,
        default the single checkpoint folder), then the manifest (last, so that a run counts as
        finished only when everything else is written). ``config``: the loaded sections, kept
        in the manifest as plain data."""
        from rhoml.config import as_dict

        self.save_weights(state_dict)
        self.collect_metrics(stages)
        extra = dict(extra or {})
        if config is not None:
            extra["config"] = as_dict(config)
        return self.write_manifest(family, inputs=inputs, outputs=outputs, build=build,
                                   metrics=metrics, data=data, extra=extra or None)  # fmt: skip

    # -- reading -------------------------------------------------------------------------------
    def read_config(self) -> dict:
        return read_table_file(self.config_path)

    def read_manifest(self) -> dict:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{self.manifest_path}: unreadable run manifest ({exc})") from None

    def load_weights(self, device: str = "cpu") -> dict:
        import torch

        if not self.weights_path.is_file():
            raise InputError(f"{self.path}: no {WEIGHTS} (training not finished?)")
        try:
            return torch.load(self.weights_path, map_location=device, weights_only=True)
        except Exception as exc:  # a truncated or foreign file: one line, not a traceback
            raise InputError(
                f"{self.weights_path}: not readable weights ({type(exc).__name__})"
            ) from None


def dump_toml_roundtrip(data: dict) -> str:
    """``data`` as it reads back from TOML, serialised as JSON (for comparisons)."""
    import tomllib

    return json.dumps(tomllib.loads(dump_toml(data)), sort_keys=True)


def json_safe(d: Any) -> Any:
    """``d`` with NaN/inf replaced by None (recursively), so that files stay valid JSON."""
    if isinstance(d, dict):
        return {k: json_safe(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [json_safe(v) for v in d]
    if isinstance(d, float) and not np.isfinite(d):
        return None
    if isinstance(d, np.generic):
        return json_safe(d.item())
    return d


def plot_learning_curve(metrics_csv: Path, png: Path) -> None:
    """Training and validation loss per epoch (log scale), one panel per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    stages = list(dict.fromkeys(r.get("stage", "") for r in rows))
    fig, axes = plt.subplots(1, len(stages), figsize=(4.5 * len(stages), 3.4), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        part = [r for r in rows if r.get("stage", "") == stage]
        epochs = [int(r["epoch"]) for r in part]
        for key, label in (("train_loss", "training loss"), ("val_loss", "validation loss")):
            vals = [float(r[key]) for r in part if r.get(key) not in (None, "")]
            if len(vals) == len(epochs) and any(v > 0 for v in vals):
                ax.plot(epochs, vals, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (objective units)")
        ax.set_title(stage or "training")
        ax.legend()
    fig.tight_layout()
    tmp = png.with_name(f".{png.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png)


def require_family(manifest: dict, path: Path) -> str:
    family = manifest.get("family")
    if not isinstance(family, str):
        raise RhomlError(f"{path}: manifest names no model family")
    return family


def shipped_runs() -> dict[str, Path]:
    """Names and folders of the run folders shipped inside the package (``rhoml/data/runs``)."""
    from importlib.resources import files

    root = Path(str(files("rhoml") / "data" / "runs"))
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "manifest.json").is_file()}


def resolve_run(spec: str | Path) -> Path:
    """A run folder path, or the name of a shipped run (e.g. ``ethanol``); one-line
    :class:`InputError` otherwise."""
    p = Path(spec)
    if p.is_dir():
        if not (p / "manifest.json").is_file():
            raise InputError(f"{p}: not a run folder (no manifest.json)")
        return p
    if p.exists():
        raise InputError(f"{p}: not a run folder (expected a folder written by 'rhoml train')")
    names = shipped_runs()
    if str(spec) in names:
        return names[str(spec)]
    hint = f"; shipped: {', '.join(names)}" if names else ""
    raise InputError(f"{spec}: no such run folder{hint}")

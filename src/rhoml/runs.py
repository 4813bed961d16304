"""Train and load models as run folders: the one entry point for every model family.

>>> from rhoml import runs
>>> run = runs.train("configs/voxel_qm9_small.toml", "runs/qm9")     # doctest: +SKIP
>>> run = runs.load("runs/qm9", device="cpu")                         # doctest: +SKIP
>>> run.predict(molecules)                                            # doctest: +SKIP

A config file names its family at the top (``family = "voxel-cnn"``) followed by the family's
sections (see :mod:`rhoml.families`); ``rhoml train CONFIG --out RUN`` calls :func:`train`,
``rhoml predict/md/ir RUN`` call :func:`load`. Shipped models are run folders inside the package
(``rhoml/data/runs/<name>``), loadable by name (``runs.load("ethanol")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhoml.config import ConfigError, as_dict, load_config, read_table_file
from rhoml.errors import InputError
from rhoml.families import Predictor, get_family, is_potential
from rhoml.molecule import Molecule
from rhoml.train.run_folder import RunFolder, require_family, resolve_run, shipped_runs

__all__ = ["Run", "load", "load_training_config", "resolve", "shipped", "train"]


@dataclass
class Run:
    """A trained model with its run folder: ``model`` is the family's :class:`Predictor`."""

    path: Path
    family: str
    config: dict
    manifest: dict
    model: Predictor

    @property
    def outputs(self) -> dict[str, str]:
        return self.model.outputs

    @property
    def is_potential(self) -> bool:
        return is_potential(self.model)

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False) -> list[dict]:
        return self.model.predict(molecules, progress=progress)

    def potential(self):
        """The model as a :class:`~rhoml.families.Potential`; one-line error if it is not one."""
        if not self.is_potential:
            raise InputError(
                f"{self.path}: a {self.family} model predicts {', '.join(self.outputs)}, "
                "not energies and forces"
            )
        return self.model


def shipped() -> dict[str, Path]:
    """Names and folders of the run folders shipped inside the package."""
    return shipped_runs()


def resolve(spec: str | Path) -> Path:
    """A run folder path, or the name of a shipped run (e.g. ``ethanol``)."""
    return resolve_run(spec)


def load_training_config(config, overrides: list[str] | None = None) -> tuple[str, dict]:
    """Read a training config (file or dict with a ``family`` key) → (family, resolved plain
    dict with every default written out and paths made absolute)."""
    if isinstance(config, dict):
        raw, where, base = dict(config), "config", None
    else:
        raw, where, base = read_table_file(config), str(config), Path(config).resolve().parent
    family_name = raw.pop("family", None)
    for item in overrides or []:
        if item.split("=", 1)[0].strip() == "family":
            family_name = item.split("=", 1)[1].strip().strip('"')
    overrides = [o for o in overrides or [] if o.split("=", 1)[0].strip() != "family"]
    if not isinstance(family_name, str):
        raise ConfigError(f"{where}: missing top-level key 'family' (e.g. family = \"densnet\")")
    try:
        family = get_family(family_name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: family: {exc}") from None
    sections = load_config(raw, family.sections, where, overrides=overrides, base_dir=base)
    check = getattr(family, "check_config", None)
    if check is not None:
        check(sections, where)
    return family_name, {"family": family_name, **as_dict(sections)}


def train(config, out=None, *, overrides: list[str] | None = None, progress: bool = True) -> Run:
    """Train the model of ``config`` into the run folder ``out`` (default ``runs/<stem>``).

    A rerun with the same config resumes from the checkpoints (or returns the finished run);
    a folder of another config is refused before any work. Under ``torchrun`` every rank
    trains its shard and rank 0 writes."""
    from rhoml.train.distributed import init_from_env, is_main_process

    family_name, resolved = load_training_config(config, overrides)
    if out is None:
        stem = "config" if isinstance(config, dict) else Path(config).stem
        out = Path("runs") / stem
    _check_devices(resolved, str(config) if not isinstance(config, dict) else "config")
    init_from_env()
    main = is_main_process()
    run = RunFolder.create(out, resolved, writer=main)
    if not run.finished:
        family = get_family(family_name)
        sections = load_config(
            {k: v for k, v in resolved.items() if k != "family"}, family.sections, str(out)
        )
        family.train(sections, run, progress=progress and main)
    return load(run.path) if main else Run(run.path, family_name, resolved, {}, None)  # type: ignore[arg-type]


def _check_devices(resolved: dict, where: str) -> None:
    """Every ``device`` key of the config names a device this machine has (before any work)."""
    from rhoml.errors import RhomlError
    from rhoml.train.loop import resolve_device

    for name, section in resolved.items():
        if isinstance(section, dict) and isinstance(section.get("device"), str):
            try:
                resolve_device(section["device"])
            except RhomlError as exc:
                raise ConfigError(f"{where}: [{name}].device: {exc}") from None


def load(spec, device: str = "cpu") -> Run:
    """The run folder ``spec`` (a path or a shipped name) with its model, on ``device``."""
    path = resolve(spec)
    folder = RunFolder(path, writer=False)
    manifest = folder.read_manifest()
    family_name = require_family(manifest, path)
    config = folder.read_config() if folder.config_path.is_file() else {}
    model = get_family(family_name).load(folder, device)
    return Run(path, family_name, config, manifest, model)


def describe(run: Run) -> dict[str, Any]:
    """A short summary of a run for ``rhoml info RUN``-style output."""
    m = run.manifest
    return {
        "path": str(run.path),
        "family": run.family,
        "outputs": run.outputs,
        "metrics": m.get("metrics", {}),
        "created_at": m.get("created_at"),
        "rhoml_version": m.get("rhoml_version"),
        "git_revision": m.get("git_revision"),
    }

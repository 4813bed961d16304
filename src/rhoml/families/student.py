"""The geometry-student family: SchNet, PaiNN, EGNN or ViSNet trained on rMD17 energies and
forces or on QM9 properties, optionally distilled from an electron-density-aware teacher (EDG,
Xiang et al., "Electron density-enhanced molecular geometry learning", IJCAI 2025).

Config sections:

* ``[data]`` (:class:`DataConfig`): ``dataset = "rmd17"`` with ``molecule`` and ``root`` (the
  folder of ``rmd17_<molecule>_{train,test}_01.npz``), or ``dataset = "qm9"`` with ``targets``;
  sizes ``n_train``, ``n_val``, ``n_test``.
* ``[model]``: ``name`` (a student or preset of :mod:`rhoml.models.registry`, e.g.
  ``schnet-small``), its parameters, and ``readout`` (``sum``, default, or ``mean``).
* ``[distill]`` (absent or empty: a plain student): ``lambda`` (required) and either
  ``teacher_run`` (an ``edg-teacher`` run folder or shipped name such as
  ``edg-teacher-small``: its features of the training molecules are computed once and cached
  in ``features_store``, default :func:`rhoml.families.edg_features.default_features_store`)
  or ``features`` (a store with teacher features, or an ``.npz`` with ``ids`` (N,) and
  ``features`` (N, 512)) with ``ed_predictor`` (a torch state dict of the teacher's ED
  predictor, a checkpoint holding it under ``EDPredictor`` as EDG ships it, or a teacher run's
  ``model.pt``).
* ``[train]``: :class:`~rhoml.train.config.TrainConfig`.

Protocols (those of EDG and the rMD17/QM9 literature):

* rMD17: the first ``n_train`` (≤ 950) frames of the train split file for training, its last
  ``n_val`` (50) for validation, the test split file (1,000 frames) for testing; energies in
  kcal/mol, forces in kcal/mol/Å, forces = −∂E/∂r; loss 0.05·L1(E) + 0.95·L1(F)
  (``energy_weight``/``force_weight``); the best epoch is the one with the lowest validation
  force MAE (``[train].monitor = "force_mae"``, set when the monitor is left at its default).
* QM9: the standard 110k/10k/10,831 split (seed 42), nested seeded subsets of the training
  split for smaller runs (:func:`rhoml.datasets.qm9.select`), targets in the literature's units
  (:func:`rhoml.datasets.qm9.target_values`), L1 loss on targets divided by their training
  standard deviation.
* Distillation: L = L_task + λ·L_ED with L_ED the smooth-L1 between the student's mapped
  representation and the teacher's features, both through the teacher's frozen ED predictor
  (:mod:`rhoml.models.students.distill`). Only training molecules need teacher features.

The run folder's ``model.pt`` holds the student alone (inference never uses the teacher); an
rMD17 student loads as a :class:`StudentPotential` (energies and forces for ``rhoml md``/``ir``
and the ASE calculator), a QM9 student as a :class:`StudentPredictor`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rhoml.config import ConfigError, option, strict_dataclass
from rhoml.errors import InputError, RhomlError
from rhoml.molecule import Molecule
from rhoml.train.config import TrainConfig
from rhoml.train.run_folder import RunFolder, data_fingerprint

__all__ = [
    "DataConfig",
    "DistillConfig",
    "FeatureFileTeacher",
    "StudentFamily",
    "StudentPotential",
    "StudentPredictor",
    "Teacher",
    "collate",
]

ENERGY_UNIT = "kcal/mol"
FORCE_UNIT = "kcal/mol/angstrom"
RMD17_TRAIN_FILE_FRAMES = 1000


@dataclass
class DataConfig:
    """``[data]``: ``dataset`` rmd17 (``molecule``, ``root`` = the rMD17 folder) or qm9
    (``targets``). rMD17: ``n_train`` first frames of the train split file (≤ 950 in the
    protocol), ``n_val`` last frames of it, ``n_test`` test frames (0 = all 1,000). QM9:
    ``n_train`` of the 110k training split (nested prefixes of a ``subset_seed`` permutation),
    ``n_val`` of the validation split, ``n_test`` of the test split (0 = all 10,831)."""

    dataset: str = option("rmd17", choices=("rmd17", "qm9"))
    molecule: str = "ethanol"
    root: str = option("", path=True, must_exist=True)
    targets: list[str] = field(default_factory=lambda: ["U0"])
    n_train: int = option(950, min=1)
    n_val: int = option(50, min=1)
    n_test: int = option(0, min=0)
    split_seed: int = option(42, min=0)
    subset_seed: int = option(0, min=0)
    energy_weight: float = option(0.05, min=0.0)
    force_weight: float = option(0.95, min=0.0)

    def __post_init__(self) -> None:
        if self.dataset == "rmd17":
            from rhoml.io.rmd17 import RMD17_MOLECULES

            if self.molecule not in RMD17_MOLECULES:
                raise ValueError(
                    f"molecule {self.molecule!r} is not an rMD17 molecule; choose from "
                    f"{', '.join(RMD17_MOLECULES)}"
                )
            if not self.root:
                raise ValueError("dataset rmd17 needs root (the folder with the rMD17 files)")
            if self.n_train + self.n_val > RMD17_TRAIN_FILE_FRAMES:
                raise ValueError(
                    f"n_train + n_val = {self.n_train + self.n_val} > the "
                    f"{RMD17_TRAIN_FILE_FRAMES} frames of the train split file"
                )
            if self.energy_weight + self.force_weight <= 0:
                raise ValueError("energy_weight + force_weight must be > 0")
        else:
            from rhoml.datasets.qm9 import REPORT_UNITS

            bad = [t for t in self.targets if t not in REPORT_UNITS]
            if bad or not self.targets:
                raise ValueError(
                    f"targets: unknown QM9 target(s) {bad or self.targets}; "
                    f"choose from {', '.join(REPORT_UNITS)}"
                )


@dataclass
class DistillConfig:
    """``[distill]``: ``lambda`` (the weight of L_ED, written ``lambda`` in the config) and a
    teacher: ``teacher_run`` (a run folder or a shipped run's name) with an optional
    ``features_store``, or ``features`` + ``ed_predictor`` (paths relative to the config)."""

    weight: float = option(min=0.0)
    teacher_run: str = ""
    features_store: str = option("", path=True)
    features: str = option("", path=True, must_exist=True)
    ed_predictor: str = option("", path=True, must_exist=True)

    def __post_init__(self) -> None:
        if bool(self.teacher_run) == bool(self.features):
            raise ValueError("give either teacher_run or features (with ed_predictor)")
        if self.features and not self.ed_predictor:
            raise ValueError("features needs ed_predictor (the teacher's frozen ED predictor)")
        if self.teacher_run and self.ed_predictor:
            raise ValueError("ed_predictor comes from teacher_run; give one or the other")
        if self.features_store and not self.teacher_run:
            raise ValueError("features_store goes with teacher_run (features names its own file)")


_DISTILL_KEYS = ("lambda", "teacher_run", "features_store", "features", "ed_predictor")


def _teacher_run_spec(value, where: str, base_dir: Path | None) -> str:
    """``[distill].teacher_run`` → an absolute run folder path, or a shipped run's name."""
    from rhoml.train.run_folder import shipped_runs

    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: [distill].teacher_run must be a run folder or shipped name")
    p = Path(value).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if p.exists():
        return str(p.resolve())
    names = shipped_runs()
    if value in names:
        return value
    hint = f"; shipped: {', '.join(names)}" if names else ""
    raise ConfigError(f"{where}: [distill].teacher_run: {p}: no such run folder{hint}")


def parse_distill(table: dict | None, where: str, base_dir: Path | None) -> DistillConfig | None:
    """``[distill]`` → :class:`DistillConfig` (None when absent or empty: a plain student)."""
    if not table:
        return None
    table = dict(table)
    unknown = sorted(set(table) - set(_DISTILL_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: [distill]: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(_DISTILL_KEYS)}"
        )
    if "lambda" not in table:
        raise ConfigError(f"{where}: [distill]: missing required key 'lambda' (the L_ED weight)")
    table["weight"] = table.pop("lambda")
    if table.get("teacher_run"):
        table["teacher_run"] = _teacher_run_spec(table["teacher_run"], where, base_dir)
    try:
        return strict_dataclass(DistillConfig, table, f"{where}: [distill]", base_dir)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("[distill].weight", "[distill].lambda")) from None


# -- teachers ------------------------------------------------------------------------------------
class Teacher(Protocol):
    """What distillation needs from an EDG teacher: its frozen ED predictor and its features
    for given molecules."""

    source: str

    def ed_predictor(self):
        """The ED predictor (an :class:`~rhoml.models.students.distill.EDPredictor`)."""
        ...

    def features(self, molecules: Sequence[Molecule]) -> tuple[np.ndarray, dict]:
        """Features (len(molecules), D) float32 in that order and their provenance; raises
        :class:`KeyError` with the ids that have none."""
        ...


class FeatureFileTeacher:
    """Teacher features from an ``.npz`` file (``ids`` (N,) str, ``features`` (N, D)) and the ED
    predictor's weights from a torch file (a state dict with keys ``network.0.weight`` ...,
    EDG's checkpoint ``{"EDPredictor": {"network.linear1.weight": ...}}``, or the ``model.pt``
    of an ``edg-teacher`` run). The feature files ``rhoml edg features --out F.npz`` writes have
    this layout; a store folder with teacher features (``rhoml edg features TEACHER STORE``) is
    read through :func:`rhoml.families.edg_features.load_teacher_features`."""

    def __init__(self, features_path, ed_predictor_path) -> None:
        self.features_path, self.ed_path = Path(features_path), Path(ed_predictor_path)
        self.source = str(self.features_path)
        self._store = self.features_path.is_dir()
        if self._store:
            return
        try:
            with np.load(self.features_path, allow_pickle=False) as npz:
                missing = {"ids", "features"} - set(npz.files)
                if missing:
                    raise InputError(
                        f"{self.features_path}: no {', '.join(sorted(missing))} array "
                        f"(found: {', '.join(npz.files) or 'none'})"
                    )
                self._ids = [str(i) for i in npz["ids"]]
                self._features = np.asarray(npz["features"], dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.features_path}: not a readable .npz ({exc})") from None
        if self._features.ndim != 2 or len(self._features) != len(self._ids):
            raise InputError(
                f"{self.features_path}: features of shape {self._features.shape} for "
                f"{len(self._ids)} ids (expected (n_ids, D))"
            )
        self._row = {i: k for k, i in enumerate(self._ids)}

    @property
    def dim(self) -> int:
        return int(self._features.shape[1])

    def ed_predictor(self):
        import torch

        from rhoml.models.students.distill import EDPredictor

        try:
            state = torch.load(self.ed_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(
                f"{self.ed_path}: not readable weights ({type(exc).__name__})"
            ) from None
        if isinstance(state, dict) and "EDPredictor" in state:
            state = state["EDPredictor"]
        if not isinstance(state, dict):
            raise InputError(f"{self.ed_path}: not a state dict of an ED predictor")
        try:
            return EDPredictor.from_state_dict(state)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise InputError(
                f"{self.ed_path}: not the weights of an ED predictor (Linear → Softplus → "
                f"Linear): {str(exc).splitlines()[0]}"
            ) from None

    def features(self, molecules: Sequence[Molecule]) -> tuple[np.ndarray, dict]:
        ids = [m.id for m in molecules]
        if self._store:
            from rhoml.families.edg_features import load_teacher_features

            feats, prov = load_teacher_features(self.features_path, ids)
            return feats, {**prov, "features": str(self.features_path),
                           "ed_predictor": str(self.ed_path)}  # fmt: skip
        missing = [i for i in ids if i not in self._row]
        if missing:
            raise KeyError(missing)
        rows = [self._row[i] for i in ids]
        prov = {"features": str(self.features_path), "ed_predictor": str(self.ed_path),
                "n_features": len(self._ids), "dim": self.dim}  # fmt: skip
        return self._features[rows], prov


class TeacherRun:
    """Teacher features and ED predictor from an ``edg-teacher`` run folder (or shipped name):
    features of the molecules asked for, computed once and cached with their provenance in the
    store ``features_store`` (:func:`rhoml.families.edg_features.teacher_features`), and the
    frozen ED predictor (:func:`rhoml.families.edg_teacher.load_ed_predictor`)."""

    def __init__(self, run, features_store: str = "", dataset: str = "") -> None:
        from rhoml.families.edg_features import default_features_store

        self.run = run
        self.source = str(run)
        self.store = Path(features_store) if features_store else default_features_store(dataset)

    def ed_predictor(self):
        from rhoml.families.edg_teacher import load_ed_predictor

        return load_ed_predictor(self.run)

    def features(self, molecules: Sequence[Molecule]) -> tuple[np.ndarray, dict]:
        from rhoml.families.edg_features import teacher_features

        feats, prov = teacher_features(self.run, molecules, self.store)
        return np.asarray(feats, dtype=np.float32), dict(prov)


def open_teacher(cfg: DistillConfig, dataset: str = "") -> Teacher:
    if cfg.teacher_run:
        return TeacherRun(cfg.teacher_run, cfg.features_store, dataset)
    return FeatureFileTeacher(cfg.features, cfg.ed_predictor)


def teacher_targets(cfg: DistillConfig, molecules: Sequence[Molecule], where: str,
                    dataset: str = ""):  # fmt: skip
    """Check that the teacher covers ``molecules`` and fits its ED predictor → (ED predictor,
    ED targets (len(molecules), 768) float32 = ED predictor(teacher features), provenance).
    One-line :class:`ConfigError` naming what does not match."""
    import torch

    ids = [m.id for m in molecules]
    try:
        teacher = open_teacher(cfg, dataset)
        edp = teacher.ed_predictor()
        feats, prov = teacher.features(molecules)
    except RhomlError as exc:
        raise ConfigError(f"{where}: [distill]: {exc}") from None
    except KeyError as exc:
        missing = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
        raise ConfigError(
            f"{where}: [distill]: {teacher.source} has no teacher features for {len(missing)} "
            f"of the {len(ids)} training molecules (first: {missing[0]})"
        ) from None
    if feats.ndim != 2 or feats.shape[1] != edp.in_features:
        raise ConfigError(
            f"{where}: [distill]: {teacher.source}: teacher features are "
            f"{feats.shape[-1]}-d but the ED predictor takes {edp.in_features}-d"
        )
    with torch.no_grad():
        targets = edp.eval()(torch.as_tensor(feats, dtype=torch.float32)).numpy()
    return edp, targets, {**prov, "source": teacher.source}


# -- data ----------------------------------------------------------------------------------------
@dataclass
class StudentData:
    """Items per part (dicts of arrays, see :func:`collate`) and what describes them."""

    kind: str  # "energy_forces" (rMD17) or "properties" (QM9)
    targets: list[str]
    units: list[str]
    parts: dict[str, list[dict]]
    ids: dict[str, list[str]]
    numbers: dict[str, list[np.ndarray]]
    info: dict
    molecules: dict[str, list[Molecule]] = field(default_factory=dict)


def _item(mol: Molecule, y: np.ndarray, forces=None) -> dict:
    item = {"z": np.asarray(mol.numbers, dtype=np.int64),
            "pos": np.asarray(mol.positions, dtype=np.float32),
            "y_raw": np.asarray(y, dtype=np.float64).reshape(-1)}  # fmt: skip
    if forces is not None:
        item["forces"] = np.asarray(forces, dtype=np.float32)
    return item


def rmd17_molecules(d: DataConfig) -> dict[str, list[Molecule]]:
    """Train / validation / test frames of the rMD17 protocol."""
    from rhoml.io.rmd17 import load_rmd17

    train_file = load_rmd17(d.molecule, "train", data_dir=d.root)
    test = load_rmd17(d.molecule, "test", data_dir=d.root)
    if len(train_file) < d.n_train + d.n_val:
        raise InputError(
            f"rmd17 {d.molecule}: {len(train_file)} frames in the train split file, "
            f"n_train + n_val = {d.n_train + d.n_val}"
        )
    return {
        "train": train_file[: d.n_train],
        "val": train_file[len(train_file) - d.n_val :],
        "test": test[: d.n_test] if d.n_test else test,
    }


def qm9_rows(d: DataConfig) -> dict[str, np.ndarray]:
    from rhoml.datasets import qm9

    sel = qm9.select(d.n_train, d.n_val, d.n_test or None, split_seed=d.split_seed,
                     subset_seed=d.subset_seed)  # fmt: skip
    return {"train": sel.train_pool[: d.n_train], "val": sel.val, "test": sel.test}


def training_molecules(d: DataConfig) -> list[Molecule]:
    """The training molecules (what a teacher must cover)."""
    if d.dataset == "rmd17":
        return rmd17_molecules(d)["train"]
    from rhoml.io.qm9 import load_qm9

    return load_qm9(indices=qm9_rows(d)["train"])


def prepare_data(d: DataConfig) -> StudentData:
    if d.dataset == "rmd17":
        from rhoml.units import convert

        mols = rmd17_molecules(d)
        parts = {}
        for name, ms in mols.items():
            items = []
            for m in ms:
                e = convert(m.labels["energy"], m.label_units["energy"], ENERGY_UNIT)
                f = convert(np.asarray(m.labels["forces"]), m.label_units["forces"], FORCE_UNIT)
                items.append(_item(m, [e], f))
            parts[name] = items
        info = {"dataset": "rmd17", "molecule": d.molecule, "root": d.root,
                "protocol": f"first {d.n_train} / last {d.n_val} frames of the train split "
                            "file; test split file", "n_test": len(mols["test"])}  # fmt: skip
        return StudentData("energy_forces", ["energy"], [ENERGY_UNIT], parts,
                           {k: [m.id for m in v] for k, v in mols.items()},
                           {k: [m.numbers for m in v] for k, v in mols.items()}, info,
                           {"train": mols["train"]})  # fmt: skip
    from rhoml.datasets.qm9 import REPORT_UNITS, target_values
    from rhoml.io.qm9 import load_qm9

    rows = qm9_rows(d)
    parts, ids, numbers, train = {}, {}, {}, []
    for name, idx in rows.items():
        mols = load_qm9(indices=idx)
        if name == "train":
            train = mols
        y = target_values(mols, list(d.targets))
        parts[name] = [_item(m, yy) for m, yy in zip(mols, y, strict=True)]
        ids[name] = [m.id for m in mols]
        numbers[name] = [m.numbers for m in mols]
    info = {"dataset": "qm9", "split": "random 110000/10000/rest of 130831, "
            f"numpy default_rng({d.split_seed})", "subset_seed": d.subset_seed,
            "n_test": len(rows["test"])}  # fmt: skip
    return StudentData("properties", list(d.targets), [REPORT_UNITS[t] for t in d.targets],
                       parts, ids, numbers, info, {"train": train})  # fmt: skip


def collate(items: list[dict]) -> dict:
    """Items → a flat batch: ``z`` (N,), ``pos`` (N, 3) Å, ``batch`` (N,), ``n_molecules``;
    ``y`` (B, T) targets — for energy/force items ``y`` is (B, 1 + 3n): the energy and the
    flattened forces (one molecule size per batch); ``teacher`` (B, 768) when the items carry
    ED targets."""
    import torch

    z = torch.as_tensor(np.concatenate([it["z"] for it in items]))
    pos = torch.as_tensor(np.concatenate([it["pos"] for it in items]))
    counts = torch.as_tensor([len(it["z"]) for it in items])
    batch = torch.repeat_interleave(torch.arange(len(items)), counts)
    out = {"z": z, "pos": pos, "batch": batch, "n_molecules": len(items)}
    if "forces" in items[0]:
        y = np.stack([np.concatenate([it["y"], it["forces"].reshape(-1)]) for it in items])
        out["y"] = torch.as_tensor(y)
    elif "y" in items[0]:
        out["y"] = torch.as_tensor(np.stack([it["y"] for it in items]))
    if "teacher" in items[0]:
        out["teacher"] = torch.as_tensor(np.stack([it["teacher"] for it in items]))
    return out


# -- the model the training loop sees ------------------------------------------------------------
def _task_module(student, kind: str, head=None):
    """The student as the loop's ``model(batch)``: energy + flattened forces (B, 1 + 3n) or
    properties (B, T), followed by the (B, 768) ED prediction when the batch has teacher
    targets and a distillation head is given. Outputs leave out the per-element shifts (the
    items' targets are residuals, :func:`residual_items`)."""
    import torch

    class StudentTask(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.head = head

        def forward(self, b: dict) -> torch.Tensor:
            n = b["n_molecules"]
            if kind == "energy_forces":
                e, f, h = self.student.energy_and_forces(b["z"], b["pos"], b["batch"], n,
                                                         create_graph=self.training,
                                                         shifted=False)  # fmt: skip
                out = torch.cat([e[:, None], f.reshape(n, -1)], dim=1)
            else:
                out, h = self.student(b["z"], b["pos"], b["batch"], n, shifted=False)
            if self.head is not None and "teacher" in b:
                out = torch.cat([out, self.head(h)], dim=1)
            return out

    return StudentTask()


def residual_items(items: list[dict], student) -> list[dict]:
    """Items whose targets ``y`` have the student's per-element reference subtracted (in
    float64, then stored as float32: the residuals are small, so nothing is lost)."""
    import torch

    out = []
    for it in items:
        z = torch.as_tensor(it["z"])
        ref = student.reference(z.to(student.shift.device), torch.zeros_like(z), 1)
        y = np.asarray(it["y_raw"] if "y_raw" in it else it["y"], dtype=np.float64)
        out.append({**it, "y_raw": y, "y": (y - ref[0].cpu().numpy()).astype(np.float32)})
    return out


def _targets(b: dict):
    import torch

    return torch.cat([b["y"], b["teacher"]], dim=1) if "teacher" in b else b["y"]


def make_criterion(kind: str, width: int, *, energy_weight: float = 0.05,
                   force_weight: float = 0.95, target_std=None, weight: float = 0.0):  # fmt: skip
    """The loss on packed (B, width [+ 768]) predictions: the task loss on the first ``width``
    columns (rMD17: ``energy_weight``·L1(E) + ``force_weight``·L1(F) in kcal/mol and
    kcal/mol/Å; QM9: L1 of targets divided by ``target_std``) plus ``weight``·smooth-L1 on the
    ED columns when present."""
    import torch

    from rhoml.models.students.distill import ed_loss

    std = (
        None if target_std is None else torch.as_tensor(np.asarray(target_std), dtype=torch.float32)
    )

    def criterion(pred, true):
        p, t = pred[:, :width], true[:, :width]
        if kind == "energy_forces":
            loss = energy_weight * (p[:, 0] - t[:, 0]).abs().mean()
            loss = loss + force_weight * (p[:, 1:] - t[:, 1:]).abs().mean()
        else:
            loss = ((p - t) / std.to(p.device, p.dtype)).abs().mean()
        if pred.shape[1] > width:
            loss = loss + weight * ed_loss(pred[:, width:], true[:, width:])
        return loss

    return criterion


def make_metrics(kind: str, targets: list[str], width: int):
    from rhoml.train.metrics import regression_report

    def metrics(pred, true):
        p, t = np.asarray(pred)[:, :width], np.asarray(true)[:, :width]
        if kind == "energy_forces":
            return {"energy_mae": float(np.abs(p[:, 0] - t[:, 0]).mean()),
                    "force_mae": float(np.abs(p[:, 1:] - t[:, 1:]).mean()),
                    "energy_rmse": float(np.sqrt(((p[:, 0] - t[:, 0]) ** 2).mean())),
                    "force_rmse": float(np.sqrt(((p[:, 1:] - t[:, 1:]) ** 2).mean()))}  # fmt: skip
        return regression_report(p, t, targets)

    return metrics


def _model_params(model: dict, where: str) -> tuple[str, dict, str]:
    """``[model]`` → (student or preset name, checked parameters, readout)."""
    from rhoml.models.registry import check_model_section, model_class
    from rhoml.models.students.base import GeometryStudent

    params = dict(model)
    readout = params.pop("readout", "sum")
    if readout not in ("sum", "mean"):
        raise ConfigError(f"{where}: [model].readout must be 'sum' or 'mean', got {readout!r}")
    name = params.get("name", "schnet-small")
    if isinstance(name, str) and name in _known_models():
        if not issubclass(model_class(name), GeometryStudent):
            raise ConfigError(f"{where}: [model].name: {name!r} is not a geometry student")
    name, params, _ = check_model_section(params, where, "schnet-small")
    return name, params, readout


def _known_models() -> set[str]:
    from rhoml.models.registry import MODELS, PRESETS

    return set(MODELS) | set(PRESETS)


def _base_dir(where: str) -> Path | None:
    p = Path(where)
    return p.resolve().parent if p.is_file() else None


class StudentFamily:
    """Geometry students (plain or EDG-distilled): config sections, training, loading."""

    name = "student"
    sections: dict[str, type | None] = {
        "data": DataConfig,
        "model": None,
        "distill": None,
        "train": TrainConfig,
    }

    def check_config(self, sections: dict, where: str) -> None:
        """Check ``[model]`` and ``[distill]`` (in place: paths made absolute, ``lambda``
        required) and, for a distilled student, that the teacher covers every training molecule
        with features of the ED predictor's size — all before any training."""
        d: DataConfig = sections["data"]
        name, params, readout = _model_params(sections["model"], where)
        sections["model"] = {"name": name, "readout": readout, **params}
        distill = parse_distill(sections.get("distill"), where, _base_dir(where))
        if distill is not None:
            try:
                molecules = training_molecules(d)
            except RhomlError as exc:
                raise ConfigError(f"{where}: [data]: {exc}") from None
            teacher_targets(distill, molecules, where, d.dataset)
            table = {"lambda": distill.weight}
            for key in ("teacher_run", "features_store", "features", "ed_predictor"):
                if getattr(distill, key):
                    table[key] = getattr(distill, key)
            sections["distill"] = table
        else:
            sections["distill"] = {}
        t: TrainConfig = sections["train"]
        if d.dataset == "rmd17" and t.monitor == "val_loss":
            sections["train"] = dataclasses.replace(t, monitor="force_mae")

    # -- training ------------------------------------------------------------------------------
    def train(self, config: dict, run: RunFolder, *, progress: bool = True) -> dict:
        where = str(run.path)
        d: DataConfig = config["data"]
        distill = parse_distill(config.get("distill"), where, None)
        data = prepare_data(d)
        model_cfg = dict(config["model"])
        name, readout = model_cfg.pop("name"), model_cfg.pop("readout", "sum")
        return train_student(data, config["train"], run, model_name=name, model_params=model_cfg,
                             readout=readout, distill=distill, data_config=d, progress=progress,
                             config=config)  # fmt: skip

    # -- loading -------------------------------------------------------------------------------
    def load(self, run: RunFolder, device: str = "cpu") -> StudentPredictor:
        build = run.read_manifest()["build"]
        student = build_student(build)
        try:
            student.load_state_dict(run.load_weights(device))
        except RuntimeError:
            raise RhomlError(f"{run.weights_path}: weights do not match the manifest") from None
        cls = StudentPotential if build["kind"] == "energy_forces" else StudentPredictor
        return cls(student.to(device).eval(), build, device)


def build_student(build: dict):
    from rhoml.models.registry import build_model

    return build_model(build["model"], build["model_params"], n_outputs=len(build["targets"]),
                       readout=build["readout"])  # fmt: skip


def train_student(data: StudentData, train_cfg: TrainConfig, run: RunFolder, *,
                  model_name: str, model_params: dict, readout: str = "sum",
                  distill: DistillConfig | None = None, data_config: DataConfig | None = None,
                  progress: bool = True, config: dict | None = None) -> dict:  # fmt: skip
    """Train one student on ``data`` (EDG-distilled when ``distill`` is given), evaluate it on
    the test part at the best validation epoch, write the run folder. Returns the metrics."""
    import torch

    from rhoml.models.registry import build_model
    from rhoml.models.students.base import output_stats
    from rhoml.models.students.distill import EDDistillHead
    from rhoml.train.distributed import is_main_process
    from rhoml.train.loop import Objective, fit, predict, seed_everything

    where = str(run.path)
    d = data_config or DataConfig()
    kind = data.kind
    train_items = data.parts["train"]
    y_train = np.stack([it["y_raw"] for it in train_items])
    forces = [it["forces"] for it in train_items] if kind == "energy_forces" else None
    shift, scale = output_stats(data.numbers["train"], y_train, mean_readout=readout == "mean",
                                forces=forces)  # fmt: skip
    seed_everything(train_cfg.seed)
    student = build_model(model_name, model_params, n_outputs=len(data.targets), readout=readout)
    student.set_output_stats(shift, scale)
    train_items = residual_items(train_items, student)
    val_items = residual_items(data.parts["val"], student)
    test_items = residual_items(data.parts["test"], student)
    head, provenance = None, None
    if distill is not None:
        edp, ed_targets, provenance = teacher_targets(distill, data.molecules["train"], where,
                                                      d.dataset)  # fmt: skip
        head = EDDistillHead(student.representation_dim, edp)
        train_items = [{**it, "teacher": t} for it, t in zip(train_items, ed_targets, strict=True)]
    task = _task_module(student, kind, head)
    n_atoms = len(train_items[0]["z"])
    width = 1 + 3 * n_atoms if kind == "energy_forces" else len(data.targets)
    target_std = None
    if kind == "properties":
        target_std = y_train.std(0) if len(y_train) > 1 else np.ones(len(data.targets))
        target_std = np.where(target_std > 0, target_std, 1.0)
    criterion = make_criterion(kind, width, energy_weight=d.energy_weight,
                               force_weight=d.force_weight, target_std=target_std,
                               weight=distill.weight if distill else 0.0)  # fmt: skip
    metrics_fn = make_metrics(kind, data.targets, width)
    obj = Objective(_targets, criterion, metrics_fn)
    res = fit(task, train_items, val_items, obj, train_cfg, run.checkpoints(),
              collate_fn=collate, progress=progress)  # fmt: skip
    device = next(student.parameters()).device
    eval_bs = train_cfg.eval_batch_size or max(train_cfg.batch_size, 32)
    t0 = time.perf_counter()
    pred, true = predict(task, test_items, batch_size=eval_bs, device=device,
                         collate_fn=collate, targets=_targets)  # fmt: skip
    test_seconds = time.perf_counter() - t0
    best = res.history[res.best_epoch - 1] if res.best_epoch else {}
    metrics = {
        "test": metrics_fn(pred, true), "n_test": len(true), "n_train": len(train_items),
        "n_val": len(val_items), "best_epoch": res.best_epoch,
        "best_val": {k: v for k, v in best.items() if k not in ("epoch", "lr", "seconds")},
        "monitor": train_cfg.monitor, "epochs_run": res.epochs_run,
        "train_seconds": res.seconds, "train_samples_per_second": res.samples_per_second,
        "test_molecules_per_second": len(true) / test_seconds if test_seconds else None,
        "parameters": sum(p.numel() for p in student.parameters()), "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    if not is_main_process():
        return metrics
    elements = sorted({int(z) for zs in data.numbers["train"] for z in np.unique(zs)})
    build = {
        "model": model_name, "model_params": model_params, "readout": readout, "kind": kind,
        "targets": data.targets, "units": data.units, "elements": elements,
        "n_atoms": sorted({len(z) for z in data.numbers["train"]}),
        "dataset": data.info, "seed": train_cfg.seed,
        "distill": None if distill is None else {"lambda": distill.weight, **provenance},
    }  # fmt: skip
    if kind == "energy_forces":
        build["numbers"] = [int(z) for z in data.numbers["train"][0]]
    fingerprint = data_fingerprint([kind, *data.targets, *data.ids["train"], *data.ids["val"],
                                    *data.ids["test"], y_train])  # fmt: skip
    outputs = (
        {"energy": ENERGY_UNIT, "forces": FORCE_UNIT} if kind == "energy_forces"
        else dict(zip(data.targets, data.units, strict=True))
    )  # fmt: skip
    run.finish(
        StudentFamily.name, student.state_dict(),
        inputs={"positions": "angstrom", "numbers": "dimensionless"},
        outputs=outputs, build=build, metrics=metrics, data=fingerprint, config=config,
    )  # fmt: skip
    return metrics


# -- loaded models -------------------------------------------------------------------------------
@dataclass
class StudentPredictor:
    """A trained student predicting per-molecule properties (``outputs``: quantity → unit).
    ``dtype``: float32 (as trained) or float64 (:meth:`double`)."""

    model: Any
    build: dict
    device: str = "cpu"
    family: str = StudentFamily.name

    @property
    def outputs(self) -> dict[str, str]:
        return dict(zip(self.build["targets"], self.build["units"], strict=True))

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    def double(self):
        """A float64 copy of this predictor (this one is left as it is)."""
        import copy

        return type(self)(copy.deepcopy(self.model).double(), self.build, self.device)

    def check_molecule(self, molecule: Molecule) -> None:
        """One-line :class:`InputError` for elements the model never saw in training."""
        unknown = sorted({int(z) for z in molecule.numbers} - set(self.build["elements"]))
        if unknown:
            from rhoml.elements import symbol

            raise InputError(
                f"{molecule.id}: element(s) {', '.join(symbol(z) for z in unknown)} not in the "
                f"training data of this {self.family} model"
            )

    def _batch(self, molecules: Sequence[Molecule]) -> dict:
        import torch

        from rhoml.train.loop import to_device

        items = [{"z": np.asarray(m.numbers, dtype=np.int64),
                  "pos": np.asarray(m.positions, dtype=np.float64)} for m in molecules]  # fmt: skip
        b = collate(items)
        b["pos"] = b["pos"].to(self.dtype)
        return to_device(b, torch.device(self.device))

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False,
                batch_size: int = 64) -> list[dict]:  # fmt: skip
        import torch

        rows = []
        for m in molecules:
            self.check_molecule(m)
        for k in range(0, len(molecules), batch_size):
            chunk = list(molecules[k : k + batch_size])
            b = self._batch(chunk)
            with torch.no_grad():
                y, _ = self.model(b["z"], b["pos"], b["batch"], b["n_molecules"])
            y = y.cpu().numpy()
            names = self.build["targets"]
            for m, row in zip(chunk, y, strict=True):
                rows.append({"id": m.id, **{t: float(v) for t, v in zip(names, row, strict=True)}})
        return rows


@dataclass
class StudentPotential(StudentPredictor):
    """A student trained on energies and forces: a :class:`~rhoml.families.Potential`
    (energy kcal/mol, forces kcal/mol/Å = −∂E/∂r)."""

    potential_units: dict = field(
        default_factory=lambda: {"energy": ENERGY_UNIT, "forces": FORCE_UNIT}
    )

    @property
    def outputs(self) -> dict[str, str]:
        return {"energy": ENERGY_UNIT, "forces": FORCE_UNIT}

    def check_molecule(self, molecule: Molecule) -> None:
        """Refuse molecules with other elements or another atom count than the training set."""
        super().check_molecule(molecule)
        if molecule.n_atoms not in self.build["n_atoms"]:
            trained = ", ".join(map(str, self.build["n_atoms"]))
            raise InputError(
                f"{molecule.id}: {molecule.n_atoms} atoms; this {self.family} potential was "
                f"trained on molecules of {trained} atoms"
            )

    def _energy_forces(self, molecules: Sequence[Molecule]):
        b = self._batch(molecules)
        e, f, _ = self.model.energy_and_forces(b["z"], b["pos"], b["batch"], b["n_molecules"],
                                               create_graph=False)  # fmt: skip
        counts = np.cumsum([0] + [m.n_atoms for m in molecules])
        f = f.detach().cpu().numpy()
        return e.cpu().numpy(), [f[a:b_] for a, b_ in zip(counts[:-1], counts[1:], strict=True)]

    def compute(self, molecule: Molecule) -> dict[str, Any]:
        """``energy`` (kcal/mol, float) and ``forces`` (n_atoms, 3) kcal/mol/Å."""
        self.check_molecule(molecule)
        e, f = self._energy_forces([molecule])
        return {"energy": float(e[0]), "forces": f[0].astype(np.float64)}

    def predict(self, molecules: Sequence[Molecule], *, progress: bool = False,
                batch_size: int = 64) -> list[dict]:  # fmt: skip
        rows = []
        for m in molecules:
            self.check_molecule(m)
        for k in range(0, len(molecules), batch_size):
            chunk = list(molecules[k : k + batch_size])
            e, f = self._energy_forces(chunk)
            rows += [{"id": m.id, "energy": float(ee), "forces": ff.astype(np.float64)}
                     for m, ee, ff in zip(chunk, e, f, strict=True)]  # fmt: skip
        return rows

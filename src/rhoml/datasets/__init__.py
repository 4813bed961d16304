"""Data-set protocols: which molecules, which split, labels in which units, and their densities
and representations prepared into a store (QM9, PDBbind).

:class:`VoxelData` is what a protocol hands a voxel model: cached voxel tensors and targets for
the training pool (in learning-curve order), validation and test parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VoxelData:
    """Cached voxels ``voxels[part]`` (N, P, C, n, n, n) float16 and targets ``targets[part]``
    (N, T) in ``target_units`` for the parts ``train_pool``, ``val``, ``test``; ``info``
    describes the split, engine and grid."""

    name: str
    target_names: list[str]
    target_units: list[str]
    channel_names: list[str]
    voxels: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    info: dict = field(default_factory=dict)


#: columns of ``dropped.csv``: the molecule or complex, the preparation stage that failed
#: (``read``, ``label``, ``box``, ``pocket``, ``density``, ``voxels``) and the reason
DROPPED_COLUMNS = ("id", "stage", "reason")


def drop(dropped: list[dict] | None, id: str, stage: str, reason) -> None:  # noqa: A002
    """Append one record ``{id, stage, reason}`` (reason on one line) to ``dropped``."""
    if dropped is not None:
        dropped.append({"id": str(id), "stage": stage, "reason": " ".join(str(reason).split())})


def dropped_summary(dropped: list[dict]) -> dict:
    """``{"n": count, "by_stage": {stage: count}}`` of drop records."""
    by_stage: dict[str, int] = {}
    for row in dropped:
        by_stage[row["stage"]] = by_stage.get(row["stage"], 0) + 1
    return {"n": len(dropped), "by_stage": by_stage}


def write_dropped(path, dropped: list[dict]) -> None:
    """Write drop records as CSV (header ``id,stage,reason``; a header alone when nothing was
    dropped)."""
    import csv
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=DROPPED_COLUMNS)
        w.writeheader()
        for row in dropped:
            w.writerow({k: row.get(k, "") for k in DROPPED_COLUMNS})


def read_dropped(path) -> list[dict]:
    """Drop records written by :func:`write_dropped`."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))

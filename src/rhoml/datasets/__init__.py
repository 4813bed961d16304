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

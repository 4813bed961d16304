"""Electron-density point clouds: points where ρ is significant, with their density values.

EDBench (the EDG paper's data set) feeds PointNet-style models the cube
grid as a point cloud (points with ρ ≥ a threshold, then 1,024 or 2,048 of them by farthest-point
sampling), each point carrying (x, y, z, ρ). Here the candidates are the cells of a regular grid
(step ``spacing`` Å) whose centre has ρ > ``threshold``; ``n`` cells are drawn without
replacement (with replacement only when fewer than ``n`` exist) from a seeded generator, either
uniformly (``weighting="uniform"``, the thresholded-cube cloud) or with probability ∝ ρ
(``"density"``, points distributed like the electrons, which for all-electron densities crowds
them near the nuclei). Each point is jittered uniformly inside its cell, and its density is then
evaluated exactly from the analytic density at the jittered position (so a few points may fall
slightly below the threshold). Points are sorted by cell index, so the output is deterministic
for a given seed and molecule.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from rhoml.density.on_grid import evaluate_on_grid
from rhoml.errors import RhomlError
from rhoml.grid import Grid
from rhoml.store import schema

#: Store array names (declared in :mod:`rhoml.store.schema`): positions (n, 3) Å and
#: densities (n,) e/Bohr³.
POINTS_XYZ = schema.POINTS_XYZ
POINTS_DENSITY = schema.POINTS_DENSITY
WEIGHTINGS = ("uniform", "density")


@dataclass(frozen=True)
class PointCloud:
    """``positions`` (n, 3) float32 Å, ``density`` (n,) float32 e/Bohr³, and how they were drawn
    (``threshold`` e/Bohr³, ``candidates``: grid cells above it)."""

    positions: np.ndarray
    density: np.ndarray
    threshold: float
    candidates: int

    def as_features(self) -> np.ndarray:
        """(n, 4) float32 rows (x, y, z in Å, ρ in e/Bohr³), the EDBench point layout."""
        return np.concatenate([self.positions, self.density[:, None]], axis=1)


class NoSignificantDensityError(RhomlError):
    """No grid point has a density above the threshold."""


def sample_points(
    density, n: int = 2048, *, threshold: float = 1e-3, spacing: float = 0.2,
    margin: float = 3.0, weighting: str = "uniform", seed: int = 0,
) -> PointCloud:  # fmt: skip
    """Draw ``n`` points where ``density`` (a :class:`~rhoml.density.base.Density`) exceeds
    ``threshold`` (e/Bohr³), from a grid of step ``spacing`` Å with ``margin`` Å around the atoms.

    The generator is seeded by ``seed`` and the molecule id, so every molecule gets its own but
    reproducible points."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    mol = density.molecule
    grid = Grid.around(mol, spacing=spacing, margin=margin)
    rho = evaluate_on_grid(density, grid, "density").reshape(-1)
    cand = np.flatnonzero(rho > threshold)
    if len(cand) == 0:
        raise NoSignificantDensityError(
            f"{mol.id}: no grid point has a density above {threshold} e/Bohr^3"
        )
    rng = np.random.default_rng([int(seed), zlib.crc32(mol.id.encode())])
    p = None
    if weighting == "density":
        p = rho[cand] / rho[cand].sum()
    replace = len(cand) < n
    chosen = np.sort(rng.choice(cand, size=n, replace=replace, p=p))
    idx = np.stack(np.unravel_index(chosen, grid.shape), axis=1).astype(float)
    jitter = rng.uniform(-0.5, 0.5, size=(n, 3))
    pts = grid.origin + (idx + jitter) @ grid.axes
    values = density.evaluate(pts)
    return PointCloud(
        pts.astype(np.float32), values.astype(np.float32), float(threshold), int(len(cand))
    )

"""Regular 3D grids and blockwise evaluation of densities on them.

A :class:`Grid` is an origin and three voxel step vectors (rows of ``axes``) in Å, with a shape
(nx, ny, nz). Point (i, j, k) sits at ``origin + i*axes[0] + j*axes[1] + k*axes[2]``; arrays
on a grid are C-ordered with x slowest, as in Gaussian cube files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rhoml.molecule import Molecule

QUANTITIES = ("density", "gradient", "gradient_norm", "esp")
QUANTITY_UNITS = {
    "density": "e/bohr^3",
    "gradient": "e/bohr^4",
    "gradient_norm": "e/bohr^4",
    "esp": "hartree/e",
}


@dataclass(frozen=True)
class Grid:
    """A regular grid. ``origin`` (3,) Å, ``axes`` (3, 3) voxel step vectors in Å (rows),
    ``shape`` (nx, ny, nz)."""

    origin: np.ndarray
    axes: np.ndarray
    shape: tuple[int, int, int]
    unit: str = "angstrom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", np.asarray(self.origin, dtype=float).reshape(3))
        axes = np.asarray(self.axes, dtype=float)
        if axes.shape == (3,):
            axes = np.diag(axes)
        object.__setattr__(self, "axes", axes.reshape(3, 3))
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"grid shape must be three positive integers, got {self.shape}")
        if self.unit != "angstrom":
            raise ValueError("grids are defined in Å; convert with rhoml.units first")

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def around(cls, molecule: Molecule, spacing: float = 0.2, margin: float = 4.0) -> Grid:
        """Axis-aligned grid over the atoms plus ``margin`` Å per side, step ``spacing`` Å."""
        lo = molecule.positions.min(axis=0) - margin
        hi = molecule.positions.max(axis=0) + margin
        shape = np.floor((hi - lo) / spacing).astype(int) + 1
        return cls(lo, np.eye(3) * spacing, tuple(shape))

    @classmethod
    def cube(cls, center, size: float, spacing: float) -> Grid:
        """A cubic axis-aligned box of edge ``size`` Å centred on ``center`` (3,) Å."""
        n = int(round(size / spacing))
        origin = np.asarray(center, dtype=float) - spacing * (n - 1) / 2.0
        return cls(origin, np.eye(3) * spacing, (n, n, n))

    # -- geometry ----------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    @property
    def spacing(self) -> np.ndarray:
        """Length of each voxel step vector, (3,) Å."""
        return np.linalg.norm(self.axes, axis=1)

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel in Å³."""
        return float(abs(np.linalg.det(self.axes)))

    def points(self, ix=None, iy=None, iz=None) -> np.ndarray:
        """Cartesian points (N, 3) in Å of the whole grid or of index ranges, C order."""
        ranges = [
            np.arange(n) if r is None else np.arange(n)[r]
            for n, r in zip(self.shape, (ix, iy, iz), strict=True)
        ]
        i, j, k = np.meshgrid(*ranges, indexing="ij")
        frac = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(float)
        return self.origin + frac @ self.axes

    def fractional(self, points) -> np.ndarray:
        """Fractional grid indices (N, 3) of Cartesian points in Å."""
        return (np.asarray(points, dtype=float) - self.origin) @ np.linalg.inv(self.axes)

    def tiles(self, tile: int = 16) -> Iterator[tuple[tuple[slice, slice, slice], np.ndarray]]:
        """Compact sub-boxes of at most ``tile``³ points: yields (index slices, points (M, 3) Å)."""
        nx, ny, nz = self.shape
        for x0 in range(0, nx, tile):
            for y0 in range(0, ny, tile):
                for z0 in range(0, nz, tile):
                    sl = (
                        slice(x0, min(nx, x0 + tile)),
                        slice(y0, min(ny, y0 + tile)),
                        slice(z0, min(nz, z0 + tile)),
                    )
                    yield sl, self.points(*sl)

    def to_dict(self) -> dict:
        return {
            "origin": self.origin.tolist(),
            "axes": self.axes.tolist(),
            "shape": list(self.shape),
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        return cls(d["origin"], d["axes"], tuple(d["shape"]), d.get("unit", "angstrom"))

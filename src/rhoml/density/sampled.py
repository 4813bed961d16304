"""Densities known only on a grid: cube files and experimental CCP4/MRC maps.

A :class:`SampledDensity` interpolates (trilinear) at arbitrary points, so file densities plug
into the same consumers as analytic ones. Moments are not available from a sample (an undersampled
core cusp makes grid sums wrong), so ``electron_count``/``dipole`` are deliberately
absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from rhoml.grid import Grid
from rhoml.molecule import Molecule


@dataclass
class SampledDensity:
    """Values (``grid.shape``) on a :class:`Grid`, unit ``unit`` (e/bohr^3 for cube densities;
    map units for experimental maps, often arbitrary or sigma-scaled)."""

    grid: Grid
    values: np.ndarray
    unit: str
    molecule: Molecule | None = None
    engine: str = "file"
    level: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    outside: float = 0.0

    kind = "sampled"

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.shape != self.grid.shape:
            raise ValueError(f"values shape {self.values.shape} != grid shape {self.grid.shape}")

    def evaluate(self, points, *, gradient: bool = False, block: int = 0) -> np.ndarray:
        """Trilinear interpolation at points (N, 3) Å; ``outside`` beyond the grid.
        With ``gradient`` returns (N, 4) with a finite-difference gradient per Å converted
        to per Bohr."""
        frac = self.grid.fractional(points).T
        vals = ndimage.map_coordinates(
            self.values, frac, order=1, mode="constant", cval=self.outside
        )
        if not gradient:
            return vals
        from rhoml.units import BOHR_IN_ANGSTROM

        grads = np.gradient(self.values, *[1.0] * 3)  # per index step
        inv = np.linalg.inv(self.grid.axes)  # d(frac)/d(cart)
        per_index = np.stack(
            [ndimage.map_coordinates(g, frac, order=1, mode="constant", cval=0.0) for g in grads],
            axis=1,
        )
        cart = per_index @ inv.T * BOHR_IN_ANGSTROM  # per Å → per Bohr
        return np.concatenate([vals[:, None], cart], axis=1)

    def gradient_norm(self, points, *, block: int = 0) -> np.ndarray:
        return np.linalg.norm(self.evaluate(points, gradient=True)[:, 1:], axis=1)

    def esp(self, points, *, block: int = 0):
        raise NotImplementedError("a sampled density has no analytic ESP; use an engine density")

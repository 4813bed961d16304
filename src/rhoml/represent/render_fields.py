"""The renderer's inputs: ρ on a regular grid and the ESP on a narrow band around the isosurface.

Per molecule, ρ is evaluated once on an axis-aligned grid (step ``spacing`` Å) with the
foundation's separable evaluator; the ESP, which costs far more per point, is evaluated with
``Density.esp`` only at the points of a coarser grid (step ``esp_stride * spacing``) whose cells
contain part of the isosurface (a narrow band), and left at 0 elsewhere. Every surface point the
renderer shades lies in such a cell, so trilinear interpolation of the band is the same as
interpolating a full grid of that step.

Interpolating the electronic potential V_nuc − ESP instead and adding the nuclear term exactly
was tried and was not more accurate at the ρ = 0.05 surface (see benchmarks/render_accuracy.py).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from rhoml.density.on_grid import evaluate_on_grid
from rhoml.grid import Grid
from rhoml.molecule import Molecule


class NoIsosurfaceWarning(UserWarning):
    """The density never reaches the isovalue: the image shows no surface."""


class IsosurfaceClippedWarning(UserWarning):
    """The isosurface reaches the grid boundary (increase ``margin``)."""


@dataclass
class DensityFields:
    """ρ and ESP of one molecule on a regular axis-aligned grid.

    Attributes:
        molecule: the geometry (Å).
        origin: (3,) Å, position of grid point (0, 0, 0).
        spacing: grid step in Å (the same on the three axes).
        rho: (nx, ny, nz) float32 density in e/Bohr³; x slowest.
        esp: (mx, my, mz) float32 ESP in Hartree/e on every ``esp_stride``-th grid point
            (m = (n - 1) / esp_stride + 1), 0 where not evaluated (off the band).
        esp_stride: step of the ESP grid in units of ``spacing``.
        isovalue: the isosurface level in e/Bohr³ the band was built for.
        seconds: timing of the evaluation steps ('density', 'esp') and ``esp_points``.
    """

    molecule: Molecule
    origin: np.ndarray
    spacing: float
    rho: np.ndarray
    esp: np.ndarray
    esp_stride: int
    isovalue: float
    seconds: dict = field(default_factory=dict)

    @property
    def grid(self) -> Grid:
        """The density grid."""
        return Grid(self.origin, np.eye(3) * self.spacing, self.rho.shape)

    @property
    def esp_grid(self) -> Grid:
        """The ESP grid (every ``esp_stride``-th point of :attr:`grid`)."""
        return Grid(self.origin, np.eye(3) * self.spacing * self.esp_stride, self.esp.shape)

    def has_surface(self) -> bool:
        return bool(self.rho.max() >= self.isovalue)


def render_grid(molecule: Molecule, spacing: float, margin: float, stride: int = 1) -> Grid:
    """Axis-aligned grid around the atoms (``margin`` Å per side, step ``spacing`` Å), centred
    on the atoms' bounding box, with (n - 1) a multiple of ``stride`` on every axis."""
    lo = molecule.positions.min(axis=0) - margin
    hi = molecule.positions.max(axis=0) + margin
    n = np.ceil((hi - lo) / spacing).astype(int) + 1
    n = ((n - 1 + stride - 1) // stride) * stride + 1
    centre = 0.5 * (lo + hi)
    return Grid(centre - spacing * (n - 1) / 2.0, np.eye(3) * spacing, tuple(n))


def surface_band(rho: np.ndarray, isovalue: float, stride: int) -> np.ndarray:
    """Points of the ``stride``-coarsened grid (m, m', m'') bool whose coarse cells contain a
    fine cell with corners on both sides of ``isovalue``."""
    inside = rho >= isovalue
    nx, ny, nz = inside.shape
    corners = [
        inside[i : nx - 1 + i, j : ny - 1 + j, k : nz - 1 + k]
        for i in (0, 1) for j in (0, 1) for k in (0, 1)
    ]  # fmt: skip
    any_in = np.logical_or.reduce(corners)
    all_in = np.logical_and.reduce(corners)
    change = any_in & ~all_in  # fine cells (n-1, ...)
    m = tuple(s // stride for s in change.shape)
    coarse = change.reshape(m[0], stride, m[1], stride, m[2], stride).any(axis=(1, 3, 5))
    band = np.zeros(tuple(s + 1 for s in m), dtype=bool)
    for i in (0, 1):
        for j in (0, 1):
            for k in (0, 1):
                band[i : i + m[0], j : j + m[1], k : k + m[2]] |= coarse
    return band


def prepare_fields(
    density, *, isovalue: float = 0.05, spacing: float = 0.2, esp_stride: int = 1,
    margin: float = 3.0, with_esp: bool = True, esp_density=None,
) -> DensityFields:  # fmt: skip
    """Evaluate ρ (e/Bohr³) on a grid and the ESP (Hartree/e) on its isosurface band.

    ``density`` is a :class:`~rhoml.density.base.Density` (any engine); ``spacing`` and
    ``margin`` in Å. ``esp_density``: take the ESP from another density of the same molecule,
    e.g. its Coulomb-metric fit (:func:`rhoml.density.fit.fit_density`), whose ESP costs ~20×
    less per point than the density matrix's and differs by ~1e-3 Hartree/e (QM9, B3LYP,
    def2-universal-jkfit). Warns (:class:`NoIsosurfaceWarning`) when ρ never reaches
    ``isovalue`` and (:class:`IsosurfaceClippedWarning`) when the isosurface touches the grid
    boundary."""
    mol = density.molecule
    esp_source = density if esp_density is None else esp_density
    if esp_density is not None and not (
        np.array_equal(esp_density.molecule.numbers, mol.numbers)
        and np.allclose(esp_density.molecule.positions, mol.positions, atol=1e-6)
    ):
        raise ValueError(f"{mol.id}: esp_density is for another molecule or geometry")
    grid = render_grid(mol, spacing, margin, esp_stride)
    t0 = time.perf_counter()
    rho = np.asarray(evaluate_on_grid(density, grid, "density"), dtype=np.float32)
    t1 = time.perf_counter()
    m = tuple((n - 1) // esp_stride + 1 for n in grid.shape)
    esp = np.zeros(m, dtype=np.float32)
    n_esp = 0
    if rho.max() < isovalue:
        warnings.warn(
            f"{mol.id}: density never reaches the isovalue {isovalue} e/Bohr^3 "
            f"(max {float(rho.max()):.3g}); the image will show no isosurface",
            NoIsosurfaceWarning,
            stacklevel=2,
        )
    else:
        faces = [rho[0], rho[-1], rho[:, 0], rho[:, -1], rho[:, :, 0], rho[:, :, -1]]
        if max(float(f.max()) for f in faces) >= isovalue:
            warnings.warn(
                f"{mol.id}: the isosurface at {isovalue} e/Bohr^3 reaches the grid boundary "
                f"(margin {margin} Å); it is clipped",
                IsosurfaceClippedWarning,
                stacklevel=2,
            )
        if with_esp:
            band = surface_band(rho, isovalue, esp_stride)
            idx = np.argwhere(band)
            pts = grid.origin + idx * (spacing * esp_stride)
            esp[band] = np.asarray(esp_source.esp(pts), dtype=np.float32)
            n_esp = len(pts)
    t2 = time.perf_counter()
    return DensityFields(
        mol, grid.origin, float(spacing), rho, esp, int(esp_stride), float(isovalue),
        {"density": t1 - t0, "esp": t2 - t1, "esp_points": n_esp},
    )  # fmt: skip

"""The renderer's inputs: ρ on a regular grid and the ESP on a narrow band around the isosurface.

Per molecule, ρ is needed on an axis-aligned grid (step ``spacing`` Å) and the ESP only at the
points of a grid of step ``esp_stride * spacing`` whose cells contain part of the isosurface (a
narrow band; 0 elsewhere). Every surface point the renderer shades lies in such a cell, so
trilinear interpolation of the band is the same as interpolating a full grid of that step.

Two ways to get each (:func:`prepare_fields`' ``rho_eval`` and ``esp_eval``; the renderer's
``fields_for(..., grids="fast")``, its default, uses "band" and "fit", ``grids="exact"`` "full"
and "exact"):

* ρ ``"full"``: the separable evaluator on every grid point. ``"band"``: the separable
  evaluator on the grid of twice the step, ln ρ interpolated trilinearly to the full grid, and ρ
  evaluated exactly at every grid point of the coarse cells the isosurface crosses and their
  neighbours (about a tenth of the grid). Everything the renderer reads near the surface (the
  crossings, ∇ ln ρ by central differences, the ESP band) is then exact; far from the surface
  only the sign of ln(ρ/iso) matters, which the interpolation keeps. A surface feature that
  crosses no coarse cell corner would be missed; at 0.4 Å none appeared on QM9 molecules.
* ESP ``"exact"``: ``Density.esp`` (three-centre integrals per point, ~0.1 ms per point in the
  xTB basis). ``"fit"``: the potential of a Coulomb-metric fit of the density onto atom- and
  bond-centred Gaussians (:mod:`rhoml.density.esp_fit`), ~5e-4 Hartree/e median and < 4e-3 max
  from the exact ESP on QM9 surfaces (xTB), about 10 times cheaper per molecule.

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


def band_density(density, grid: Grid, isovalue: float) -> np.ndarray:
    """ρ (e/Bohr³, float32, ``grid.shape``) exact near the isosurface, interpolated elsewhere
    (the ``"band"`` mode in the module docstring); ``grid`` axis-aligned."""
    from rhoml.density.evaluate import evaluate_density

    shape = np.array(grid.shape)
    step = np.diag(grid.axes)
    m = shape // 2 + 1  # coarse points: the fine grid of 2m − 1 >= n points is cropped to n
    coarse = Grid(grid.origin, np.diag(2.0 * step), tuple(int(x) for x in m))
    from rhoml.density.on_grid import evaluate_on_grid

    lnc = np.log(np.maximum(evaluate_on_grid(density, coarse, "density"), 1e-30) / isovalue)
    inside = lnc >= 0.0
    nx, ny, nz = inside.shape
    corners = [inside[i : nx - 1 + i, j : ny - 1 + j, k : nz - 1 + k]
               for i in (0, 1) for j in (0, 1) for k in (0, 1)]  # fmt: skip
    cells = np.logical_or.reduce(corners) & ~np.logical_and.reduce(corners)
    grown = cells.copy()  # the crossed coarse cells and their 26 neighbours
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        step_grown = grown.copy()
        step_grown[tuple(lo)] |= grown[tuple(hi)]
        step_grown[tuple(hi)] |= grown[tuple(lo)]
        grown = step_grown
    full = tuple(int(2 * x - 1) for x in m)
    near = np.zeros(full, dtype=bool)  # fine points of (closed) grown coarse cells
    for i in (0, 1, 2):
        for j in (0, 1, 2):
            for k in (0, 1, 2):
                near[i : i + 2 * (nx - 1) : 2, j : j + 2 * (ny - 1) : 2,
                     k : k + 2 * (nz - 1) : 2] |= grown  # fmt: skip
    crop = tuple(slice(0, int(n)) for n in shape)
    near = near[crop]
    rho = (np.exp(_upsample2(lnc)[crop]) * isovalue).astype(np.float32)
    idx = np.argwhere(near)
    if len(idx):
        # grid points in C order are already spatially coherent: no space-filling-curve sort
        rho[near] = evaluate_density(density, grid.origin + idx * step, reorder=False)
    return rho


def _upsample2(c: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of (m, m', m'') onto the grid of half the step (2m − 1, ...)."""
    for axis in range(3):
        shape = list(c.shape)
        shape[axis] = 2 * shape[axis] - 1
        out = np.empty(shape, dtype=c.dtype)
        even, odd, a, b = ([slice(None)] * 3 for _ in range(4))
        even[axis], odd[axis] = slice(0, None, 2), slice(1, None, 2)
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        out[tuple(even)] = c
        out[tuple(odd)] = 0.5 * (c[tuple(a)] + c[tuple(b)])
        c = out
    return c


RHO_EVALS = ("band", "full")
ESP_EVALS = ("fit", "exact")


def prepare_fields(
    density, *, isovalue: float = 0.05, spacing: float = 0.2, esp_stride: int = 1,
    margin: float = 3.0, with_esp: bool = True, esp_density=None, rho_eval: str = "full",
    esp_eval: str = "exact",
) -> DensityFields:  # fmt: skip
    """Evaluate ρ (e/Bohr³) on a grid and the ESP (Hartree/e) on its isosurface band.

    ``rho_eval`` ('full' or 'band') and ``esp_eval`` ('exact' or 'fit'): how, see the module
    docstring (the defaults are the exact ones; the renderer's ``fields_for`` defaults to
    'band' and 'fit').

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
    if rho_eval not in RHO_EVALS or esp_eval not in ESP_EVALS:
        raise ValueError(f"rho_eval must be one of {RHO_EVALS} and esp_eval one of {ESP_EVALS}")
    grid = render_grid(mol, spacing, margin, esp_stride)
    t0 = time.perf_counter()
    if rho_eval == "full":
        rho = np.asarray(evaluate_on_grid(density, grid, "density"), dtype=np.float32)
    else:
        rho = band_density(density, grid, isovalue)
    t1 = time.perf_counter()
    t_fit = 0.0
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
            potential = esp_source.esp
            if esp_eval == "fit":
                from rhoml.density.esp_fit import FitTooLargeError, fit_esp

                try:
                    potential = fit_esp(esp_source)
                except FitTooLargeError as exc:  # large systems: exact ESP, bounded memory
                    warnings.warn(f"{exc}: exact ESP on the band instead", stacklevel=2)
                t_fit = time.perf_counter() - t1
            esp[band] = np.asarray(potential(pts), dtype=np.float32)
            n_esp = len(pts)
    t2 = time.perf_counter()
    return DensityFields(
        mol, grid.origin, float(spacing), rho, esp, int(esp_stride), float(isovalue),
        {"density": t1 - t0, "esp": t2 - t1, "esp_fit": t_fit, "esp_points": n_esp},
    )  # fmt: skip

"""Evaluating a density's quantities (ρ, ∇ρ, |∇ρ|, ESP) on a :class:`~rhoml.grid.Grid`."""

from __future__ import annotations

import numpy as np

from rhoml.grid import QUANTITIES, Grid

__all__ = ["evaluate_on_grid"]


def evaluate_on_grid(density, grid: Grid, quantity: str = "density", *, block: int = 14336):
    """Evaluate ``quantity`` of a density (anything with ``evaluate``/``esp``) on ``grid``.

    Returns an array of shape ``grid.shape`` (``grid.shape + (3,)`` for ``gradient``), in the
    unit ``QUANTITY_UNITS[quantity]``. The density's evaluator orders the points spatially and
    works in blocks of ``block`` points, so memory stays bounded.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose from {', '.join(QUANTITIES)}")
    if quantity == "density" and _separable(density, grid):
        from rhoml.density.regular_grid import evaluate_on_regular_grid

        return evaluate_on_regular_grid(density, grid)
    pts = grid.points()
    if quantity == "density":
        vals = density.evaluate(pts, block=block)
    elif quantity == "esp":
        vals = density.esp(pts)
    else:
        g = density.evaluate(pts, gradient=True, block=block)[:, 1:]
        vals = g if quantity == "gradient" else np.linalg.norm(g, axis=1)
    return vals.reshape(grid.shape + ((3,) if quantity == "gradient" else ()))


def _separable(density, grid: Grid) -> bool:
    """Gaussian-basis density on an axis-aligned grid: use the separable evaluator."""
    axes = grid.axes
    return hasattr(density, "basis") and bool(np.allclose(axes, np.diag(np.diag(axes))))

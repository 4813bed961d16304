"""CCP4/MRC maps written with gemmi from an analytic function: read back and resampled onto a
model grid with a different origin and spacing, the values match the function within the
trilinear interpolation error (non-zero start/origin, permuted axes, a monoclinic cell)."""

from __future__ import annotations

import numpy as np
import pytest

gemmi = pytest.importorskip("gemmi")

from rhoml.density.file import load_map_density  # noqa: E402
from rhoml.grid import Grid  # noqa: E402
from rhoml.io.ccp4 import read_map, write_map  # noqa: E402
from rhoml.units import BOHR_IN_ANGSTROM  # noqa: E402

CENTRE = np.array([3.0, -1.5, 2.0])  # Å


def analytic(points: np.ndarray) -> np.ndarray:
    """A smooth test density (two Gaussians, widths 1.1 and 0.8 Å), values (N,)."""
    d1 = ((points - CENTRE) ** 2).sum(-1)
    d2 = ((points - CENTRE - [1.0, 0.5, -0.7]) ** 2).sum(-1)
    return np.exp(-d1 / (2 * 1.1**2)) + 0.5 * np.exp(-d2 / (2 * 0.8**2))


def analytic_gradient(points: np.ndarray) -> np.ndarray:
    """∇ of :func:`analytic`, (N, 3) per Å."""
    c2 = CENTRE + [1.0, 0.5, -0.7]
    d1, d2 = points - CENTRE, points - c2
    g1 = np.exp(-(d1**2).sum(-1) / (2 * 1.1**2))[:, None] * -d1 / 1.1**2
    g2 = 0.5 * np.exp(-(d2**2).sum(-1) / (2 * 0.8**2))[:, None] * -d2 / 0.8**2
    return g1 + g2


def _write_raw(path, cell, sampling, start_xyz, order, *, origin=None) -> None:
    """A map whose file axes are ``order`` (MAPC/MAPR/MAPS, 1-based x/y/z), start indices
    ``start_xyz`` and sampling (MX, MY, MZ) of a unit cell (a, b, c, α, β, γ), filled with
    :func:`analytic` at the grid points (written through gemmi's CCP4 writer)."""
    uc = gemmi.UnitCell(*cell)
    orth = np.array(uc.orth.mat.tolist())
    steps = (orth / np.asarray(sampling, float)[None, :]).T  # rows: x, y, z index steps
    n_xyz = (28, 26, 30)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in n_xyz], indexing="ij"), -1).reshape(-1, 3)
    base = np.zeros(3) if origin is not None else np.asarray(start_xyz, float) @ steps
    if origin is not None:
        base = np.asarray(origin, float)
    vals = analytic(base + idx @ steps).reshape(n_xyz)
    axes = [o - 1 for o in order]  # file axis k is xyz axis axes[k]
    data = np.transpose(vals, axes)  # [col, row, sec]
    m = gemmi.Ccp4Map()
    m.grid = gemmi.FloatGrid(np.ascontiguousarray(data, dtype=np.float32))
    m.grid.unit_cell.set(*cell)
    m.grid.spacegroup = gemmi.SpaceGroup("P1")
    m.update_ccp4_header()
    for k in range(3):
        m.set_header_i32(5 + k, int(start_xyz[axes[k]]))
        m.set_header_i32(8 + k, int(sampling[k]))
        m.set_header_i32(17 + k, int(order[k]))
    if origin is not None:
        for k in range(3):
            m.set_header_float(50 + k, float(origin[k]))
    m.write_ccp4_map(str(path))


def _model_points(spacing: float = 0.37, n: int = 9) -> np.ndarray:
    """Points of a small cubic model grid (spacing differing from the map's) near the centre."""
    g = Grid.cube(CENTRE + [0.2, -0.1, 0.15], (n - 1) * spacing, spacing)
    return g.points()


@pytest.mark.parametrize(
    ("suffix", "cell", "start", "order", "origin"),
    [
        ("ccp4", (7.0, 6.0, 8.0, 90, 90, 90), (-3, -19, -5), (1, 2, 3), None),  # X-ray style
        ("mrc", (7.0, 6.0, 8.0, 90, 90, 90), (0, 0, 0), (1, 2, 3), (-1.0, -5.7, -2.0)),  # EM
        ("ccp4", (7.0, 6.0, 8.0, 90, 90, 90), (-3, -19, -5), (3, 1, 2), None),  # permuted
        ("ccp4", (7.0, 6.0, 8.0, 90, 104, 90), (-2, -19, -5), (2, 3, 1), None),  # monoclinic
    ],
)
def test_map_resampled_matches_function(tmp_path, suffix, cell, start, order, origin):
    path = tmp_path / f"m.{suffix}"
    sampling = (20, 20, 20)
    _write_raw(path, cell, sampling, start, order, origin=origin)
    grid, values = read_map(path)
    assert values.shape == (28, 26, 30)
    # the stored grid points carry the function values (exact up to float32)
    np.testing.assert_allclose(values.ravel(), analytic(grid.points()), atol=1e-6)
    d = load_map_density(path)
    pts = _model_points()
    got = d.evaluate(pts)
    # trilinear error bound ~ h²/8·|f''|max with h ≈ 0.4 Å, |f''| ≲ 1/σ² ≈ 1.6 Å⁻²
    np.testing.assert_allclose(got, analytic(pts), atol=0.05)
    assert np.abs(got - analytic(pts)).mean() < 0.01
    # the gradient (central differences along the, possibly skewed, map axes; per Bohr) matches
    # within the difference error h²/(6σ²) ≈ 4-5 % at h = 0.3-0.4 Å, σ = 0.8 Å (measured 10 %)
    grad = d.evaluate(pts, gradient=True)[:, 1:]
    want = analytic_gradient(pts) * BOHR_IN_ANGSTROM
    assert np.abs(grad - want).max() < 0.15 * np.abs(want).max()
    assert np.corrcoef(grad.ravel(), want.ravel())[0, 1] > 0.999
    # a broken reader (origin ignored) would be far off: the check can fail
    shifted = analytic(pts + np.array([0.5, 0.0, 0.0]))
    assert np.abs(got - shifted).max() > 0.05


def test_write_map_keeps_origin(tmp_path):
    g = Grid(np.array([-2.0, 1.0, 0.5]), np.diag([0.3, 0.25, 0.35]), (20, 24, 18))
    vals = analytic(g.points()).reshape(g.shape)
    write_map(tmp_path / "w.mrc", g, vals)
    grid, back = read_map(tmp_path / "w.mrc")
    np.testing.assert_allclose(grid.origin, g.origin, atol=1e-5)
    np.testing.assert_allclose(grid.axes, g.axes, atol=1e-6)
    np.testing.assert_allclose(back, vals, atol=1e-6)

"""Cube and CCP4 round trips, and the sampled-density interpolator."""

import numpy as np
import pytest

from rhoml.density.file import load_cube_density, load_map_density
from rhoml.density.sampled import SampledDensity
from rhoml.errors import InputError
from rhoml.grid import Grid
from rhoml.io.ccp4 import write_map
from rhoml.io.cube import read_cube, write_cube


def test_cube_write_read_round_trip(tmp_path, water):
    g = Grid(np.array([-1.0, -2.0, -1.5]), np.eye(3) * 0.3, (7, 9, 8))
    vals = np.random.default_rng(0).uniform(1e-6, 2.0, size=g.shape)
    write_cube(tmp_path / "w.cube", g, vals, water, "water test")
    mol, g2, v2 = read_cube(tmp_path / "w.cube")
    np.testing.assert_allclose(v2, vals, rtol=1e-5)
    np.testing.assert_allclose(g2.origin, g.origin, atol=1e-6)
    np.testing.assert_allclose(g2.axes, g.axes, atol=1e-6)
    np.testing.assert_array_equal(mol.numbers, water.numbers)
    np.testing.assert_allclose(mol.positions, water.positions, atol=1e-6)


def test_truncated_cube_is_an_input_error(tmp_path, water):
    g = Grid(np.zeros(3), np.eye(3) * 0.3, (4, 4, 4))
    p = write_cube(tmp_path / "t.cube", g, np.ones(g.shape), water)
    text = p.read_text().splitlines()
    p.write_text("\n".join(text[:-3]))
    with pytest.raises(InputError, match="t.cube: truncated cube data"):
        read_cube(p)
    (tmp_path / "e.cube").write_text("")
    with pytest.raises(InputError, match="e.cube"):
        read_cube(tmp_path / "e.cube")


def test_sampled_density_interpolates_linear_field(tmp_path):
    g = Grid(np.zeros(3), np.eye(3) * 0.5, (6, 6, 6))
    x = g.points()
    vals = (1.0 + x @ np.array([0.1, 0.2, 0.3])).reshape(g.shape)
    write_cube(tmp_path / "lin.cube", g, vals)
    d = load_cube_density(tmp_path / "lin.cube")
    pts = np.array([[0.7, 1.1, 0.35], [2.0, 0.25, 1.9]])
    np.testing.assert_allclose(d.evaluate(pts), 1.0 + pts @ [0.1, 0.2, 0.3], rtol=1e-5)
    assert isinstance(d, SampledDensity) and d.unit == "e/bohr^3"


def test_ccp4_round_trip(tmp_path):
    g = Grid(np.zeros(3), np.eye(3) * 0.5, (10, 12, 14))
    vals = np.random.default_rng(2).normal(size=g.shape)
    write_map(tmp_path / "m.ccp4", g, vals)
    d = load_map_density(tmp_path / "m.ccp4")
    np.testing.assert_allclose(d.values, vals, atol=1e-6)
    np.testing.assert_allclose(d.grid.axes, g.axes, atol=1e-6)
    dn = load_map_density(tmp_path / "m.ccp4", normalise=True)
    assert abs(dn.values.mean()) < 1e-6 and dn.values.std() == pytest.approx(1.0, abs=1e-5)


def test_ccp4_garbage_is_an_input_error(tmp_path):
    (tmp_path / "bad.map").write_bytes(b"not a map" * 10)
    with pytest.raises(InputError, match="bad.map"):
        load_map_density(tmp_path / "bad.map")

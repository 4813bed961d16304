"""Density point clouds: where the density is significant, exact values, seeded, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.represent.points import NoSignificantDensityError, sample_points


@pytest.fixture(scope="module")
def water_density():
    from rhoml.density import compute

    mol = Molecule.from_symbols(
        ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
        id="water",
    )  # fmt: skip
    return compute(mol, "xtb")


def test_points_lie_where_the_density_is_significant(water_density):
    pc = sample_points(water_density, 512, threshold=1e-2, seed=1)
    assert pc.positions.shape == (512, 3) and pc.density.shape == (512,)
    assert pc.positions.dtype == np.float32
    # values are the exact density at the (jittered) points
    np.testing.assert_allclose(pc.density, water_density.evaluate(pc.positions), rtol=1e-5)
    assert np.mean(pc.density > 1e-2) > 0.9  # jitter may step just below the threshold
    assert pc.density.min() > 2e-3
    # points stay within a few Å of the atoms
    d = np.linalg.norm(pc.positions[:, None] - water_density.molecule.positions[None], axis=-1)
    assert d.min(axis=1).max() < 3.0
    assert pc.as_features().shape == (512, 4)


def test_points_are_seeded(water_density):
    a = sample_points(water_density, 256, seed=3)
    b = sample_points(water_density, 256, seed=3)
    c = sample_points(water_density, 256, seed=4)
    assert np.array_equal(a.positions, b.positions)
    assert not np.array_equal(a.positions, c.positions)


def test_density_weighting_favours_high_density(water_density):
    uni = sample_points(water_density, 1024, weighting="uniform")
    mass = sample_points(water_density, 1024, weighting="density")
    assert np.median(mass.density) > 3 * np.median(uni.density)


def test_no_significant_density_is_an_error(water_density):
    with pytest.raises(NoSignificantDensityError, match="water: no grid point"):
        sample_points(water_density, 16, threshold=1e6)
    with pytest.raises(ValueError, match="weighting"):
        sample_points(water_density, 16, weighting="fps")


def test_points_cli(tmp_path, capsys):
    from rhoml.cli import main
    from rhoml.store.sqlite_store import Store

    xyz = tmp_path / "w.xyz"
    xyz.write_text("3\n\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n")
    store = tmp_path / "s.rhoml"
    assert main(["density", "compute", str(xyz), "--method", "xtb", "--out", str(store),
                 "--workers", "1", "--quiet"]) == 0  # fmt: skip
    args = ["points", str(store), "--n", "300", "--workers", "1", "--quiet"]
    assert main(args) == 0
    with Store.open(store, readonly=True) as st:
        xyz_a = st.get_array(0, "points_xyz", unit="angstrom")
        rho = st.get_array(0, "points_density", unit="e/bohr^3")
    assert xyz_a.shape == (300, 3) and rho.shape == (300,)
    capsys.readouterr()
    assert main(args) == 0
    assert "0 sampled, 0 failed, 1 already done" in capsys.readouterr().out
    assert main(["points", str(store), "--n", "0"]) == 2  # a usable one-line error
    # a rerun with other settings neither keeps the old clouds silently nor mixes them
    capsys.readouterr()
    assert main(["points", str(store), "--n", "200", "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        "points_density of molecule 0 was made with other settings (n: stored 300, now 200)" in err
    )

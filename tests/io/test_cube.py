"""Cube files as real programs write them: MO cubes with many orbitals, Gaussian's loop order,
Fortran exponents, trailing lines, compression; and valence charges on write."""

from __future__ import annotations

import bz2
import gzip
import lzma

import numpy as np
import pytest

from rhoml.errors import InputError
from rhoml.grid import Grid
from rhoml.io.cube import read_cube, write_cube

SHAPE = (3, 4, 5)
ATOMS = "    8    8.000000    0.000000    0.000000    0.221665\n" \
        "    1    1.000000    0.000000    1.430901   -0.886659\n" \
        "    1    1.000000    0.000000   -1.430901   -0.886659\n"  # fmt: skip


def _header(natoms: int, comment2: str = " cube", nval: str = "") -> str:
    return (
        f" test cube\n{comment2}\n{natoms:5d}   -2.000000   -2.000000   -2.000000{nval}\n"
        f"{SHAPE[0]:5d}    0.400000    0.000000    0.000000\n"
        f"{SHAPE[1]:5d}    0.000000    0.400000    0.000000\n"
        f"{SHAPE[2]:5d}    0.000000    0.000000    0.400000\n" + ATOMS
    )


def _rows(flat: np.ndarray, fortran: bool = False) -> str:
    fmt = (lambda v: f"{v:13.5E}".replace("E", "D")) if fortran else (lambda v: f"{v:13.5E}")
    return "\n".join(" ".join(fmt(v) for v in flat[i : i + 6]) for i in range(0, len(flat), 6))


def test_mo_cube_with_twelve_orbitals_and_wrapped_list(tmp_path):
    rng = np.random.default_rng(0)
    vals = rng.normal(size=(*SHAPE, 12))
    ids = " ".join(f"{i:4d}" for i in [12, *range(1, 11)]) + "\n" + "   11   12\n"
    text = _header(-3) + ids + _rows(vals.reshape(-1), fortran=True) + "\n"
    (tmp_path / "mo.cube").write_text(text)
    for k in (0, 5, 11):
        mol, grid, got = read_cube(tmp_path / "mo.cube", dataset=k)
        np.testing.assert_allclose(got, vals[..., k], rtol=1e-5)
    assert mol is not None and mol.numbers.tolist() == [8, 1, 1]
    with pytest.raises(InputError, match="dataset 12 not in the file"):
        read_cube(tmp_path / "mo.cube", dataset=12)
    cut = text.splitlines()
    (tmp_path / "cut.cube").write_text("\n".join(cut[:-4]) + "\n")
    with pytest.raises(InputError, match="cut.cube: truncated cube data"):
        read_cube(tmp_path / "cut.cube", dataset=11)


def test_gaussian_outer_loop_z_order_and_trailing_comment(tmp_path):
    vals = np.arange(np.prod(SHAPE), dtype=float).reshape(SHAPE) + 1.0
    flat = vals.transpose(2, 1, 0).reshape(-1)  # z slowest, x fastest
    text = _header(3, " OUTER LOOP: Z, MIDDLE LOOP: Y, INNER LOOP: X") + _rows(flat)
    (tmp_path / "zyx.cube").write_text(text + "\n end of file written by a program\n")
    _, grid, got = read_cube(tmp_path / "zyx.cube")
    np.testing.assert_allclose(got, vals, rtol=1e-6)
    assert grid.shape == SHAPE


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_cubes_are_read_by_content(tmp_path, water, compress):
    g = Grid(np.zeros(3), np.eye(3) * 0.3, (4, 5, 6))
    vals = np.random.default_rng(1).uniform(size=g.shape)
    write_cube(tmp_path / "w.cube", g, vals, water)
    packed = tmp_path / "w_packed.cube"  # no telling extension: recognised by content
    packed.write_bytes(compress((tmp_path / "w.cube").read_bytes()))
    _, _, got = read_cube(packed)
    np.testing.assert_allclose(got, vals, rtol=1e-5)


def test_binary_and_non_numeric_files_are_one_line_errors(tmp_path):
    (tmp_path / "bin.cube").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="bin.cube: binary file"):
        read_cube(tmp_path / "bin.cube")
    text = _header(3) + "1.0 2.0 x3.0\n"
    (tmp_path / "nan.cube").write_text(text)
    with pytest.raises(InputError, match="nan.cube: line 10: expected numbers"):
        read_cube(tmp_path / "nan.cube")


def test_bz2_ccp4_map(tmp_path):
    from rhoml.io.ccp4 import read_map, write_map

    g = Grid(np.zeros(3), np.eye(3) * 0.5, (6, 7, 8))
    vals = np.random.default_rng(3).normal(size=g.shape)
    write_map(tmp_path / "m.map", g, vals)
    (tmp_path / "m.map.bz2").write_bytes(bz2.compress((tmp_path / "m.map").read_bytes()))
    _, got = read_map(tmp_path / "m.map.bz2")
    np.testing.assert_allclose(got, vals, atol=1e-6)


def test_valence_density_cube_carries_valence_charges(tmp_path):
    """An xTB (valence) density exported as a cube has the valence charges in its charge
    column, so that integrating tools balance the electrons it holds."""
    from rhoml.cli import main

    xyz = tmp_path / "ch2o.xyz"
    xyz.write_text("4\n\nC 0 0 0\nO 0 0 1.21\nH 0 0.94 -0.58\nH 0 -0.94 -0.58\n")
    store = tmp_path / "s.rhoml"
    assert main(["density", "compute", str(xyz), "--method", "xtb", "--out", str(store),
                 "--workers", "1", "--quiet"]) == 0  # fmt: skip
    cube = tmp_path / "ch2o.cube"
    assert main(["density", "export-cube", str(store), "--index", "0", "--out", str(cube),
                 "--spacing", "0.5"]) == 0  # fmt: skip
    lines = cube.read_text().splitlines()
    charges = [float(lines[6 + i].split()[1]) for i in range(4)]
    assert charges == [4.0, 6.0, 1.0, 1.0]  # 12 valence electrons, not Z = 6, 8, 1, 1

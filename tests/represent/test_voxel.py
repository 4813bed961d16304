"""Voxeliser: symmetry, mass, overflow, density agreement with the foundation evaluators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml import Molecule
from rhoml.density import compute
from rhoml.represent.torch_density import TorchDensity
from rhoml.represent.voxel import VoxelBoxError, Voxelizer, VoxelSpec, cube_rotations, rotate_voxels
from rhoml.testing import assert_grid_equivariant, random_rotation, rotate_grid

ALL = ("atoms", "density", "gradient", "shape")


def _vox(spec, mol, **kw):
    v = Voxelizer(spec, dtype=torch.float64, engine="promolecule")
    return v([mol], **kw)[0]


def test_torch_density_matches_foundation(ethanol):
    rng = np.random.default_rng(1)
    pts = ethanol.centroid() + rng.normal(size=(500, 3)) * 2.0
    for dens in (compute(ethanol, "xtb"), compute(ethanol, "promolecule", valence=True)):
        ref = dens.evaluate(pts, gradient=True)
        rho, grad = TorchDensity(dens).evaluate(pts, gradient=True)
        assert np.allclose(rho.numpy(), ref[:, 0], atol=1e-12)
        assert np.allclose(grad.numpy(), ref[:, 1:], atol=1e-12)


@pytest.mark.parametrize("engine", ["xtb", "promolecule"])
def test_density_channels_match_regular_grid_evaluator(ethanol, engine):
    from rhoml.density.regular_grid import evaluate_on_regular_grid

    spec = VoxelSpec(size=8.0, spacing=0.5, channels=("density", "gradient"),
                     density_transform="none")  # fmt: skip
    dens = compute(ethanol, engine)
    got = Voxelizer(spec, dtype=torch.float64)([ethanol], [dens])[0].numpy()
    ref = evaluate_on_regular_grid(dens, spec.grid(ethanol.centroid()), gradient=True)
    assert np.allclose(got[0], ref[..., 0], atol=1e-10)
    assert np.allclose(got[1], np.linalg.norm(ref[..., 1:], axis=-1), atol=1e-9)


def _about(spec, centre, **kw):
    """(numbers, positions) → voxels (C, n, n, n) of a box centred at ``centre``."""
    return lambda z, p: _vox(spec, Molecule(z, p), centers=[centre], **kw)


@pytest.mark.parametrize("k", [1, 7, 13, 22])
def test_exactly_equivariant_under_90_degree_rotations(ethanol, k):
    spec = VoxelSpec(size=10.0, spacing=0.5, channels=ALL)
    rot = cube_rotations()[k]
    c = ethanol.centroid()
    # voxelising the molecule rotated about the box centre = rotating the voxels (rhoml.testing)
    assert_grid_equivariant(_about(spec, c), ethanol.numbers, ethanol.positions, c,
                            rotations=[rot], atol=1e-10, rtol=0)  # fmt: skip
    # the pose argument (density evaluated at rotated points) gives the same tensor
    rotated_mol = ethanol.transformed(rot, c - rot @ c)  # rotate about the centroid
    direct = _vox(spec, rotated_mol, centers=[c])
    posed = _vox(spec, ethanol, rotations=[rot])
    assert torch.allclose(posed, direct, atol=1e-10, rtol=0)


def test_rotation_tester_catches_an_axis_order_bug(ethanol):
    """A voxeliser that returns (z, y, x)-ordered grids is caught by the 90° rotation test."""
    spec = VoxelSpec(size=10.0, spacing=0.5, channels=("atoms",))
    c = ethanol.centroid()
    good = _about(spec, c)

    def swapped(z, p):
        return good(z, p).transpose(-1, -3)

    with pytest.raises(AssertionError, match=r"grid under R\[0\]=.*max \|Δ\|"):
        assert_grid_equivariant(swapped, ethanol.numbers, ethanol.positions, c, rotations=[5])


def test_rotate_voxels_equals_the_reference_grid_rotation():
    """voxel.rotate_voxels (permute + flip) against rhoml.testing.rotate_grid (index gather)."""
    x = torch.randn(2, 3, 5, 5, 5, dtype=torch.float64)
    for r in cube_rotations():
        assert torch.equal(rotate_voxels(x, r), rotate_grid(x, r))


def test_exactly_equivariant_under_whole_voxel_translations(ethanol):
    spec = VoxelSpec(size=12.0, spacing=0.5, channels=ALL)
    shift = np.array([2, -3, 1])
    c = ethanol.centroid()
    base = _vox(spec, ethanol, centers=[c])
    moved = _vox(spec, ethanol.transformed(None, shift * spec.spacing), centers=[c])
    n = spec.n
    src = tuple(slice(max(0, -s), n - max(0, s)) for s in shift)  # the overlap, unshifted
    dst = tuple(slice(max(0, s), n - max(0, -s)) for s in shift)
    assert torch.allclose(moved[(slice(None), *dst)], base[(slice(None), *src)], atol=1e-10, rtol=0)
    assert not torch.allclose(moved, base, atol=1e-3)
    via_pose = _vox(spec, ethanol, translations=[shift * spec.spacing], centers=[c])
    assert torch.allclose(via_pose, moved, atol=1e-10, rtol=0)


def test_atom_channel_mass_is_atom_count(ethanol):
    spec = VoxelSpec(size=14.0, spacing=0.5, channels=("atoms",))
    rng = np.random.default_rng(0)
    v = _vox(spec, ethanol, rotations=[random_rotation(rng)], translations=[[0.13, -0.2, 0.31]])
    counts = v.sum(dim=(1, 2, 3)).numpy()
    expect = [ethanol.symbols.count(e) for e in spec.elements]
    assert np.allclose(counts, expect, atol=1e-10)


def test_molecule_larger_than_box_is_an_error_or_cropped(ethanol):
    small = VoxelSpec(size=2.0, spacing=0.5, channels=("atoms",))
    with pytest.raises(VoxelBoxError, match="outside the 2 Å box"):
        _vox(small, ethanol)
    cropped = _vox(VoxelSpec(size=2.0, spacing=0.5, channels=("atoms",), overflow="crop"), ethanol)
    assert 0 < float(cropped.sum()) < ethanol.n_atoms


def test_unknown_element_needs_other_channel():
    mol = Molecule.from_symbols(["S", "H", "H"], [[0, 0, 0], [1.3, 0, 0], [0, 1.3, 0]])
    with pytest.raises(VoxelBoxError, match="element S"):
        _vox(VoxelSpec(size=8.0, channels=("atoms",)), mol)
    v = _vox(VoxelSpec(size=8.0, channels=("atoms",), elements=("H", "X")), mol)
    assert np.allclose(v.sum(dim=(1, 2, 3)).numpy(), [2.0, 1.0])


def test_shape_channel_is_occupancy(ethanol):
    v = _vox(VoxelSpec(size=10.0, spacing=0.5, channels=("shape",)), ethanol)[0]
    assert float(v.max()) == pytest.approx(1.0, abs=1e-6)
    assert float(v.min()) >= 0.0 and float(v[0, 0, 0]) < 1e-6  # corner is empty


def test_separate_groups_for_complexes(ethanol):
    groups = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])  # an arbitrary 'ligand' of 3 atoms
    mol = Molecule(ethanol.numbers, ethanol.positions, groups=groups, id="cplx")
    spec = VoxelSpec(size=12.0, channels=("atoms", "density"), elements=("H", "C", "O"),
                     separate_groups=True, center_group=1, overflow="crop")  # fmt: skip
    v = _vox(spec, mol)
    assert v.shape[0] == len(spec.channel_names) == 8
    assert spec.channel_names[0] == "protein:atoms:H" and spec.channel_names[-1] == "ligand:density"
    assert float(v[:3].sum()) == pytest.approx(6.0) and float(v[4:7].sum()) == pytest.approx(3.0)


def test_sampled_map_feeds_density_channel(ethanol, tmp_path):
    from rhoml.density.sampled import SampledDensity
    from rhoml.grid import Grid

    dens = compute(ethanol, "promolecule", valence=True)
    fine = Grid.around(ethanol, spacing=0.25, margin=5.0)
    values = dens.evaluate(fine.points()).reshape(fine.shape)
    sampled = SampledDensity(fine, values, "e/bohr^3")
    spec = VoxelSpec(size=8.0, spacing=0.5, channels=("density",))
    a = Voxelizer(spec, dtype=torch.float64)([ethanol], [sampled])[0, 0]
    b = Voxelizer(spec, dtype=torch.float64)([ethanol], [dens])[0, 0]
    # trilinear resampling of a 0.25 Å map: close to the analytic density after the transform
    assert float((a - b).abs().median()) < 0.05


def test_unknown_option_rejected():
    from rhoml.errors import RhomlError

    with pytest.raises(RhomlError, match="unknown voxel option"):
        VoxelSpec.from_dict({"size": 16.0, "colour": "red"})


def test_posed_xtb_density_equals_density_of_rotated_molecule(ethanol):
    spec = VoxelSpec(size=10.0, spacing=0.5, channels=("density", "gradient"))
    rot = random_rotation(np.random.default_rng(3))
    c = ethanol.centroid()
    vox = Voxelizer(spec, dtype=torch.float64, engine="xtb")
    posed = vox([ethanol], rotations=[rot], translations=[[0.2, 0.1, -0.3]])[0]
    moved = ethanol.transformed(rot, c - rot @ c + np.array([0.2, 0.1, -0.3]))
    direct = vox([moved], centers=[c])[0]
    # equal up to the SCF convergence of two xTB runs (transformed values, log1p(ρ/1e-3))
    assert float((posed - direct).abs().max()) < 1e-4


def test_voxelize_cli_writes_store_arrays(water, tmp_path, capsys):
    from rhoml.cli import main
    from rhoml.store.sqlite_store import Store

    xyz = tmp_path / "w.xyz"
    rows = zip(water.symbols, water.positions, strict=True)
    lines = [f"{s} {x:.4f} {y:.4f} {z:.4f}" for s, (x, y, z) in rows]
    xyz.write_text("3\nwater\n" + "\n".join(lines) + "\n")
    out = tmp_path / "store"
    args = [
        "voxelize",
        str(xyz),
        "--out",
        str(out),
        "--engine",
        "promolecule",
        "--box",
        "8",
        "--spacing",
        "1.0",
        "--poses",
        "2",
        "--quiet",
        "--npy",
        str(tmp_path / "v.npy"),
    ]
    assert main(args) == 0
    assert "8 channels" in capsys.readouterr().out
    v = np.load(tmp_path / "v.npy")
    assert v.shape == (1, 8, 8, 8, 8)
    assert v[0, :5].sum() == pytest.approx(3.0, abs=0.01)  # float16 storage
    with Store.open(out) as st:
        assert st.molecule(0).n_atoms == 3
        assert st.get_array(0, "voxels/" + _key(), unit="dimensionless").shape == (8, 8, 8, 8)
    assert main(args[:-2] + ["--box", "1"]) == 2  # molecule larger than the box: one-line error
    assert "outside the 1 Å box" in capsys.readouterr().err


def _key() -> str:
    from rhoml.represent.voxel_data import spec_key

    spec = VoxelSpec(size=8.0, spacing=1.0, channels=ALL)
    return f"{spec_key(spec, 'promolecule')}/1"

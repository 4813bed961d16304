"""Compiled voxel kernels (numba) against the torch reference path of the voxeliser."""

import numpy as np
import pytest
import torch

from rhoml.errors import RhomlError
from rhoml.molecule import Molecule
from rhoml.represent.voxel import VoxelBoxError, Voxelizer, VoxelSpec
from rhoml.testing import random_rotation

ELEMENTS = ("H", "C", "N", "O", "S", "X")


def _random_molecule(rng, n_atoms, spread, groups=True, idx=0) -> Molecule:
    numbers = rng.choice([1, 1, 6, 6, 7, 8, 16, 35], size=n_atoms)
    pos = rng.normal(scale=spread, size=(n_atoms, 3))
    g = None
    if groups:
        g = (rng.random(n_atoms) < 0.3).astype(np.int64)
        g[0] = 1  # a ligand atom near the middle, so ligand-centred boxes hold it
        pos[g == 1] *= 0.15
    mult = 1 + int(numbers.sum()) % 2
    return Molecule(numbers, pos, multiplicity=mult, id=f"rand{idx}", groups=g)


def _both(spec, mols, dtype=torch.float32, **kw):
    fast = Voxelizer(spec, dtype=dtype, backend="numba")
    ref = Voxelizer(spec, dtype=dtype, backend="torch")
    assert fast.uses_kernels and not ref.uses_kernels
    return fast(mols, **kw), ref(mols, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "options",
    [
        dict(channels=("atoms",), overflow="crop"),
        dict(channels=("shape", "atoms"), overflow="crop"),
        dict(channels=("atoms", "shape"), separate_groups=True, center_group=1, overflow="crop"),
        dict(channels=("atoms",), separate_groups=True, overflow="crop"),
    ],
)
def test_kernels_equal_reference_on_random_batches(options, dtype):
    rng = np.random.default_rng(7)
    # spreads up to 4 Å in a 6 Å box: many atoms and Gaussians cropped at the faces
    mols = [_random_molecule(rng, int(rng.integers(1, 40)), 4.0, idx=i) for i in range(6)]
    spec = VoxelSpec(size=6.0, spacing=0.4, elements=ELEMENTS, **options)
    rots = np.array([random_rotation(rng) for _ in mols])
    shifts = rng.uniform(-0.3, 0.3, (len(mols), 3))
    posed = {"rotations": rots, "translations": shifts}
    for kw in (posed, {}):
        a, b = _both(spec, mols, dtype, **kw)
        assert a.shape == b.shape == (len(mols),) + Voxelizer(spec).shape
        assert float(b.abs().sum()) > 1.0  # not trivially empty
        tol = 1e-6 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(a, b, rtol=0, atol=tol)
    # one molecule at a time gives the same as the (unposed) batch
    one = torch.cat([Voxelizer(spec, dtype=dtype)([m]) for m in mols])
    torch.testing.assert_close(one, a, rtol=0, atol=0)


def test_kernels_with_given_centres_and_mixed_group_info():
    rng = np.random.default_rng(3)
    mols = [_random_molecule(rng, 12, 2.0, groups=i % 2 == 0, idx=i) for i in range(4)]
    spec = VoxelSpec(size=8.0, spacing=0.5, elements=ELEMENTS, channels=("atoms", "shape"),
                     separate_groups=True, overflow="crop")  # fmt: skip
    centers = rng.normal(size=(4, 3))
    a, b = _both(spec, mols, centers=centers)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert float(a[1].abs().sum()) == 0.0  # no groups: nothing in either group's channels


def test_kernels_and_density_channels_together(ethanol):
    spec = VoxelSpec(size=6.0, spacing=0.5, channels=("atoms", "density", "shape"), overflow="crop")
    fast = Voxelizer(spec, engine="promolecule")
    ref = Voxelizer(spec, engine="promolecule", backend="torch")
    rot = random_rotation(np.random.default_rng(0))
    a = fast([ethanol, ethanol], rotations=[np.eye(3), rot])
    b = ref([ethanol, ethanol], rotations=[np.eye(3), rot])
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert float(a[:, len(spec.elements)].max()) > 1.0  # the density channel is filled


def test_kernel_errors_match_reference(ethanol):
    far = Molecule(ethanol.numbers, ethanol.positions * 5.0, id="far")
    spec = VoxelSpec(size=4.0, spacing=0.5)
    msgs = []
    for backend in ("numba", "torch"):
        with pytest.raises(VoxelBoxError) as err:
            Voxelizer(spec, backend=backend)([ethanol, far])
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1] and "far" in msgs[0]
    odd = Molecule.from_symbols(["C", "Si"], [[0, 0, 0], [1.9, 0, 0]], id="silane")
    msgs = []
    for backend in ("numba", "torch"):
        with pytest.raises(VoxelBoxError) as err:
            Voxelizer(VoxelSpec(size=8.0, elements=("H", "C")), backend=backend)([odd])
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1] and "element Si" in msgs[0]


def test_ligand_outside_box_is_an_error_with_kernels():
    numbers = [6, 6, 8, 6]
    pos = [[0.0, 0.0, 0.0], [9.0, 0.0, 0.0], [0.5, 0.0, 0.0], [-0.5, 0.0, 0.0]]
    spec = VoxelSpec(size=4.0, elements=ELEMENTS, separate_groups=True, center_group=1,
                     overflow="crop")  # fmt: skip
    pocket_out = Molecule(numbers, pos, id="ok", groups=[1, 0, 1, 1])
    a, b = _both(spec, [pocket_out])  # a pocket atom outside is cropped
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    ligand_out = Molecule(numbers, pos, id="bad", groups=[1, 1, 1, 1])
    for backend in ("numba", "torch"):
        with pytest.raises(VoxelBoxError, match="bad: atoms of group 1"):
            Voxelizer(spec, backend=backend)([ligand_out])


@pytest.mark.parametrize("channels", [("atoms",), ("shape", "atoms"), ("shape",)])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_out_buffer_is_reused_and_overwritten(ethanol, channels, backend):
    spec = VoxelSpec(size=8.0, spacing=0.5, channels=channels)
    vox = Voxelizer(spec, backend=backend)
    buf = torch.full((2,) + vox.shape, 5.0)  # stale values everywhere
    got = vox([ethanol, ethanol], out=buf)
    assert got.data_ptr() == buf.data_ptr()
    torch.testing.assert_close(got, vox([ethanol, ethanol]), rtol=0, atol=0)
    assert float(got.max()) <= 1.0
    with pytest.raises(RhomlError, match="out="):
        vox([ethanol], out=buf)


def test_numba_backend_needs_cpu_float():
    with pytest.raises(RhomlError, match="numba"):
        Voxelizer(VoxelSpec(), dtype=torch.float16, backend="numba")
    with pytest.raises(RhomlError, match="backend"):
        Voxelizer(VoxelSpec(), backend="fast")
    assert not Voxelizer(VoxelSpec(), dtype=torch.float16).uses_kernels

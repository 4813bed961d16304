"""Voxelisation speed-ups keep the numbers: per-element basis tables (no PySCF molecule per
system), screened spherical densities, and runs that compute only their representation's
channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rhoml import Molecule
from rhoml.density import compute
from rhoml.density.basis import basis_only_mol
from rhoml.density.shells import molecule_shells, n_functions


def _pyscf_tables(mol):
    """Per-primitive exponent and centre, per-function shell, straight from PySCF's molecule."""
    exps, centres, nao_shell = [], [], []
    for b in range(mol.nbas):
        for _ in range(mol.bas_nctr(b)):
            exps += list(mol.bas_exp(b))
            centres += [mol.bas_coord(b)] * mol.bas_nprim(b)
        nao_shell += [b] * ((2 * mol.bas_angular(b) + 1) * mol.bas_nctr(b))
    return np.array(exps), np.array(centres), np.array(nao_shell)


@pytest.mark.parametrize("basis", ["def2-svp", "6-31g**"])
def test_tiled_element_tables_match_the_pyscf_molecule(ethanol, basis):
    """The functions tiled from per-element tables are PySCF's, in PySCF's order."""
    mol = basis_only_mol(ethanol, basis)
    sh = molecule_shells(ethanol, basis)
    exps, centres, ao_shell = _pyscf_tables(mol)
    assert sh.nao == mol.nao_nr() == n_functions(ethanol, basis)
    assert np.array_equal(sh.prim_exp, exps)
    assert np.array_equal(sh.centres[sh.prim_shell], centres)
    assert np.array_equal(sh.ao_shell, ao_shell)
    assert np.array_equal(sh.shell_l, [mol.bas_angular(b) for b in range(mol.nbas)])


def test_torch_density_of_a_d_shell_basis_matches_pyscf(ethanol):
    """A density matrix in a basis with d functions, evaluated from the tiled tables."""
    from rhoml.density.base import Density
    from rhoml.represent.torch_density import TorchDensity

    mol = basis_only_mol(ethanol, "def2-svp")
    rng = np.random.default_rng(0)
    c = rng.normal(size=(mol.nao_nr(), 6))
    dens = Density(ethanol, "def2-svp", "density_matrix", c @ c.T * 0.01,
                   ethanol.numbers.astype(float), "test")  # fmt: skip
    pts = ethanol.centroid() + rng.normal(size=(300, 3)) * 1.5
    ref = dens.evaluate(pts, gradient=True)
    rho, grad = TorchDensity(dens).evaluate(pts, gradient=True)
    assert np.allclose(rho.numpy(), ref[:, 0], atol=1e-11, rtol=1e-10)
    assert np.allclose(grad.numpy(), ref[:, 1:], atol=1e-11, rtol=1e-10)


def test_screened_promolecule_channels_stay_within_float32_resolution(ethanol):
    """Transformed channels (log1p) with the voxeliser's screening differ from the unscreened
    evaluation by less than float32 resolution; untransformed values are not screened."""
    from rhoml.represent.torch_density import TorchDensity, evaluate_spherical_on_grid
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    spec = VoxelSpec(size=12.0, spacing=0.5, channels=("density", "gradient"))
    vox = Voxelizer(spec, dtype=torch.float64, engine="promolecule")
    assert vox.screening == pytest.approx(1e-12)
    dens = compute(ethanol, "promolecule")
    rot = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
    rot = rot * np.sign(np.linalg.det(rot))
    got = vox([ethanol], [[dens]], rotations=[rot], translations=[[0.1, -0.2, 0.05]])[0]
    td = TorchDensity(dens)
    o = vox._offsets * spec.spacing
    rho, grad = evaluate_spherical_on_grid(td, o, ethanol.centroid(), rot, [0.1, -0.2, 0.05],
                                           gradient=True)  # unscreened (1e-14)  # fmt: skip
    ref = torch.stack([torch.log1p(rho.clamp(min=0) / 1e-3),
                       torch.log1p(grad.norm(dim=-1) / 1e-3)])  # fmt: skip
    assert (got - ref).abs().max() < 1e-6
    assert (got - ref).abs().max() > 0  # screening is on: not bit-equal
    raw = Voxelizer(VoxelSpec(size=12.0, spacing=0.5, channels=("density",),
                              density_transform="none"), dtype=torch.float64)  # fmt: skip
    assert raw.screening is None


def test_representation_spec_keeps_only_its_channels():
    from rhoml.errors import RhomlError
    from rhoml.represent.voxel import VoxelSpec
    from rhoml.represent.voxel_data import representation_spec

    spec = VoxelSpec(channels=("atoms", "density", "gradient", "shape"))
    assert representation_spec(spec, "atoms").channels == ("atoms",)
    assert representation_spec(spec, "gradient+density").channels == ("density", "gradient")
    assert not representation_spec(spec, "atoms").needs_density
    with pytest.raises(RhomlError, match="needs channel kind"):
        representation_spec(VoxelSpec(channels=("atoms",)), "density")


def test_an_atoms_run_computes_no_density(tmp_path, monkeypatch):
    """`rhoml train` with representation atoms voxelises only atom channels: no density engine
    runs (the engine is made to fail) and the run's grid has the atom channels only."""
    import json

    from rhoml.cli import main

    def no_density(*_a, **_k):
        raise AssertionError("a density was computed for an atoms run")

    monkeypatch.setattr("rhoml.density.compute", no_density)
    monkeypatch.setattr("rhoml.store.batch.run_batch", no_density)
    cfg = tmp_path / "atoms.toml"
    cfg.write_text(
        'family = "voxel-cnn"\n[data]\ndataset = "qm9"\ntargets = ["gap"]\n'
        'representation = "atoms"\nn_train = 3\nn_val = 2\nn_test = 2\nworkers = 1\n'
        '[voxel]\nsize = 8.0\nspacing = 1.0\nchannels = ["atoms", "density", "shape"]\n'
        'overflow = "crop"\n[model]\nname = "resnet3d-tiny"\n'
        '[train]\nepochs = 1\nbatch_size = 2\nthreads = 1\ndevice = "cpu"\n'
    )
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    build = json.loads((tmp_path / "run" / "manifest.json").read_text())["build"]
    assert build["voxel_spec"]["channels"] == ["atoms"]
    assert all(name.startswith("atoms:") for name in build["all_channel_names"])


def test_voxelize_config_narrows_to_a_training_configs_representation(tmp_path):
    """`voxelize --config` of a training config voxelises the channels its representation
    uses (what `train` caches); a bare [voxel] table keeps all its channels."""
    from rhoml.cli import main
    from rhoml.io.xyz import write_xyz

    mol = Molecule.from_symbols(["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]],
                                id="water")  # fmt: skip
    xyz = tmp_path / "w.xyz"
    write_xyz(xyz, mol)
    voxel = '[voxel]\nsize = 6.0\nspacing = 1.0\nchannels = ["atoms", "shape"]\n'
    train_cfg = tmp_path / "t.toml"
    train_cfg.write_text('family = "voxel-cnn"\n[data]\ndataset = "qm9"\nrepresentation = '
                         '"shape"\n' + voxel)  # fmt: skip
    bare = tmp_path / "v.toml"
    bare.write_text(voxel)
    for cfg, name, n_channels in ((train_cfg, "a", 1), (bare, "b", 5 + 1)):
        npy = tmp_path / f"{name}.npy"
        assert main(["voxelize", str(xyz), "--config", str(cfg), "--out", str(tmp_path / name),
                     "--quiet", "--npy", str(npy)]) == 0  # fmt: skip
        assert np.load(npy).shape == (1, n_channels, 6, 6, 6)


def _cluster(n: int = 40, seed: int = 0) -> Molecule:
    """A random cluster of H, C, N, O, S atoms (at least 1.1 Å apart), about 9 Å across."""
    rng = np.random.default_rng(seed)
    pos: list = []
    while len(pos) < n:
        p = rng.uniform(-4.5, 4.5, 3)
        if all(np.linalg.norm(p - q) > 1.1 for q in pos):
            pos.append(p)
    z = rng.choice([1, 6, 7, 8, 16], size=n)
    return Molecule(z, np.array(pos), multiplicity=1 + int(z.sum()) % 2, id="cluster")


@pytest.mark.parametrize("posed", [False, True])
def test_density_kernel_matches_the_torch_path(posed):
    """The compiled kernel (radial tables for diffuse primitives) and the torch GEMM path give
    the same ρ and ∇ρ to below the screening threshold, posed or not, atoms in and out of the
    box."""
    pytest.importorskip("numba")
    from rhoml.represent import density_kernels
    from rhoml.represent.torch_density import TorchDensity, evaluate_spherical_on_grid
    from rhoml.units import ANGSTROM_IN_BOHR

    mol = _cluster()
    td = TorchDensity(compute(mol, "promolecule"))
    centre = mol.centroid() + np.array([2.0, 0.0, -1.0])  # some atoms beyond the 12 Å box
    offsets = (np.arange(24) - 11.5) * 0.5
    rot, shift = None, None
    cen = td.prim_centre.numpy() - centre * ANGSTROM_IN_BOHR
    if posed:
        rot = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
        rot = rot * np.sign(np.linalg.det(rot))
        shift = np.array([0.2, -0.1, 0.15])
        cen = cen @ rot.T + shift * ANGSTROM_IN_BOHR
    ref_rho, ref_grad = evaluate_spherical_on_grid(td, torch.as_tensor(offsets), centre, rot,
                                                   shift, gradient=True)  # fmt: skip
    rho, grad = density_kernels.evaluate(
        cen,
        td.prim_exp.numpy(),
        td.prim_weight.numpy(),
        td.prim_atom,
        offsets * ANGSTROM_IN_BOHR,
        1e-12,
        True,
    )
    assert np.abs(rho - ref_rho.numpy()).max() < 1e-10  # e/Bohr³ (ρ up to ~1e2 at nuclei)
    assert np.abs(grad - ref_grad.numpy()).max() < 1e-10
    only = density_kernels.evaluate(
        cen,
        td.prim_exp.numpy(),
        td.prim_weight.numpy(),
        td.prim_atom,
        offsets * ANGSTROM_IN_BOHR,
        1e-12,
        False,
    )
    assert np.array_equal(only, rho)


def test_voxeliser_kernel_and_torch_backends_agree_on_a_complex():
    """A two-group complex through the whole voxeliser: numba backend (density kernel) vs the
    torch backend, all channel kinds, float32 output: equal to float32 resolution."""
    pytest.importorskip("numba")
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    mol = _cluster(50, seed=3)
    mol.groups = (np.arange(mol.n_atoms) >= 42).astype(np.int64)  # the last 8 atoms: "ligand"
    spec = VoxelSpec(size=12.0, spacing=0.5, channels=("atoms", "density", "gradient", "shape"),
                     elements=("H", "C", "N", "O", "S"), separate_groups=True, center_group=1,
                     overflow="crop")  # fmt: skip
    fast = Voxelizer(spec, engine="promolecule")
    ref = Voxelizer(spec, engine="promolecule", backend="torch")
    assert fast.uses_kernels
    rot = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    rot = rot * np.sign(np.linalg.det(rot))
    a = fast([mol], rotations=[rot])[0]
    b = ref([mol], rotations=[rot])[0]
    assert (a - b).abs().max() < 2e-6


def test_unrotated_xtb_grids_from_the_regular_grid_evaluator_equal_the_torch_path(ethanol):
    """An unrotated (shifted) pose of a density-matrix density on the CPU backend goes through
    the separable regular-grid evaluator; the torch backend evaluates point by point: equal."""
    pytest.importorskip("numba")
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    spec = VoxelSpec(size=8.0, spacing=0.5, channels=("density", "gradient"))
    dens = compute(ethanol, "xtb")
    kw = dict(dtype=torch.float64, engine="xtb")
    shift = [[0.13, -0.21, 0.05]]
    fast = Voxelizer(spec, **kw)([ethanol], [[dens]], translations=shift)[0]
    ref = Voxelizer(spec, backend="torch", **kw)([ethanol], [[dens]], translations=shift)[0]
    assert (fast - ref).abs().max() < 1e-9

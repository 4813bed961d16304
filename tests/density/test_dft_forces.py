"""Forces as an option of the dft engine: equal to PySCF's own analytic gradient (same SCF
recipe), equal to −dE/dR by finite differences, and declared in Hartree/Bohr."""

import numpy as np
import pytest

from rhoml import Molecule
from rhoml.density.dft import LABEL_SETTINGS, compute_dft, label_options
from rhoml.units import angstrom_to_bohr, convert

FAST = {"functional": "PBE", "basis": "def2-SVP", "grid_level": 2, "conv_tol": 1e-11}


def _pyscf_reference(mol: Molecule, *, xc, basis, grid_level, conv_tol, spin=0):
    """Energy, gradient (Hartree/Bohr) and density matrix from PySCF directly (geometry passed
    in Bohr, converted with rhoml's constant)."""
    from pyscf import dft, gto

    bohr = angstrom_to_bohr(mol.positions)
    pm = gto.M(atom=[(s, tuple(p)) for s, p in zip(mol.symbols, bohr, strict=True)],
               unit="Bohr", basis=basis, charge=mol.charge, spin=spin, verbose=0)  # fmt: skip
    mf = dft.RKS(pm) if spin == 0 else dft.UKS(pm)
    mf.xc = xc
    mf.grids.level = grid_level
    mf.conv_tol = conv_tol
    mf.max_cycle = 100
    mf.verbose = 0
    mf = mf.density_fit()
    mf.kernel()
    assert mf.converged
    g = mf.nuc_grad_method().kernel()
    dm = np.asarray(mf.make_rdm1())
    return mf.e_tot, np.asarray(g), dm if dm.ndim == 2 else dm[0] + dm[1]


def test_forces_equal_pyscf_gradient(water):
    dens = compute_dft(water, forces=True, **FAST)
    e, g, dm = _pyscf_reference(water, xc="PBE", basis="def2-SVP", grid_level=2, conv_tol=1e-11)
    assert dens.property_units["forces"] == "hartree/bohr"
    assert dens.properties["forces"].shape == (3, 3)
    np.testing.assert_allclose(dens.properties["forces"], -g, atol=1e-7)
    assert dens.properties["energy"] == pytest.approx(e, abs=1e-9)
    np.testing.assert_allclose(dens.data, dm, atol=1e-6)
    assert np.abs(dens.properties["forces"].sum(axis=0)).max() < 1e-4  # no net force
    assert dens.provenance["gradient"] == "analytic"
    assert "forces" not in compute_dft(water, **FAST).properties  # off by default


def test_forces_are_minus_energy_gradient_by_finite_differences(water):
    from rhoml.testing import assert_forces_match_energy

    dens = compute_dft(water, forces=True, **FAST)
    forces = convert(dens.properties["forces"], "hartree/bohr", "hartree/angstrom")

    def energy(numbers, positions):  # Hartree
        return compute_dft(Molecule(numbers, positions), **FAST).properties["energy"]

    # PySCF's gradient leaves out the grid-weight response: ~5e-5 Hartree/Å on grid level 2
    checked = [(0, 2), (1, 1), (2, 2)]
    assert_forces_match_energy(energy, forces, water.numbers, water.positions, h=1e-3,
                               components=checked, rtol=1e-6, atol=1e-4)  # fmt: skip


def test_open_shell_forces_equal_pyscf_uks_gradient():
    oh = Molecule.from_symbols(["O", "H"], [[0, 0, 0], [0, 0, 0.97]], multiplicity=2, id="OH")
    dens = compute_dft(oh, functional="PBE", basis="6-31G", grid_level=2, conv_tol=1e-11,
                       forces=True)  # fmt: skip
    _, g, _ = _pyscf_reference(oh, xc="PBE", basis="6-31G", grid_level=2, conv_tol=1e-11, spin=1)
    np.testing.assert_allclose(dens.properties["forces"], -g, atol=1e-7)


def test_label_level_defaults():
    assert (LABEL_SETTINGS.functional, LABEL_SETTINGS.basis) == ("PBE", "def2-SVP")
    assert LABEL_SETTINGS.grid_level == 4 and LABEL_SETTINGS.forces
    opts = label_options(basis="sto-3g")
    assert opts["basis"] == "sto-3g" and opts["forces"] is True
    with pytest.raises(TypeError, match="gpu"):
        label_options(gpu="never")
    assert convert(1.0, "hartree/bohr", "kcal/mol/angstrom") == pytest.approx(1185.8212, rel=1e-6)

"""DFT labels (the dft engine with forces, run by the batch runner) on water: the same numbers
as PySCF's own SCF + gradient at the label level, the store job resumes, DenSNet frames read the
records, the fitted density keeps the electron count and the DFT dipole, and the network's dipole
formula reproduces it."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.molecule import Molecule
from rhoml.store.labels import FORCE_UNIT, LabelSettings, dft_energy_forces, run_labels
from rhoml.testing import assert_forces_match_energy
from rhoml.units import angstrom_to_bohr, convert

FAST = LabelSettings(grid_level=2, conv_tol=1e-11)


def test_forces_are_negative_energy_gradient(water):
    dens, forces = dft_energy_forces(water, FAST)

    def energy(numbers, positions):  # kcal/mol
        e = dft_energy_forces(Molecule(numbers, positions), FAST)[0].properties["energy"]
        return convert(e, "hartree", "kcal/mol")

    # h = 1e-3 Å against SCF noise; 0.05 kcal/mol/Å (grid level 2)
    assert_forces_match_energy(energy, forces, water.numbers, water.positions, h=1e-3,
                               components=[(0, 2), (1, 1)], rtol=1e-6, atol=0.05)  # fmt: skip
    assert np.abs(forces.sum(axis=0)).max() < 0.05  # no net force


def test_labels_equal_pyscf_at_the_label_level(water):
    """The recipe of the labels before they became a dft engine option, in plain PySCF."""
    from pyscf import dft, gto

    dens, forces = dft_energy_forces(water, FAST)
    bohr = angstrom_to_bohr(water.positions)
    pm = gto.M(atom=[(s, tuple(p)) for s, p in zip(water.symbols, bohr, strict=True)],
               unit="Bohr", basis="def2-SVP", verbose=0)  # fmt: skip
    mf = dft.RKS(pm)
    mf.xc, mf.grids.level, mf.conv_tol, mf.verbose = "PBE", 2, 1e-11, 0
    mf = mf.density_fit()
    mf.kernel()
    g = mf.nuc_grad_method().kernel()
    assert dens.properties["energy"] == pytest.approx(mf.e_tot, abs=1e-9)
    np.testing.assert_allclose(forces, convert(-g, "hartree/bohr", FORCE_UNIT), atol=1e-6)
    np.testing.assert_allclose(dens.data, mf.make_rdm1(), atol=1e-6)
    np.testing.assert_allclose(dens.properties["dipole"], mf.dip_moment(verbose=0), atol=1e-6)
    assert dens.level == "PBE/def2-SVP" and FAST.method.startswith("dft:PBE/def2-SVP:")


def test_run_labels_resumes_and_fit_keeps_count_and_dipole(water, tmp_path):
    import torch

    from rhoml.density.fit import fit_density
    from rhoml.density.flexible_basis import default_basis
    from rhoml.density.prior import prior_table
    from rhoml.models.densnet.nets import CoefficientNet, NetConfig
    from rhoml.represent.coefficients import load_frames
    from rhoml.store.sqlite_store import Store

    store = tmp_path / "w.rhoml"
    h2 = Molecule.from_symbols(["H", "H"], [[0, 0, 0], [0, 0, 0.74]], id="h2")
    first = run_labels(store, [water], FAST, workers=1, progress=False)
    assert (first.ok, first.skipped) == (1, 0)
    with Store.open(store) as st:
        e0 = st.density(0, FAST.method).properties["energy"]
    again = run_labels(store, [water, h2], FAST, workers=1, progress=False)
    assert (again.ok, again.skipped, again.failed) == (1, 1, 0)
    with Store.open(store) as st:
        dens = st.density(0, FAST.method)
        assert dens.properties["energy"] == e0
        assert dens.property_units["forces"] == "hartree/bohr"
    basis = default_basis(("H", "O"))
    frames = load_frames(store, basis, FAST, progress=False)
    assert [f.molecule.id for f in frames] == ["water", "h2"]
    np.testing.assert_allclose(
        frames[0].forces, convert(dens.properties["forces"], "hartree/bohr", FORCE_UNIT)
    )
    assert frames[0].energy == pytest.approx(convert(e0, "hartree", "kcal/mol"))
    fit = fit_density(dens, basis.pyscf_basis())
    np.testing.assert_allclose(frames[0].coeff, fit.data, atol=1e-12)  # the cached fit
    assert fit.electron_count() == pytest.approx(10.0, abs=1e-8)
    np.testing.assert_allclose(fit.dipole(), dens.properties["dipole"], atol=0.03)
    # the torch dipole formula of the coefficient network on the fitted coefficients
    scales = {el: np.ones(basis.n_functions(el)) for el in basis.elements}
    net = CoefficientNet(basis, prior_table(basis), scales, NetConfig(layers=1)).double()
    z = torch.as_tensor(water.numbers)
    pos = torch.as_tensor(water.positions)
    nf = net.nfun[z]
    mu = net.dipole(z, pos, torch.zeros(3, dtype=torch.long), torch.as_tensor(fit.data),
                    torch.cumsum(nf, 0) - nf)[0].numpy()  # fmt: skip
    np.testing.assert_allclose(mu, fit.dipole(), atol=1e-10)


def test_densnet_labels_is_the_density_compute_job(tmp_path, capsys):
    from rhoml.cli import main
    from rhoml.represent.coefficients import store_elements
    from rhoml.store.sqlite_store import Store

    xyz = tmp_path / "h2.xyz"
    xyz.write_text("2\nid=h2\nH 0 0 0\nH 0 0 0.74\n")
    store = str(tmp_path / "l.rhoml")
    args = ["densnet", "labels", str(xyz), "--out", store, "--basis", "sto-3g", "--workers", "1",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    key = LabelSettings(basis="sto-3g").method
    assert f"{key}: 1 ok, 0 failed, 0 already done" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 ok, 0 failed, 1 already done" in capsys.readouterr().out
    assert store_elements(store) == ["H"]  # the only label level in the store is found
    with Store.open(store, readonly=True) as st:
        assert st.methods(having="forces") == [key]
    xtb = ["density", "compute", str(xyz), "--method", "xtb", "--forces", "--out", store]
    assert main(xtb) == 2
    assert "--forces applies to --method dft" in capsys.readouterr().err

"""DFT labels (PySCF) on water: forces are −∂E/∂R, the store job resumes, the fitted density keeps
the electron count and the DFT dipole, and the network's dipole formula reproduces it."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.densnet.labels import FORCE_UNIT, FORCES, LabelSettings, dft_energy_forces, run_labels
from rhoml.molecule import Molecule
from rhoml.testing import assert_forces_match_energy
from rhoml.units import convert

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


def test_run_labels_resumes_and_fit_keeps_count_and_dipole(water, tmp_path):
    import torch

    from rhoml.density.fit import fit_density
    from rhoml.densnet.basis import default_basis
    from rhoml.densnet.model import CoefficientNet, NetConfig
    from rhoml.densnet.prior import prior_table
    from rhoml.store.sqlite_store import Store

    store = tmp_path / "w.rhoml"
    assert run_labels(store, [water], FAST, progress=False)["done"] == 1
    assert run_labels(store, [water], FAST, progress=False) == {
        "done": 0,
        "skipped": 1,
        "failed": 0,
    }
    with Store.open(store) as st:
        dens = st.density(0, FAST.method)
        assert st.get_array(0, FORCES, unit=FORCE_UNIT).shape == (3, 3)
    basis = default_basis(("H", "O"))
    fit = fit_density(dens, basis.pyscf_basis())
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

"""Synthetic DenSNet training data without DFT: distorted water with fitted promolecule densities
as density targets and random energies and forces (as Frames, or written as a label store)."""

from __future__ import annotations

import numpy as np

from rhoml.molecule import Molecule

WATER = Molecule.from_symbols(
    ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
    id="water",
)  # fmt: skip


#: the smallest DenSNet network sections, for config files written by tests
TINY_NETS = """
[density_net]
channels = 4
vectors = 2
layers = 1

[energy_net]
channels = 4
vectors = 2
lmax = 1
lmax_sh = 1
layers = 1
"""


def water_molecules(n: int = 10, n_test: int = 2, seed: int = 0) -> list[Molecule]:
    """``n`` distorted waters (Å), the last ``n_test`` in the test split (by id), with energy
    (kcal/mol) and forces (kcal/mol/Å) labels drawn at random."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        split = "test" if i >= n - n_test else "train"
        m = Molecule(WATER.numbers, WATER.positions + 0.08 * rng.normal(size=(3, 3)),
                     id=f"w_{split}#{i}")  # fmt: skip
        m.labels = {"energy": float(-47000 + rng.normal()), "forces": rng.normal(size=(3, 3))}
        out.append(m)
    return out


def water_frames(basis, n: int = 10, n_test: int = 2):
    """:class:`~rhoml.represent.coefficients.Frame` objects of :func:`water_molecules` in
    ``basis``."""
    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.represent.coefficients import Frame

    frames = []
    for m in water_molecules(n, n_test):
        fit = fit_density(compute_promolecule(m), basis.pyscf_basis())
        metric = basis_only_mol(m, basis.pyscf_basis()).intor("int2c2e")
        split = "test" if "_test" in m.id else "train"
        frames.append(Frame(m, m.labels["energy"], m.labels["forces"], fit.data, metric, split))
    return frames


def write_label_store(path, n: int = 6, n_test: int = 2) -> list[Molecule]:
    """A label store at ``path`` as ``rhoml densnet labels`` writes it (record key of the
    default label level, energy and forces as record properties), with promolecule densities
    in place of the DFT ones."""
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.store import schema
    from rhoml.store.labels import LabelSettings
    from rhoml.store.sqlite_store import Store
    from rhoml.units import convert

    method = LabelSettings().method
    mols = water_molecules(n, n_test)
    with Store.create(path) as st:
        for i, m in zip(st.add_molecules(mols), mols, strict=True):
            dens = compute_promolecule(m)
            forces = convert(m.labels["forces"], "kcal/mol/angstrom", "hartree/bohr")
            energy = float(convert(m.labels["energy"], "kcal/mol", "hartree"))
            dens.properties = {schema.ENERGY: energy, schema.FORCES: np.asarray(forces)}
            dens.property_units = {schema.ENERGY: "hartree", schema.FORCES: "hartree/bohr"}
            st.put_density(i, method, dens, seconds=0.0)
    return mols


def small_potential(seed: int = 0):
    """An untrained small DenSNet (H, C, O; float64) as a loaded potential: random but smooth
    energies, forces and dipoles, for tests of everything that consumes a potential."""
    import torch

    from rhoml.density.flexible_basis import default_basis
    from rhoml.density.prior import prior_table
    from rhoml.families.densnet import model_for
    from rhoml.models.densnet.nets import NetConfig
    from rhoml.models.densnet.potential import DenSNet

    torch.manual_seed(seed)
    cfg = NetConfig(channels=8, vectors=4, lmax=1, lmax_sh=2, layers=1, cutoff=4.0, radial=6)
    basis = default_basis()
    scales = {el: np.full(basis.n_functions(el), 0.02) for el in basis.elements}
    m = DenSNet(basis, prior_table(basis), scales, cfg, cfg, {1: -0.5, 6: -1.0, 8: -2.0}, 30.0)
    m = m.double().eval()
    build = {**m.build_args(), "stages": ["density", "energy"]}
    build["meta"] = {"elements": ["H", "C", "O"], "atom_counts": [9]}
    return model_for(m, build)

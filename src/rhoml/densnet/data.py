"""Training data for DenSNet from a label store (:mod:`.labels`).

Each labelled molecule gives a :class:`Frame`: geometry (Å), DFT energy (kcal/mol), forces
(kcal/mol/Å), the DFT density fitted onto the flexible aux basis (Coulomb metric, electron count
preserved; PySCF AO order, electrons) and the Coulomb metric J (Hartree) of that basis, so losses
compare densities through (δρ|δρ) = δcᵀ J δc (optionally also the overlap matrix S, for the L²
loss ∫δρ² = δcᵀ S δc). Fits are cached in the store as arrays named ``densnet_fit:<basis key>``
(resumable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rhoml.densnet.basis import FlexibleBasis
from rhoml.densnet.labels import FORCE_UNIT, FORCES, LabelSettings
from rhoml.errors import InputError
from rhoml.molecule import Molecule
from rhoml.units import convert


@dataclass
class Frame:
    """One labelled geometry."""

    molecule: Molecule
    energy: float  # kcal/mol
    forces: np.ndarray  # (n_atoms, 3) kcal/mol/Å
    coeff: np.ndarray  # (naux,) fitted DFT density, electrons
    metric: np.ndarray  # (naux, naux) Coulomb metric (k|l), Hartree·e⁻²
    split: str  # "train" | "test" (from the rMD17 file name) | "other"
    store_index: int = -1
    overlap: np.ndarray | None = None  # (naux, naux) overlap ⟨k|l⟩, Bohr⁻³ (if requested)


def _split_of(mol: Molecule) -> str:
    stem = mol.id.split("#")[0]
    if "_test" in stem:
        return "test"
    if "_train" in stem:
        return "train"
    return "other"


def fit_key(basis: FlexibleBasis) -> str:
    return f"densnet_fit:{basis.key()}"


def load_frames(
    store_path,
    basis: FlexibleBasis,
    settings: LabelSettings | None = None,
    *,
    progress: bool = True,
    limit: int | None = None,
    overlap: bool = False,
) -> list[Frame]:
    """All frames with labels in ``store_path``, fitting (and caching) targets as needed
    (``overlap``: also store each frame's aux overlap matrix)."""
    from tqdm.auto import tqdm

    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.store.sqlite_store import Store

    s = settings or LabelSettings()
    key = fit_key(basis)
    frames = []
    with Store.open(store_path) as st:
        done = sorted(st.finished(s.method, include_failed=False))
        if not done:
            raise InputError(f"{store_path}: no {s.method} labels (run `rhoml densnet labels`)")
        done = done[:limit] if limit else done
        props = st.record_properties(s.method)
        for idx in tqdm(done, desc="densnet frames", unit="mol", disable=not progress):
            if st.has_array(idx, key):
                mol = st.molecule(idx)
                coeff = st.get_array(idx, key, unit="e")
                energy_ha = float(props[idx]["energy"])
            else:
                dens = st.density(idx, s.method)
                mol = dens.molecule
                fit = fit_density(dens, basis.pyscf_basis())
                coeff = fit.data
                st.put_array(idx, key, coeff, "e", basis=basis.name, metric="coulomb")
                energy_ha = float(dens.properties["energy"])
            forces = st.get_array(idx, FORCES, unit=FORCE_UNIT)
            auxmol = basis_only_mol(mol, basis.pyscf_basis())
            metric = auxmol.intor("int2c2e")
            frames.append(
                Frame(
                    mol,
                    float(convert(energy_ha, "hartree", "kcal/mol")),
                    forces,
                    coeff,
                    metric,
                    _split_of(mol),
                    idx,
                    auxmol.intor("int1e_ovlp") if overlap else None,
                )
            )
    return frames


def store_elements(store_path, settings: LabelSettings | None = None) -> list[str]:
    """Element symbols of the labelled molecules in a store, by atomic number."""
    from rhoml.elements import symbol
    from rhoml.store.sqlite_store import Store

    s = settings or LabelSettings()
    with Store.open(store_path, readonly=True) as st:
        zs = {
            int(z)
            for i in st.finished(s.method, include_failed=False)
            for z in st.molecule(i).numbers
        }
    if not zs:
        raise InputError(f"{store_path}: no {s.method} labels (run `rhoml densnet labels`)")
    return [symbol(z) for z in sorted(zs)]

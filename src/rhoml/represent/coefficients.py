"""Training data for DenSNet from a label store (:mod:`.labels`).

Labels are the ok records of one ``dft`` record key whose properties hold ``energy`` and
``forces`` (:func:`label_method` finds it: the default label level, else the only such key).

Each labelled molecule gives a :class:`Frame`: geometry (Å), DFT energy (kcal/mol), forces
(kcal/mol/Å), the DFT density fitted onto the flexible aux basis (Coulomb metric, electron count
preserved; PySCF AO order, electrons) and the Coulomb metric J (Hartree) of that basis, so losses
compare densities through (δρ|δρ) = δcᵀ J δc (optionally also the overlap matrix S, for the L²
loss ∫δρ² = δcᵀ S δc). Fits are cached in the store as arrays named ``densnet_fit:<basis key>``
(resumable).

:func:`energy_frames` reads frames with energies and forces only (no density: ``coeff`` and
``metric`` empty) from any molecule file with ``energy``/``forces`` labels, e.g. the rMD17
training file for the energy stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rhoml.density.flexible_basis import FlexibleBasis
from rhoml.errors import InputError
from rhoml.molecule import Molecule
from rhoml.store import schema
from rhoml.store.labels import FORCE_UNIT, LabelSettings
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
    """Store array name of the cached fits onto ``basis`` (:data:`schema.DENSNET_FIT`)."""
    return schema.DENSNET_FIT.replace("<basis>", basis.key())


def label_method(store, settings: LabelSettings | None = None) -> str:
    """Record key of the labels in an open store: that of ``settings`` if given; else the
    default label level if present, else the only key whose records hold forces."""
    if settings is not None:
        return settings.method
    default = LabelSettings().method
    with_forces = store.methods(having=schema.FORCES)
    if default in with_forces or not with_forces:
        return default
    if len(with_forces) > 1:
        raise InputError(
            f"{store.path}: several label levels ({', '.join(with_forces)}), none the default "
            f"{default}; keep one label level per store"
        )
    return with_forces[0]


def _no_labels(path, method: str) -> InputError:
    return InputError(
        f"{path}: no {method} labels (run `rhoml densnet labels` or "
        "`rhoml density compute --method dft --forces`)"
    )


def label_values(record: dict, where: str) -> tuple[float, np.ndarray]:
    """(energy in kcal/mol, forces (n_atoms, 3) in kcal/mol/Å) of a label record
    (:meth:`Store.records` row), converted from their stored units."""
    props, units = record["properties"], record["property_units"]
    missing = [k for k in (schema.ENERGY, schema.FORCES) if k not in props]
    if missing:
        raise InputError(f"{where}: {record['method']} record has no {' or '.join(missing)}")
    energy = float(convert(props[schema.ENERGY], units[schema.ENERGY], "kcal/mol"))
    forces = convert(np.asarray(props[schema.FORCES], float), units[schema.FORCES], FORCE_UNIT)
    return energy, forces


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

    key = fit_key(basis)
    frames = []
    with Store.open(store_path) as st:
        method = label_method(st, settings)
        records = {r["molecule"]: r for r in st.records(method) if r["status"] == schema.STATUS_OK}
        done = sorted(records)
        if not done:
            raise _no_labels(store_path, method)
        done = done[:limit] if limit else done
        for idx in tqdm(done, desc="densnet frames", unit="mol", disable=not progress):
            energy, forces = label_values(records[idx], f"{store_path}: molecule {idx}")
            if st.has_array(idx, key):
                mol = st.molecule(idx)
                coeff = st.get_array(idx, key, unit="e")
            else:
                dens = st.density(idx, method)
                mol = dens.molecule
                fit = fit_density(dens, basis.pyscf_basis())
                coeff = fit.data
                st.put_array(idx, key, coeff, "e", basis=basis.name, metric="coulomb")
            auxmol = basis_only_mol(mol, basis.pyscf_basis())
            metric = auxmol.intor("int2c2e")
            frames.append(
                Frame(
                    mol,
                    energy,
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

    with Store.open(store_path, readonly=True) as st:
        method = label_method(st, settings)
        zs = {
            int(z)
            for i in st.finished(method, include_failed=False)
            for z in st.molecule(i).numbers
        }
    if not zs:
        raise _no_labels(store_path, method)
    return [symbol(z) for z in sorted(zs)]


def energy_frames(path, split: str = "other") -> list[Frame]:
    """Frames of every molecule in ``path`` (any file :func:`rhoml.io.read_molecules` reads)
    with its ``energy`` (→ kcal/mol) and ``forces`` (→ kcal/mol/Å) labels converted from their
    recorded units; no density (``coeff`` (0,), ``metric`` (0, 0)). Raises
    :class:`InputError` naming the file when a frame lacks either label or its unit."""
    from rhoml.io import read_molecules

    frames = []
    for k, m in enumerate(read_molecules(path)):
        units = m.label_units or {}
        missing = [q for q in (schema.ENERGY, schema.FORCES) if q not in m.labels or q not in units]
        if missing:
            raise InputError(f"{path}: frame {k} ({m.id}) has no {' or '.join(missing)} label "
                             "with a unit")  # fmt: skip
        energy = float(convert(m.labels[schema.ENERGY], units[schema.ENERGY], "kcal/mol"))
        forces = np.asarray(convert(np.asarray(m.labels[schema.FORCES], float),
                                    units[schema.FORCES], FORCE_UNIT))  # fmt: skip
        if forces.shape != (len(m.numbers), 3):
            raise InputError(f"{path}: frame {k} ({m.id}) forces of shape {forces.shape}")
        frames.append(Frame(m, energy, forces, np.zeros(0), np.zeros((0, 0)), split, k))
    if not frames:
        raise InputError(f"{path}: no frames")
    return frames

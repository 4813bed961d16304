"""Kohn–Sham DFT densities with PySCF (GPU4PySCF when a CUDA GPU and the package are present).

Defaults follow the seed papers: B3LYP/6-31G**, density fitting on. The returned density matrix is
all-electron, in the orbital basis; energies are in Hartree and dipoles in Debye. With
``forces=True`` the same SCF also gives the analytic nuclear gradient: ``properties["forces"]``
= −∂E/∂R, (n_atoms, 3) in Hartree/Bohr. :data:`LABEL_SETTINGS` is the level of the DenSNet
training labels (PBE/def2-SVP, grid level 4, RI-J: the level of rMD17).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from rhoml.density.base import Density
from rhoml.density.basis import build_mol, mol_basis_dict
from rhoml.errors import CalculationError, InputError
from rhoml.molecule import Molecule


@dataclass(frozen=True)
class DFTSettings:
    """Level of theory and numerical settings of a DFT calculation."""

    functional: str = "B3LYP"
    basis: str = "6-31G**"
    density_fit: bool = True
    auxbasis: str | None = None  # None: PySCF's JKFIT partner of the orbital basis
    grid_level: int = 3
    conv_tol: float = 1e-9
    max_cycle: int = 100
    gpu: str = "auto"  # "auto" | "never" | "always"
    forces: bool = False  # also the analytic gradient: properties["forces"], Hartree/Bohr

    @property
    def level(self) -> str:
        return f"{self.functional}/{self.basis}"


#: Energy, forces and density at the level of rMD17 (PySCF with RI-J reproduces rMD17 energies to
#: a constant offset and forces to 0.002 kcal/mol/Å): the DenSNet training labels.
LABEL_SETTINGS = DFTSettings(
    functional="PBE", basis="def2-SVP", grid_level=4, conv_tol=1e-10, forces=True
)

#: Fields of :class:`DFTSettings` that name a label level in a store record key.
LABEL_FIELDS = ("functional", "basis", "grid_level", "conv_tol", "density_fit", "forces")


def label_options(**overrides) -> dict:
    """Engine options of a DenSNet label level (:data:`LABEL_SETTINGS` with ``overrides``): the
    options of a batch ``MethodSpec("dft", ...)``, so a level always gets the same record key."""
    base = asdict(LABEL_SETTINGS)
    unknown = set(overrides) - set(LABEL_FIELDS)
    if unknown:
        raise TypeError(f"unknown label settings: {', '.join(sorted(unknown))}")
    return {k: overrides.get(k, base[k]) for k in LABEL_FIELDS}


def gpu_available() -> bool:
    """True when GPU4PySCF imports and a CUDA device is visible."""
    try:
        import cupy  # noqa: F401
        import gpu4pyscf  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _make_scf(mol, settings: DFTSettings):
    from pyscf import dft

    mf = dft.RKS(mol) if mol.spin == 0 else dft.UKS(mol)
    mf.xc = settings.functional
    mf.grids.level = settings.grid_level
    mf.conv_tol = settings.conv_tol
    mf.max_cycle = settings.max_cycle
    mf.verbose = 0
    if settings.density_fit:
        mf = mf.density_fit(auxbasis=settings.auxbasis)
    return mf


def _gradient(mf, molecule: Molecule, settings: DFTSettings) -> np.ndarray:
    """Analytic nuclear gradient dE/dR (n_atoms, 3) in Hartree/Bohr of a converged SCF."""
    try:
        grad = mf.nuc_grad_method()
        grad.verbose = 0
        g = grad.kernel()
    except Exception as exc:
        raise CalculationError(
            f"{molecule.id}: gradient failed ({settings.level}): {type(exc).__name__}: {exc}"
        ) from None
    g = g.get() if hasattr(g, "get") else g  # GPU4PySCF may return a CuPy array
    return np.asarray(g, dtype=np.float64).reshape(molecule.n_atoms, 3)


def _exact_exchange(mf) -> float:
    """The exact (Hartree–Fock) exchange part of the SCF's exchange-correlation energy, in
    Hartree: E_xc of the SCF minus the functional's own XC integrated on the grid (0 for pure
    functionals). Psi4 counts it in its "two-electron energy" (EDG's E4), PySCF in E_xc."""
    ni = getattr(mf, "_numint", None)
    if ni is None or not ni.libxc.is_hybrid_xc(mf.xc):
        return 0.0
    dm = np.asarray(mf.make_rdm1())
    integrate = ni.nr_uks if dm.ndim == 3 else ni.nr_rks
    _, exc, _ = integrate(mf.mol, mf.grids, mf.xc, dm)
    return float(mf.scf_summary["exc"] - exc)


def compute_dft(molecule: Molecule, settings: DFTSettings | None = None, **overrides) -> Density:
    """Run RKS (closed shell) or UKS (open shell) on ``molecule`` and return its density.

    Keyword ``overrides`` replace fields of ``settings`` (e.g. ``functional="PBE"``);
    ``forces=True`` adds ``properties["forces"]`` (−∂E/∂R, Hartree/Bohr) from the same SCF.
    Raises :class:`~rhoml.errors.CalculationError` if the SCF does not converge.
    """
    import pyscf

    settings = settings or DFTSettings()
    if overrides:
        settings = DFTSettings(**{**asdict(settings), **overrides})
    try:
        mol = build_mol(molecule, settings.basis)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise InputError(f"{molecule.id}: cannot build basis {settings.basis}: {exc}") from None
    mf = _make_scf(mol, settings)
    use_gpu = settings.gpu == "always" or (settings.gpu == "auto" and gpu_available())
    if use_gpu:
        mf = mf.to_gpu()
    start = time.perf_counter()
    try:
        mf.kernel()
    except Exception as exc:  # PySCF raises assorted errors on pathological input
        raise CalculationError(f"{molecule.id}: SCF failed: {type(exc).__name__}: {exc}") from None
    if not mf.converged:
        raise CalculationError(
            f"{molecule.id}: SCF not converged in {settings.max_cycle} cycles "
            f"({settings.level}, last energy {float(mf.e_tot):.8f} Ha)"
        )
    gradient = _gradient(mf, molecule, settings) if settings.forces else None
    if use_gpu:
        mf = mf.to_cpu()
    seconds = time.perf_counter() - start
    dm = np.asarray(mf.make_rdm1())
    if dm.ndim == 3:  # UKS: alpha + beta
        dm = dm[0] + dm[1]
    summary = dict(mf.scf_summary)
    mo_e = np.asarray(mf.mo_energy)
    occ = np.asarray(mf.mo_occ)
    if mo_e.ndim == 2:
        mo_e, occ = mo_e.ravel(), occ.ravel()
    homo = float(mo_e[occ > 0].max())
    lumo = float(mo_e[occ == 0].min()) if np.any(occ == 0) else float("nan")
    dip = np.asarray(mf.dip_moment(unit="Debye", verbose=0))
    props = {
        "energy": float(mf.e_tot),
        "energy_nuclear_repulsion": float(summary.get("nuc", mol.energy_nuc())),
        "energy_one_electron": float(summary["e1"]),
        "energy_coulomb": float(summary["coul"]),
        "energy_xc": float(summary["exc"]),
        "energy_exact_exchange": _exact_exchange(mf),
        "homo": homo,
        "lumo": lumo,
        "gap": lumo - homo,
        "dipole": dip,
        "scf_cycles": int(getattr(mf, "cycles", -1)),
        "seconds": seconds,
    }
    units = {k: "hartree" for k in props if k.startswith("energy") or k in ("homo", "lumo", "gap")}
    units |= {"dipole": "debye", "scf_cycles": "dimensionless", "seconds": "s"}
    if gradient is not None:
        props["forces"] = -gradient
        units["forces"] = "hartree/bohr"
    scf_aux = None
    if settings.density_fit and getattr(mf, "with_df", None) is not None:
        scf_aux = mf.with_df.auxbasis or "pyscf-default-jkfit"
    return Density(
        molecule=molecule,
        basis=mol_basis_dict(mol),
        kind="density_matrix",
        data=dm,
        nuclear_charges=molecule.numbers.astype(float),
        engine="dft",
        level=settings.level,
        valence=False,
        properties=props,
        property_units=units,
        provenance={
            "pyscf": pyscf.__version__,
            "gpu4pyscf": use_gpu,
            "settings": asdict(settings),
            "scf_auxbasis": scf_aux,
            "open_shell": bool(mol.spin),
            "gradient": "analytic" if gradient is not None else None,
        },
    )

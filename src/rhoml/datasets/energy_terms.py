"""DFT energy terms as regression targets: the analogue of EDG's Table 4 (Xiang et al., IJCAI
2025, appendix §B), where point clouds, voxels and images of the same molecules predict the
terms Psi4 prints for a DFT calculation.

EDG's E1–E6 are Psi4's "DF-RKS Final Energy", "Nuclear Repulsion Energy", "One-Electron Energy",
"Two-Electron Energy", "DFT Exchange-Correlation Energy" and "Total Energy". rhoml's DFT engine
(PySCF) records the same decomposition in the store's record properties, with the exact exchange
of hybrid functionals kept apart (:data:`rhoml.store.schema.ENERGY_EXACT_EXCHANGE`) because the two
programs book it differently: Psi4's two-electron energy is Coulomb + exact exchange and its DFT
XC energy excludes it, while PySCF's ``exc`` includes it. The terms here follow Psi4:

* ``scf_final`` (E1) = ``energy``;
* ``nuclear_repulsion`` (E2) = ``energy_nuclear_repulsion``;
* ``one_electron`` (E3) = ``energy_one_electron``;
* ``two_electron`` (E4) = ``energy_coulomb`` + ``energy_exact_exchange``;
* ``dft_xc`` (E5) = ``energy_xc`` − ``energy_exact_exchange``;
* ``total`` (E6) = ``energy`` (equal to E1 without dispersion corrections, as in EDG's data).

E2 + E3 + E4 + E5 = E6 to round-off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rhoml.errors import InputError

__all__ = ["EDG_LABELS", "TERMS", "energy_terms"]

#: the terms, in EDG's order E1–E6
TERMS = ("scf_final", "nuclear_repulsion", "one_electron", "two_electron", "dft_xc", "total")
#: EDG's names of :data:`TERMS`
EDG_LABELS = dict(zip(TERMS, ("E1", "E2", "E3", "E4", "E5", "E6"), strict=True))

_NEEDED = ("energy", "energy_nuclear_repulsion", "energy_one_electron", "energy_coulomb",
           "energy_xc", "energy_exact_exchange")  # fmt: skip


def _terms(p: dict) -> list[float]:
    k = float(p["energy_exact_exchange"])
    return [float(p["energy"]), float(p["energy_nuclear_repulsion"]),
            float(p["energy_one_electron"]), float(p["energy_coulomb"]) + k,
            float(p["energy_xc"]) - k, float(p["energy"])]  # fmt: skip


def energy_terms(store, method: str = "dft", *, terms: Sequence[str] = TERMS,
                 unit: str = "hartree") -> tuple[list[int], list[str], np.ndarray]:  # fmt: skip
    """The energy terms of every molecule of ``store`` with an ok ``method`` record (a DFT
    record key): (store indices, molecule ids, values (N, len(terms)) float64 in ``unit``), in
    store order. One-line :class:`InputError` when the store has no such records or a record
    lacks a term (records written before ``energy_exact_exchange`` existed: recompute them)."""
    from rhoml.store.sqlite_store import Store
    from rhoml.units import convert

    bad = [t for t in terms if t not in TERMS]
    if bad:
        raise InputError(f"unknown energy term(s) {', '.join(bad)}; choose from {', '.join(TERMS)}")
    cols = [TERMS.index(t) for t in terms]
    with Store.open(store, readonly=True) as st:
        props = st.record_properties(method)
        if not props:
            raise InputError(f"{st.path}: no ok {method!r} records (rhoml density compute ...)")
        indices = sorted(props)
        for idx in indices:
            missing = [k for k in _NEEDED if k not in props[idx]]
            if missing:
                raise InputError(
                    f"{st.path}: {method} record of molecule {idx} lacks {', '.join(missing)} "
                    "(written by an older rhoml or another engine; recompute it)"
                )
        ids = [st.molecule(i).id for i in indices]
    values = np.array([_terms(props[i]) for i in indices], dtype=np.float64)[:, cols]
    return indices, ids, convert(values, "hartree", unit)

"""QM9 molecules with DFT energy terms: the data of the energy-term study (EDG Table 4 analogue).

A seeded random sample of qm9pack's 130,831 molecules (any prefix of the sample is itself a
random sample, so an interrupted run still gives usable data) gets one DFT calculation each with
the resumable batch runner; the store's DFT records then carry the energy terms read by
:func:`rhoml.datasets.energy_terms.energy_terms`. The default level is the DFT engine's
functional with a cheaper basis and grid, so that a few hundred molecules fit a CPU budget of
under an hour (B3LYP/6-31G, grid level 1: about 7 s per 18-atom molecule on one core).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CPU_LEVEL", "prepare_qm9", "qm9_rows"]

#: DFT engine options of the CPU-scale study (the record key follows from them)
CPU_LEVEL: dict = {"functional": "B3LYP", "basis": "6-31G", "grid_level": 1, "conv_tol": 1e-8}


def qm9_rows(n: int, seed: int = 0) -> np.ndarray:
    """``n`` QM9 row indices (0-based, into qm9pack's order), a prefix of a permutation seeded
    with ``seed``."""
    from rhoml.io.qm9 import QM9_SIZE

    return np.random.default_rng([seed, 13]).permutation(QM9_SIZE)[:n]


def prepare_qm9(store, n: int, *, seed: int = 0, options: dict | None = None, workers: int = 1,
                progress: bool = True) -> str:  # fmt: skip
    """Add ``n`` sampled QM9 molecules to ``store`` and compute their DFT records at
    ``options`` (default :data:`CPU_LEVEL`); resumable. Returns the record key."""
    from rhoml.io.qm9 import load_qm9
    from rhoml.store.batch import MethodSpec, run_batch

    spec = MethodSpec("dft", dict(CPU_LEVEL if options is None else options))
    mols = load_qm9(indices=qm9_rows(n, seed))
    run_batch(store, mols, spec, workers=workers, progress=progress)
    return spec.key

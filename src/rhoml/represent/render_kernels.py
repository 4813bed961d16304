"""Compiled (numba) CPU kernels of the renderer (:mod:`rhoml.represent.render_raster`).

Compiled on first use and cached on disk; single-threaded.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _ray_ends(f, first, last):
    B, D, P = f.shape
    for b in range(B):
        for p in range(P):
            prev = f[b, 0, p] > 0.0
            for k in range(D - 1):
                cur = f[b, k + 1, p] > 0.0
                if cur != prev:
                    first[b, p] = k
                    break
                prev = cur
            if first[b, p] < 0:
                continue
            prev = f[b, D - 1, p] > 0.0
            for k in range(D - 2, -1, -1):
                cur = f[b, k, p] > 0.0
                if cur != prev:
                    last[b, p] = k
                    break
                prev = cur


def ray_ends(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth index k of the first and of the last sign change (between samples k and k + 1)
    along every ray of f (B, D, P) (samples near → far): two (B·P,) int64 arrays, −1 for rays
    without a change."""
    B, D, P = f.shape
    first = np.full((B, P), -1, dtype=np.int64)
    last = np.full((B, P), -1, dtype=np.int64)
    if D > 1:
        _ray_ends(f, first, last)
    return first.reshape(-1), last.reshape(-1)

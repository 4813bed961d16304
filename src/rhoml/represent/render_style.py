"""Colours, radii and bonds for the renderer: the ESP colour ramp and the ball-and-stick model."""

from __future__ import annotations

import numpy as np

from rhoml.elements import BOND_TOLERANCE, bonded_pairs

# Jmol CPK colours (jmol.sourceforge.net/jscolors), RGB in [0, 1]; other elements get DEFAULT.
CPK: dict[int, tuple[float, float, float]] = {
    1: (1.0, 1.0, 1.0), 5: (1.0, 0.71, 0.71), 6: (0.565, 0.565, 0.565),
    7: (0.188, 0.314, 0.973), 8: (1.0, 0.051, 0.051), 9: (0.565, 0.878, 0.314),
    14: (0.941, 0.784, 0.627), 15: (1.0, 0.502, 0.0), 16: (1.0, 1.0, 0.188),
    17: (0.122, 0.941, 0.122), 35: (0.651, 0.161, 0.161), 53: (0.580, 0.0, 0.580),
}  # fmt: skip
DEFAULT_COLOUR = (1.0, 0.078, 0.576)


def to_rgb(colour) -> tuple[float, float, float]:
    """A colour name ('red', '#ff0000') or an RGB triple in [0, 1] → RGB tuple."""
    if isinstance(colour, str):
        from matplotlib.colors import to_rgb as _to_rgb

        return tuple(float(c) for c in _to_rgb(colour))  # type: ignore[return-value]
    rgb = tuple(float(c) for c in colour)
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise ValueError(f"colour must be a name or three values in [0, 1], got {colour!r}")
    return rgb  # type: ignore[return-value]


def ramp(values, stops, colours):
    """Piecewise-linear colour ramp, clamped at the ends (PyMOL ``ramp_new`` semantics).

    ``values`` torch tensor (...,) (e.g. ESP in Hartree/e), ``stops`` increasing (n,),
    ``colours`` (n, 3) RGB → tensor (..., 3)."""
    import torch

    stops_t = torch.as_tensor(np.asarray(stops, dtype=np.float32), device=values.device)
    cols = torch.as_tensor(np.asarray(colours, dtype=np.float32), device=values.device)
    v = values.clamp(stops_t[0], stops_t[-1])
    i = torch.searchsorted(stops_t, v.contiguous(), right=True).clamp(1, len(stops) - 1)
    lo, hi = stops_t[i - 1], stops_t[i]
    w = ((v - lo) / (hi - lo)).unsqueeze(-1)
    return cols[i - 1] * (1.0 - w) + cols[i] * w


def atom_colours(numbers) -> np.ndarray:
    """CPK colours (n_atoms, 3)."""
    return np.array([CPK.get(int(z), DEFAULT_COLOUR) for z in numbers], dtype=np.float32)


def bonds(numbers, positions) -> np.ndarray:
    """Bonded atom pairs (n_bonds, 2), i < j (:func:`rhoml.elements.bonded_pairs`)."""
    return bonded_pairs(numbers, positions, BOND_TOLERANCE)

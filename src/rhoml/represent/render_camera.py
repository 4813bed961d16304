"""Views and the orthographic camera used by :mod:`rhoml.represent.render`.

A view ``(axis, angle)`` (degrees) turns the molecule, about its centre, by ``angle`` around the
camera's ``axis`` (right-hand rule), then looks at it along −z' of the turned frame: image
columns run along +x' (left → right), image rows along −y' (top → bottom, so +y' is up), and the
viewer sits at +z'. This is the convention of PyMOL's ``turn axis, angle`` from the default view
(camera on +z, x right, y up): in ``benchmarks/render_vs_pymol.py`` PyMOL's ``turn`` views and
rhoml's, from the same camera, overlap with silhouette IoU ≈ 0.93, against ≈ 0.6 when PyMOL's
view of the opposite angle is compared (three QM9 molecules, six views).

Depth convention (the D channel): ``t`` is the distance in Å from the near plane z' = +R to the
first visible surface, along the viewing direction, where R is the bounding radius of everything
drawn (the same for all views of one molecule); the stored depth is ``t / 2R`` in [0, 1]
(0 = near plane, 1 = far plane), and background pixels are 1. The image spans [−R, R] in x' and
y', so one pixel is ``2R / size`` Å (kept in the array metadata).
"""

from __future__ import annotations

import numpy as np

#: EDG (Xiang et al., §3.3): the six ED views, (axis, degrees).
EDG_DENSITY_VIEWS: tuple[tuple[str, float], ...] = (
    ("x", 0.0), ("x", 180.0), ("x", 90.0), ("x", -90.0), ("y", 90.0), ("y", -90.0),
)  # fmt: skip
#: EDG teacher (Xiang et al., §3.5): the four structural views.
EDG_STRUCTURE_VIEWS: tuple[tuple[str, float], ...] = (
    ("x", 0.0), ("x", 180.0), ("y", 180.0), ("z", 180.0),
)  # fmt: skip

_AXES = {"x": 0, "y": 1, "z": 2}


def rotation(axis: str, degrees: float) -> np.ndarray:
    """Right-handed rotation matrix (3, 3) by ``degrees`` about ``axis`` ('x', 'y' or 'z').

    Angles that are multiples of 90° give exact signed permutation matrices."""
    if axis not in _AXES:
        raise ValueError(f"view axis must be x, y or z, got {axis!r}")
    a = float(degrees) % 360.0
    exact = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}
    c, s = exact.get(a, (np.cos(np.radians(a)), np.sin(np.radians(a))))
    i = _AXES[axis]
    j, k = (i + 1) % 3, (i + 2) % 3
    r = np.eye(3)
    r[j, j], r[j, k], r[k, j], r[k, k] = c, -s, s, c
    return r


def view_rotation(view) -> np.ndarray:
    """Rotation (3, 3) of a view: a single ``(axis, degrees)`` or a sequence of them applied in
    order (PyMOL's successive ``turn`` commands)."""
    if isinstance(view[0], str):
        return rotation(view[0], view[1])
    r = np.eye(3)
    for axis, deg in view:
        r = rotation(axis, deg) @ r
    return r


def signed_permutation(rot: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
    """``(perm, sign)`` with ``rot[a, perm[a]] = sign[a]`` if ``rot`` is a signed permutation,
    else None (then the renderer takes its general, slower path)."""
    perm = tuple(int(i) for i in np.argmax(np.abs(rot), axis=1))
    if sorted(perm) != [0, 1, 2]:
        return None
    sign = tuple(int(np.sign(rot[a, perm[a]])) for a in range(3))
    ref = np.zeros((3, 3))
    for a in range(3):
        ref[a, perm[a]] = sign[a]
    if not np.allclose(rot, ref, atol=1e-12):
        return None
    return perm, sign  # type: ignore[return-value]


def pixel_coordinates(size: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """View-frame coordinates (Å) of pixel centres: x' per column (size,), y' per row (size,)."""
    step = 2.0 * radius / size
    x = -radius + (np.arange(size) + 0.5) * step
    return x, -x

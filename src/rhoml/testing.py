"""Symmetry and gradient testers for rhoml models (in the style of e3nn's ``util/test.py``).

Every ``assert_*`` helper evaluates the function under test on transformed copies of its input
and raises :class:`AssertionError` naming the transformation, the output, the largest deviation,
where it is, and the tolerance; on success it returns the largest deviation found per
transformation. Helpers work in float64: positions are passed as float64 and floating outputs of
lower precision are refused (``TypeError``), since a float32 round-off of 1e-6 hides real bugs.

Molecular functions are called as ``fn(numbers, positions)`` with ``numbers`` (n_atoms,) int64
atomic numbers and ``positions`` (n_atoms, 3) float64 in Å (``fn(numbers, positions, points)``
for fields, ``points`` (m, 3) Å). They may return a numpy array, a torch tensor (detached here),
a Python number, or a tuple/dict of these, one entry per declared output kind:

========================  ===================================================================
kind                      how an output transforms under x → R x + t and atom permutation P
========================  ===================================================================
``"scalar"``              unchanged (any shape: energy, a vector of invariant properties)
``"atom"``                per-atom scalars, axis 0 atoms: permuted (charges)
``"vector"``              (..., 3): rotated, R v; translation-invariant (dipole of a neutral
                          molecule; pass ``translation=False`` for a charged one)
``"pseudovector"``        (..., 3): det(R)·R v
``"atom_vector"``         (n_atoms, 3): rotated and permuted (forces)
``"field"``               values at ``points`` (m, ...), points moved with the molecule (density)
``"field_vector"``        (m, 3) vectors at ``points`` (density gradient): rotated
``"coefficients"``        flat per-atom blocks of real-harmonic coefficients (naux,): rotated with
                          Wigner-D blocks (see :func:`wigner_d`) and permuted block-wise
========================  ===================================================================

Tolerances are element-wise, numpy style: ``|got − expected| ≤ atol + rtol·|expected|``, in the
output's own units; the defaults (1e-9 both) suit float64 models. Random transformations are
seeded (``seed``), so a failure is reproducible.

Voxel grids use exact 90° rotations (:func:`cube_rotations`, :func:`rotate_grid`), which map a
cubic grid onto itself: a correct voxeliser is then equivariant to round-off, with no
interpolation error to hide behind.

torch, e3nn and PySCF are imported only inside the helpers that need them; importing this module
has no side effects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "assert_coefficients_equivariant",
    "assert_equivariant",
    "assert_field_equivariant",
    "assert_forces_match_energy",
    "assert_grid_equivariant",
    "assert_invariant",
    "assert_vector_equivariant",
    "assert_voxel_invariant",
    "coefficient_rotation",
    "cube_rotations",
    "random_rotation",
    "rotate_grid",
    "wigner_d",
]

KINDS = (
    "scalar",
    "atom",
    "vector",
    "pseudovector",
    "atom_vector",
    "field",
    "field_vector",
    "coefficients",
)
HARMONIC_ORDERS = ("e3nn", "pyscf")


# -- rotations ------------------------------------------------------------------------------------
def random_rotation(seed: int | np.random.Generator | None = None, *, reflection: bool = False):
    """A uniformly random orthogonal matrix (3, 3) float64 (QR of a Gaussian matrix, sign-fixed).

    Proper (det +1) by default; ``reflection=True`` gives an improper one (det −1, a rotation
    times a mirror). ``seed`` is an int, a numpy ``Generator`` or None (fresh entropy).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))[None, :]
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflection:
        q = q @ np.diag([1.0, 1.0, -1.0])
    return q


def cube_rotations(reflections: bool = False) -> np.ndarray:
    """The 24 proper rotations of the cube (48 with ``reflections``) as int matrices (k, 3, 3).

    Signed permutation matrices: each maps a cubic grid centred on the origin onto itself.
    The identity comes first.
    """
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3), dtype=np.int64)
            m[np.arange(3), perm] = signs
            if reflections or round(np.linalg.det(m)) == 1:
                mats.append(m)
    return np.array(mats)


def _signed_permutation(rotation) -> np.ndarray:
    m = np.asarray(rotation, dtype=float)
    r = np.rint(m)
    ok = m.shape == (3, 3) and np.abs(m - r).max() <= 1e-12
    if not (ok and (np.abs(r).sum(0) == 1).all() and (np.abs(r).sum(1) == 1).all()):
        raise ValueError(f"not an exact 90° grid rotation (a signed permutation matrix): {m}")
    return r.astype(np.int64)


def rotate_grid(values, rotation):
    """Rotate values on a cubic grid (..., n, n, n) by an exact 90° rotation (3, 3) about the
    grid centre: ``out[p] = values[Rᵀ p]`` with p the grid point relative to the centre, i.e.
    the grid of the object rotated by R. numpy array or torch tensor in, same type out.

    Implemented as an explicit index gather (independent of
    :func:`rhoml.represent.voxel.rotate_voxels`, which it is used to test).
    """
    m = _signed_permutation(rotation)
    shape = tuple(values.shape[-3:])
    if len(shape) != 3 or len(set(shape)) != 1:
        raise ValueError(f"rotate_grid needs a cubic grid (..., n, n, n), got shape {shape}")
    n = shape[0]
    twice = 2 * np.arange(n) - (n - 1)  # 2 × coordinate relative to the centre (integers)
    p = np.stack(np.meshgrid(twice, twice, twice, indexing="ij"), axis=-1)  # (n, n, n, 3)
    src = (p @ m + (n - 1)) // 2  # Rᵀ p, back to indices (p @ m = (mᵀ p) row-wise)
    i, j, k = src[..., 0], src[..., 1], src[..., 2]
    if not isinstance(values, np.ndarray):  # torch
        import torch

        i, j, k = (torch.as_tensor(a, device=values.device) for a in (i, j, k))
    return values[..., i, j, k]


# -- real spherical harmonics: Wigner-D in e3nn's or PySCF's component order ----------------------
def _harmonics(l: int, directions: np.ndarray, order: str) -> np.ndarray:
    """Real harmonics of degree l at unit ``directions`` (m, 3): (m, 2l+1), in ``order``."""
    if order == "e3nn":
        import torch
        from e3nn import o3

        return o3.spherical_harmonics(l, torch.from_numpy(directions), normalize=True).numpy()
    if order == "pyscf":
        from pyscf import gto

        atom = gto.M(atom=[("He", (0.0, 0.0, 0.0))], basis={"He": [[l, [1.0, 1.0]]]},
                     unit="Bohr", spin=0, verbose=0)  # fmt: skip
        return atom.eval_gto("GTOval_sph", directions)  # radial factor constant on the sphere
    raise ValueError(f"order must be one of {HARMONIC_ORDERS}, got {order!r}")


def wigner_d(l: int, rotation, *, order: str = "e3nn") -> np.ndarray:
    """(2l+1, 2l+1) matrix D with c' = D c for the coefficients c of Σ c_m Y_lm(r̂) under
    ``rotation`` (3, 3) (proper or improper: parity (−1)^l, as for a density).

    ``order`` is the component order of the real harmonics: ``"e3nn"`` (e3nn's
    ``spherical_harmonics``; D equals ``o3.Irrep(l, (-1)**l).D_from_matrix(R)``) or ``"pyscf"``
    (PySCF's real spherical GTOs, p = (x, y, z)); the two differ by the matrices of
    :func:`rhoml.density.flexible_basis.pyscf_from_e3nn`. D is obtained from the harmonics
    themselves
    (least squares of Y(Rᵀ r̂) on Y(r̂) at random directions), exact to round-off (~1e-14), where
    e3nn's ``D_from_matrix`` goes through Euler angles and is good to ~1e-6 only.
    """
    r = np.asarray(rotation, dtype=np.float64)
    if l == 0:
        return np.ones((1, 1))
    dirs = np.random.default_rng(1234).normal(size=(8 * l + 8, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    y0 = _harmonics(l, dirs, order)
    y1 = _harmonics(l, dirs @ r, order)  # rows Y(Rᵀ r̂): the rotated function's values
    # Σ c_m Y_m(Rᵀ r) = Σ c'_m Y_m(r)  ⇔  y1 c = y0 c' for all c  ⇔  D = lstsq(y0, y1)
    d, *_ = np.linalg.lstsq(y0, y1, rcond=None)
    resid = np.abs(y0 @ d - y1).max()
    if resid > 1e-10 * np.abs(y1).max():
        raise ValueError(f"rotation is not orthogonal (harmonic fit residual {resid:.1e}): {r}")
    return d


def _element_blocks(numbers, rotation, shells, order: str) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for z in sorted({int(z) for z in numbers}):
        ls = shells(z) if callable(shells) else shells[z]
        dims = [2 * int(l) + 1 for l in ls]
        block = np.zeros((sum(dims), sum(dims)))
        cache: dict[int, np.ndarray] = {}
        o = 0
        for l, d in zip(ls, dims, strict=True):
            if int(l) not in cache:
                cache[int(l)] = wigner_d(int(l), rotation, order=order)
            block[o : o + d, o : o + d] = cache[int(l)]
            o += d
        out[z] = block
    return out


def coefficient_rotation(numbers, rotation, shells, *, order: str = "pyscf") -> np.ndarray:
    """(naux, naux) block-diagonal matrix rotating a molecule's flat coefficient vector.

    ``numbers`` (n_atoms,); ``shells`` maps an atomic number to the angular momenta of that
    element's shells in basis order (a mapping or a callable ``z -> [l, ...]``, e.g.
    ``lambda z: basis.ls(symbol(z))`` for a DenSNet
    :class:`~rhoml.density.flexible_basis.FlexibleBasis`);
    coefficients are stored atom by atom, shell by shell, components in ``order``.
    """
    blocks = _element_blocks(numbers, rotation, shells, order)
    mats = [blocks[int(z)] for z in numbers]
    n = sum(len(m) for m in mats)
    full = np.zeros((n, n))
    o = 0
    for m in mats:
        full[o : o + len(m), o : o + len(m)] = m
        o += len(m)
    return full


# -- the general tester ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Transform:
    name: str
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) Å
    perm: np.ndarray  # (n_atoms,) new atom k is old atom perm[k]

    def positions(self, pos: np.ndarray) -> np.ndarray:
        return (pos @ self.rotation.T + self.translation)[self.perm]

    def points(self, pts: np.ndarray) -> np.ndarray:
        return pts @ self.rotation.T + self.translation


def _transforms(n_atoms: int, seed, rotation: bool, reflection: bool, translation: bool,
                permutation: bool, separately: bool) -> list[_Transform]:  # fmt: skip
    rng = np.random.default_rng(seed)
    eye, zero, ident = np.eye(3), np.zeros(3), np.arange(n_atoms)
    rot = random_rotation(rng)
    mirror = random_rotation(rng, reflection=True)
    shift = rng.normal(scale=2.0, size=3)
    perm = rng.permutation(n_atoms)
    while n_atoms > 1 and np.array_equal(perm, ident):
        perm = rng.permutation(n_atoms)
    parts = []
    if rotation:
        parts.append(_Transform("rotation", rot, zero, ident))
    if reflection:
        parts.append(_Transform("reflection", mirror, zero, ident))
    if translation:
        parts.append(_Transform("translation", eye, shift, ident))
    if permutation and n_atoms > 1:
        parts.append(_Transform("permutation", eye, zero, perm))
    if len(parts) <= 1:
        return parts
    combined = _Transform(
        "+".join(p.name for p in parts),
        mirror if reflection else (rot if rotation else eye),
        shift if translation else zero,
        perm if permutation else ident,
    )
    return [*parts, combined] if separately else [combined]


def _to_numpy(x, what: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype.kind == "f" and a.dtype.itemsize < 8:
        raise TypeError(
            f"{what} is {a.dtype}: symmetry and gradient checks need float64 outputs "
            "(e.g. model.double())"
        )
    return a


def _outputs(raw, kinds) -> dict:
    if isinstance(kinds, str):
        return {None: raw}
    if isinstance(kinds, Mapping):
        if not isinstance(raw, Mapping):
            raise TypeError(f"kinds is a mapping, so fn must return a dict, got {type(raw)}")
        missing = set(kinds) - set(raw)
        if missing:
            raise KeyError(f"fn's output has no {sorted(missing)}")
        return {k: raw[k] for k in kinds}
    raw = tuple(raw)
    if len(raw) != len(kinds):
        raise ValueError(f"fn returned {len(raw)} outputs for {len(kinds)} kinds")
    return dict(enumerate(raw))


def _kind_of(kinds, key) -> str:
    return kinds if key is None else kinds[key]


def _per(value, key):
    if isinstance(value, Mapping):
        return value[key]
    if isinstance(value, (list, tuple)):
        return value[key]
    return value


def _label(key) -> str:
    return "output" if key is None else f"output {key!r}"


def _expected(kind: str, out: np.ndarray, t: _Transform, numbers, blocks) -> np.ndarray:
    r, perm = t.rotation, t.perm
    if kind in ("atom", "atom_vector") and (out.ndim == 0 or len(out) != len(numbers)):
        raise AssertionError(f"per-atom output has shape {out.shape} for {len(numbers)} atoms")
    if kind in ("vector", "pseudovector", "atom_vector", "field_vector") and (
        out.ndim == 0 or out.shape[-1] != 3
    ):
        raise AssertionError(f"{kind} output has shape {out.shape}, not (..., 3)")
    if kind in ("scalar", "field"):
        return out
    if kind == "atom":
        return out[perm]
    if kind in ("vector", "field_vector"):
        return out @ r.T
    if kind == "pseudovector":
        return np.linalg.det(r) * (out @ r.T)
    if kind == "atom_vector":
        return (out @ r.T)[perm]
    if kind == "coefficients":
        sizes = [len(blocks[int(z)]) for z in numbers]
        if out.shape != (sum(sizes),):
            raise AssertionError(
                f"coefficients have shape {out.shape}, the shells give ({sum(sizes)},)"
            )
        starts = np.cumsum([0, *sizes])
        rotated = [blocks[int(z)] @ out[starts[a] : starts[a + 1]] for a, z in enumerate(numbers)]
        return np.concatenate([rotated[a] for a in perm])
    raise ValueError(f"unknown output kind {kind!r}; one of {KINDS}")


def _compare(got, want, atol: float, rtol: float, context: str) -> float:
    if got.shape != want.shape:
        raise AssertionError(f"{context}: shape {got.shape}, expected {want.shape}")
    if got.size == 0:
        return 0.0
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    tol = atol + rtol * np.abs(want.astype(np.float64))
    bad = ~(diff <= tol)  # NaN counts as a failure
    if bad.any():
        excess = np.where(np.isnan(diff), np.inf, diff - tol)
        at = np.unravel_index(int(np.argmax(excess)), diff.shape)
        worst = "NaN" if np.isnan(diff).any() else f"{diff.max():.3e}"
        raise AssertionError(
            f"{context}: max |Δ| = {worst}; at index {tuple(int(i) for i in at)}: "
            f"|Δ| = {diff[at]:.3e} > tolerance "
            f"{tol[at]:.3e} (atol {atol:g} + rtol {rtol:g} × |expected| {abs(want[at]):.3e}); "
            f"{int(bad.sum())} of {bad.size} values out of tolerance"
        )
    return float(diff.max())


def assert_equivariant(
    fn: Callable[..., Any],
    numbers,
    positions,
    kinds: str | Sequence[str] | Mapping[Any, str],
    *,
    points=None,
    shells=None,
    order: str = "pyscf",
    seed: int = 0,
    rotation: bool = True,
    reflection: bool = True,
    translation: bool = True,
    permutation: bool = True,
    separately: bool = True,
    atol: float | Sequence[float] | Mapping[Any, float] = 1e-9,
    rtol: float | Sequence[float] | Mapping[Any, float] = 1e-9,
) -> dict[str, float]:
    """Check that ``fn``'s outputs transform as declared by ``kinds`` (see the module table).

    Args:
        fn: ``fn(numbers, positions)`` (``fn(numbers, positions, points)`` when ``points`` is
            given) → one output, a tuple, or a dict.
        numbers: (n_atoms,) atomic numbers.
        positions: (n_atoms, 3) Å (cast to float64).
        kinds: one kind (fn returns one output), a sequence (fn returns a tuple) or a mapping
            key → kind (fn returns a dict; only those keys are checked).
        points: (m, 3) Å sample points for ``"field"``/``"field_vector"`` outputs.
        shells: element → angular momenta of its shells, for ``"coefficients"`` (see
            :func:`coefficient_rotation`); ``order`` is their component order.
        seed: seeds the random rotation, reflection, translation (≈ 2 Å) and permutation.
        rotation, reflection, translation, permutation: which transformations to apply (turn
            reflection off for chiral models, translation off for origin-dependent outputs).
        separately: check each transformation alone, then all combined (default; a failure
            names the culprit); False checks only the combination (one evaluation).
        atol, rtol: element-wise tolerance ``atol + rtol·|expected|`` (output units); a single
            value, or one per output (sequence or mapping like ``kinds``).

    Returns:
        {transformation name: largest |Δ| over all outputs}.

    Raises:
        AssertionError: an output is off by more than the tolerance (message: transformation,
            output, largest deviation, worst index, tolerance there).
    """
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    pts = None if points is None else np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(numbers) != len(pos):
        raise ValueError(f"{len(numbers)} atomic numbers but {len(pos)} positions")
    all_kinds = [kinds] if isinstance(kinds, str) else list(
        kinds.values() if isinstance(kinds, Mapping) else kinds
    )  # fmt: skip
    for k in all_kinds:
        if k not in KINDS:
            raise ValueError(f"unknown output kind {k!r}; one of {KINDS}")
    if pts is None and any(k.startswith("field") for k in all_kinds):
        raise ValueError("field outputs need points=")
    if shells is None and "coefficients" in all_kinds:
        raise ValueError("coefficient outputs need shells=")
    if order not in HARMONIC_ORDERS:
        raise ValueError(f"order must be one of {HARMONIC_ORDERS}, got {order!r}")

    def call(z, p, q):
        raw = fn(z, p) if q is None else fn(z, p, q)
        outs = _outputs(raw, kinds)
        return {k: _to_numpy(v, _label(k)) for k, v in outs.items()}

    ref = call(numbers, pos.copy(), None if pts is None else pts.copy())
    report = {}
    for t in _transforms(len(numbers), seed, rotation, reflection, translation, permutation,
                         separately):  # fmt: skip
        got = call(numbers[t.perm], t.positions(pos), None if pts is None else t.points(pts))
        blocks = None
        if "coefficients" in all_kinds:
            blocks = _element_blocks(numbers, t.rotation, shells, order)
        worst = 0.0
        for key, out in ref.items():
            kind = _kind_of(kinds, key)
            want = _expected(kind, out, t, numbers, blocks)
            context = f"{_label(key)} ({kind}) under {t.name}"
            dev = _compare(got[key], want, float(_per(atol, key)), float(_per(rtol, key)), context)
            worst = max(worst, dev)
        report[t.name] = worst
    return report


def assert_invariant(fn, numbers, positions, *, per_atom: bool = False, **kw) -> dict[str, float]:
    """``fn(numbers, positions)`` → scalar or array of invariants (energy, HOMO/LUMO, …) is
    unchanged under rotation, reflection, translation and atom permutation; ``per_atom``: axis 0
    runs over atoms and is permuted with them. Options as :func:`assert_equivariant`."""
    return assert_equivariant(fn, numbers, positions, "atom" if per_atom else "scalar", **kw)


def assert_vector_equivariant(fn, numbers, positions, *, per_atom: bool = False,
                              pseudo: bool = False, **kw) -> dict[str, float]:  # fmt: skip
    """``fn(numbers, positions)`` → vectors (..., 3) rotate with the molecule: v' = R v
    (det(R)·R v if ``pseudo``); ``per_atom``: (n_atoms, 3) per-atom vectors such as forces,
    permuted with the atoms; otherwise translation-invariant vectors such as the dipole of a
    neutral molecule. Options as :func:`assert_equivariant`."""
    if pseudo and per_atom:
        raise ValueError("per-atom pseudovectors are not supported")
    kind = "atom_vector" if per_atom else ("pseudovector" if pseudo else "vector")
    return assert_equivariant(fn, numbers, positions, kind, **kw)


def assert_coefficients_equivariant(fn, numbers, positions, shells, *, order: str = "pyscf",
                                    **kw) -> dict[str, float]:  # fmt: skip
    """``fn(numbers, positions)`` → flat real-harmonic coefficients (naux,) of an atom-centred
    expansion (DenSNet's density) rotate with Wigner-D blocks, c' = D(R) c atom by atom, and
    are permuted block-wise with the atoms. ``shells`` and ``order`` as in
    :func:`coefficient_rotation`. Options as :func:`assert_equivariant`."""
    return assert_equivariant(fn, numbers, positions, "coefficients", shells=shells, order=order,
                              **kw)  # fmt: skip


def assert_field_equivariant(fn, numbers, positions, points, *, vector: bool = False,
                             **kw) -> dict[str, float]:  # fmt: skip
    """``fn(numbers, positions, points)`` → values at ``points`` (m, 3) Å of a field that moves
    with the molecule (density, ESP: f'(R x + t) = f(x); ``vector``: gradients (m, 3),
    ∇f'(R x + t) = R ∇f(x)). Options as :func:`assert_equivariant`."""
    kind = "field_vector" if vector else "field"
    return assert_equivariant(fn, numbers, positions, kind, points=points, **kw)


# -- forces against finite differences -----------------------------------------------------------
def assert_forces_match_energy(
    energy: Callable[..., Any],
    forces,
    numbers,
    positions,
    *,
    h: float = 1e-5,
    components: Sequence[tuple[int, int]] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> float:
    """Forces equal −∂E/∂R by central finite differences, in float64.

    Args:
        energy: ``energy(numbers, positions)`` → scalar energy (any unit E).
        forces: (n_atoms, 3) forces at ``positions`` (unit E/Å), or a callable
            ``forces(numbers, positions)`` returning them.
        numbers: (n_atoms,) atomic numbers; positions: (n_atoms, 3) Å.
        h: displacement in Å.
        components: (atom, axis) pairs to check; default all 3·n_atoms.
        rtol, atol: per component ``|F − F_fd| ≤ max(atol, rtol·|F_fd|)`` (pytest.approx's
            rule; atol in E/Å).

    The central difference F_fd = −(E(R + h e) − E(R − h e)) / 2h has truncation error
    ≈ h²/6·|∂³E/∂R³| and round-off ≈ ε·|E|/h (ε = 2.2e-16): with h = 1e-5 Å, an energy of
    1e5 kcal/mol gives ≈ 2e-6 kcal/mol/Å of noise, so atol must stay above that. The defaults
    (h = 1e-5 Å, rtol = 1e-5, atol = 1e-7) suit smooth float64 models with |E| ≲ 1e3.

    Returns the largest |F − F_fd|; raises AssertionError naming the worst component.
    """
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    f = forces(numbers, pos.copy()) if callable(forces) else forces
    f = _to_numpy(f, "forces").astype(np.float64)
    if f.shape != pos.shape:
        raise AssertionError(f"forces have shape {f.shape}, positions {pos.shape}")
    if components is None:
        components = [(a, k) for a in range(len(pos)) for k in range(3)]

    def e_at(p) -> float:
        return float(_to_numpy(energy(numbers, p), "energy").reshape(()))

    worst, fails = 0.0, []
    for a, k in components:
        plus, minus = pos.copy(), pos.copy()
        plus[a, k] += h
        minus[a, k] -= h
        fd = -(e_at(plus) - e_at(minus)) / (2 * h)
        dev = abs(f[a, k] - fd)
        tol = max(atol, rtol * abs(fd))
        worst = max(worst, dev) if not np.isnan(dev) else np.inf
        if not dev <= tol:
            fails.append((dev - tol if not np.isnan(dev) else np.inf, a, k, f[a, k], fd, dev, tol))
    if fails:
        _, a, k, fa, fd, dev, tol = max(fails)
        raise AssertionError(
            f"forces ≠ −∂E/∂R: max |F − F_fd| = {worst:.3e}; worst at atom {a} axis {'xyz'[k]}: "
            f"F = {fa:.6e}, F_fd = {fd:.6e}, |Δ| = {dev:.3e} > tolerance {tol:.3e} "
            f"(max(atol {atol:g}, rtol {rtol:g} × |F_fd|), h = {h:g} Å); "
            f"{len(fails)} of {len(components)} components out of tolerance"
        )
    return worst


# -- voxel grids ----------------------------------------------------------------------------------
def _rotation_list(rotations) -> list[np.ndarray]:
    if rotations is None:
        return list(cube_rotations())
    rots = np.asarray(rotations)
    if rots.ndim == 1:  # indices into cube_rotations()
        return [cube_rotations()[int(i)] for i in rots]
    return [_signed_permutation(r) for r in rots.reshape(-1, 3, 3)]


def assert_grid_equivariant(
    fn: Callable[..., Any],
    numbers,
    positions,
    centre,
    *,
    rotations=None,
    atol: float = 1e-10,
    rtol: float = 0.0,
) -> dict[str, float]:
    """A map molecule → scalar values on a cubic grid (..., n, n, n) centred at ``centre`` (3,)
    Å (a voxeliser with a fixed box centre) commutes with exact 90° rotations: voxelising the
    molecule rotated by R about ``centre`` equals :func:`rotate_grid` of the original voxels.

    ``fn(numbers, positions)`` as in :func:`assert_equivariant`; ``rotations``: int matrices
    (k, 3, 3), indices into :func:`cube_rotations`, or None for all 24. Channels must be
    scalars (density, |∇ρ|, occupancy), not vector components. Returns {"R[i]": max |Δ|}.
    """
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    c = np.asarray(centre, dtype=np.float64).reshape(3)
    base = _to_numpy(fn(numbers, pos.copy()), "grid")
    report = {}
    for i, r in enumerate(_rotation_list(rotations)):
        got = _to_numpy(fn(numbers, (pos - c) @ r.T + c), "grid")
        name = f"R[{i}]={r.tolist()}"
        report[name] = _compare(got, rotate_grid(base, r), atol, rtol, f"grid under {name}")
    return report


def assert_voxel_invariant(
    fn: Callable[[Any], Any],
    voxels,
    *,
    rotations=None,
    atol: float = 1e-9,
    rtol: float = 1e-9,
) -> dict[str, float]:
    """A voxel model's output is unchanged when its input grid is rotated by exact 90° rotations.

    ``fn(voxels)`` → outputs (any shape, e.g. (B, T) predictions); ``voxels`` (B, C, n, n, n)
    numpy or torch (float64 for a meaningful check); ``rotations`` as in
    :func:`assert_grid_equivariant`. Returns {"R[i]": max |Δ|}.
    """
    base = _to_numpy(fn(voxels), "model output")
    report = {}
    for i, r in enumerate(_rotation_list(rotations)):
        got = _to_numpy(fn(rotate_grid(voxels, r)), "model output")
        name = f"R[{i}]={r.tolist()}"
        report[name] = _compare(got, base, atol, rtol, f"model output under {name}")
    return report

"""Conformers of a molecule on a potential, with Boltzmann weights, for MD sampling.

:func:`search` rotates every rotatable bond (:func:`rotatable_bonds`) of the start geometry to
0°, 120° and 240° (all combinations, at most ``max_starts``), relaxes each start with the
potential (ASE BFGS), drops starts whose bond graph changed, and groups the minima that are the
same conformer (energy within ``energy_tol`` eV and sorted interatomic distances within
``distance_tol`` Å; mirror images, e.g. ethanol's two gauche forms, are one conformer).

Weights (:func:`boltzmann_weights`): w_k ∝ g_k exp(−(E_k − E_min)/k_B T), where the
degeneracy g_k is the number of starts that reached conformer k (for ethanol's OH rotor:
trans 1, gauche 2). This is the classical weight of equal-width basins from the potential
energy alone (no vibrational free energy or zero-point energy); starts on a 120° grid count
the equivalent minima of threefold rotors correctly.

:func:`allocate` gives N trajectories to the conformers by those weights (largest remainder,
deterministic), so every seed samples the same conformer populations.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from rhoml.errors import InputError
from rhoml.molecule import Molecule

__all__ = ["Conformer", "allocate", "boltzmann_weights", "rotatable_bonds", "search"]


@dataclass
class Conformer:
    """A minimum of the potential: ``molecule`` (Å), ``energy_ev``, ``count`` (starts that
    reached it) and ``weight`` (Boltzmann, the weights of a search sum to 1)."""

    molecule: Molecule
    energy_ev: float
    count: int = 1
    weight: float = 1.0


def _graph(numbers, positions) -> list[set[int]]:
    from rhoml.elements import bonded_pairs

    nbr: list[set[int]] = [set() for _ in range(len(numbers))]
    for a, b in bonded_pairs(numbers, positions):
        nbr[int(a)].add(int(b))
        nbr[int(b)].add(int(a))
    return nbr


def _side(nbr: list[set[int]], a: int, b: int) -> set[int] | None:
    """Atoms reached from ``b`` without crossing the bond a–b; None when a–b is in a ring."""
    seen, todo = {b}, [b]
    while todo:
        i = todo.pop()
        for j in nbr[i]:
            if i == b and j == a:
                continue
            if j == a:
                return None
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def _symmetric_top(numbers, nbr: list[set[int]], centre: int, other: int) -> bool:
    """True when ``centre``'s substituents other than ``other`` are three terminal atoms of one
    element (CH3, CF3, NH3+): a 120° turn gives the same structure."""
    subs = [j for j in nbr[centre] if j != other]
    return (
        len(subs) == 3
        and all(len(nbr[j]) == 1 for j in subs)
        and len({int(numbers[j]) for j in subs}) == 1
    )


def rotatable_bonds(numbers, positions) -> list[tuple[int, int, list[int]]]:
    """Bonds whose rotation makes other conformers: (a, b, atoms on b's side), for bonds not in a
    ring between two atoms that both have other neighbours, neither end a symmetric top. The
    smaller side is the one rotated. Bond orders are not known: a double bond passes this test
    but a start rotated about it relaxes back or is dropped by :func:`search`."""
    nbr = _graph(numbers, positions)
    out = []
    for a in range(len(numbers)):
        for b in sorted(nbr[a]):
            if b < a or len(nbr[a]) < 2 or len(nbr[b]) < 2:
                continue
            if _symmetric_top(numbers, nbr, a, b) or _symmetric_top(numbers, nbr, b, a):
                continue
            side = _side(nbr, a, b)
            if side is None:  # ring bond
                continue
            if len(side) > len(numbers) - len(side):
                a, b, side = b, a, set(range(len(numbers))) - side
            out.append((a, b, sorted(side)))
    return out


def _rotate(positions: np.ndarray, a: int, b: int, side: list[int], degrees: float):
    """Positions with ``side`` turned by ``degrees`` about the axis a → b (Rodrigues)."""
    out = positions.copy()
    axis = positions[b] - positions[a]
    axis = axis / np.linalg.norm(axis)
    t = np.radians(degrees)
    v = positions[side] - positions[b]
    rot = (
        v * np.cos(t)
        + np.cross(axis, v) * np.sin(t)
        + axis[None] * (v @ axis)[:, None] * (1.0 - np.cos(t))
    )
    out[side] = rot + positions[b]
    return out


def _same(m1: Molecule, e1: float, m2: Molecule, e2: float, energy_tol, distance_tol) -> bool:
    if abs(e1 - e2) > energy_tol:
        return False

    def key(m):
        d = np.linalg.norm(m.positions[:, None] - m.positions[None], axis=-1)
        return np.sort(d[np.triu_indices(len(d), 1)])

    return bool(np.max(np.abs(key(m1) - key(m2))) < distance_tol)


def boltzmann_weights(energies_ev, counts, temperature: float) -> np.ndarray:
    """w_k ∝ count_k exp(−(E_k − E_min) / k_B T), normalised; energies in eV, T in K."""
    from rhoml.md.driver import KB_EV_PER_K

    e = np.asarray(energies_ev, dtype=float)
    w = np.asarray(counts, dtype=float) * np.exp(-(e - e.min()) / (KB_EV_PER_K * temperature))
    return w / w.sum()


def allocate(weights, n: int) -> list[int]:
    """Conformer index of each of ``n`` trajectories: floor(n w_k) each, the rest to the largest
    remainders (ties to the lower index); sorted."""
    w = np.asarray(weights, dtype=float)
    if n < 1 or len(w) == 0:
        raise InputError("allocate needs ≥ 1 trajectory and ≥ 1 conformer")
    share = n * w / w.sum()
    counts = np.floor(share).astype(int)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return [k for k, c in enumerate(counts) for _ in range(int(c))]


def search(
    calc,
    molecule: Molecule,
    *,
    temperature: float = 300.0,
    fmax: float = 0.01,
    steps: int = 500,
    max_starts: int = 81,
    energy_tol: float = 1e-3,
    distance_tol: float = 0.05,
    min_weight: float = 0.0,
) -> list[Conformer]:
    """Conformers of ``molecule`` on the ASE calculator ``calc`` (module docstring), lowest
    energy first, with Boltzmann weights at ``temperature`` (K); those below ``min_weight`` are
    dropped and the rest renormalised. ``molecule`` should be a minimum already (its own start
    is the 0°, 0°, ... combination). More than ``max_starts`` combinations: a fixed (seed 0)
    random subset, the unrotated start always included."""
    from rhoml.md.ir import optimise

    bonds = rotatable_bonds(molecule.numbers, molecule.positions)
    ref_graph = _graph(molecule.numbers, molecule.positions)
    combos = list(product((0.0, 120.0, 240.0), repeat=len(bonds)))
    if len(combos) > max_starts:
        rng = np.random.default_rng(0)
        pick = rng.choice(np.arange(1, len(combos)), max_starts - 1, replace=False)
        combos = [combos[0]] + [combos[i] for i in sorted(pick)]
    found: list[Conformer] = []
    for angles in combos:
        pos = molecule.positions.copy()
        for (a, b, side), deg in zip(bonds, angles, strict=True):
            if deg:
                pos = _rotate(pos, a, b, side, deg)
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 10.0 * np.eye(len(pos))
        if d.min() < 0.7:  # a clash: no sensible start
            continue
        start = Molecule(molecule.numbers, pos, charge=molecule.charge, id=molecule.id)
        relaxed = optimise(calc, start, fmax=fmax, steps=steps)
        if _graph(relaxed.numbers, relaxed.positions) != ref_graph:
            continue
        energy = float(_atoms(relaxed, calc).get_potential_energy())
        for c in found:
            if _same(c.molecule, c.energy_ev, relaxed, energy, energy_tol, distance_tol):
                c.count += 1
                break
        else:
            found.append(Conformer(relaxed, energy))
    if not found:
        raise InputError(f"{molecule.id or 'molecule'}: no conformer kept its bonds on relaxing")
    found.sort(key=lambda c: c.energy_ev)
    w = boltzmann_weights([c.energy_ev for c in found], [c.count for c in found], temperature)
    keep = [c for c, x in zip(found, w, strict=True) if x >= min_weight] or found[:1]
    w = boltzmann_weights([c.energy_ev for c in keep], [c.count for c in keep], temperature)
    for c, x in zip(keep, w, strict=True):
        c.weight = float(x)
    return keep


def _atoms(molecule: Molecule, calc):
    from rhoml.ase import molecule_to_atoms

    atoms = molecule_to_atoms(molecule)
    atoms.calc = calc
    return atoms

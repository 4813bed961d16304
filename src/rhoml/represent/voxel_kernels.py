"""Compiled (numba) CPU kernels behind :class:`rhoml.represent.voxel.Voxelizer`.

They compute the same numbers as the torch reference path of the voxeliser, for a whole batch
of molecules at once, writing straight into a preallocated output (B, C, n, n, n) (float32 or
float64). Atoms are given flat: ``batch`` (N,) is each atom's molecule index, ``channel`` (N,)
its output channel (−1: not voxelised). Grid point (i, j, k) of molecule b sits at fractional
coordinate (i, j, k) ≡ position ``origin_b + spacing·(i, j, k)``. Single-threaded (no
``parallel=True``): one call uses one core. Compiled on first use and cached on disk
(``cache=True``); :func:`warm_up` compiles them ahead of time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def prepare_atoms(positions, batch, numbers, groups, separate, centres, centre_all, rotations,
                  shifts, spacing, n, z_channel, atom_base, shape_base, centre_group):  # fmt: skip
    """Pose atoms and assign their channels.

    Args:
        positions: (N, 3) Å; batch: (N,) molecule index; numbers: (N,) atomic numbers.
        groups: (N,) group per atom (0 protein/pocket, 1 ligand, −1 none) or shape (0,).
        separate: atoms go to the channel block of their group (else all to block 0).
        centres: (B, 3) Å box centres; overwritten with each molecule's centroid if
            ``centre_all``.
        rotations: (B, 3, 3) or shape (0, 3, 3) (no rotation); shifts: (B, 3) Å. Posed
            position relative to the centre: ``R (x − c) + t``.
        spacing: Å; n: points per edge.
        z_channel: (119,) element channel of each atomic number (−1: none).
        atom_base, shape_base: (G,) first atom channel / shape channel of each group block.
        centre_group: group whose atoms must stay inside the box when cropping (−1: none).

    Returns:
        frac (N, 3) fractional grid coordinates, atom channel (N,) and shape channel (N,)
        (−1: not voxelised), and counts (3,): atoms outside the box, of them atoms of
        ``centre_group``, voxelised atoms without an element channel.
    """
    n_atoms = positions.shape[0]
    n_mol = centres.shape[0]
    if centre_all:
        cnt = np.zeros(n_mol)
        centres[:] = 0.0
        for a in range(n_atoms):
            cnt[batch[a]] += 1.0
            for d in range(3):
                centres[batch[a], d] += positions[a, d]
        for b in range(n_mol):
            for d in range(3):
                centres[b, d] /= cnt[b]
    frac = np.empty((n_atoms, 3))
    chan = np.empty(n_atoms, dtype=np.int64)
    shape_chan = np.empty(n_atoms, dtype=np.int64)
    counts = np.zeros(3, dtype=np.int64)
    half = spacing * (n - 1) / 2.0 + 1e-9
    mid = (n - 1) / 2.0
    rotate = rotations.shape[0] > 0
    has_groups = groups.shape[0] > 0
    rel = np.empty(3)
    for a in range(n_atoms):
        b = batch[a]
        for d in range(3):
            rel[d] = positions[a, d] - centres[b, d]
        outside = False
        for d in range(3):
            if rotate:
                p = rel[0] * rotations[b, d, 0] + rel[1] * rotations[b, d, 1]
                p = p + rel[2] * rotations[b, d, 2]
            else:
                p = rel[d]
            p = p + shifts[b, d]
            frac[a, d] = p / spacing + mid
            if abs(p) > half:
                outside = True
        g = groups[a] if has_groups else -1
        if outside:
            counts[0] += 1
            if centre_group >= 0 and g == centre_group:
                counts[1] += 1
        gi = 0
        if separate:
            gi = g if (g == 0 or g == 1) else -1
        chan[a] = -1
        shape_chan[a] = -1
        if gi >= 0:
            shape_chan[a] = shape_base[gi]
            if atom_base[gi] >= 0:
                e = z_channel[numbers[a]]
                if e < 0:
                    counts[2] += 1
                else:
                    chan[a] = atom_base[gi] + e
    return frac, chan, shape_chan, counts


@njit(cache=True, nogil=True)
def _axis_weights(f, radius, sigma, n, w, out):
    """Normalised 1D Gaussian factors on the window of ``w`` lattice points starting at
    ``floor(f − radius)``, zeroed outside the box; returns the window start."""
    start = math.floor(f - radius)
    total = 0.0
    for k in range(w):
        off = start + k - f
        v = math.exp(-0.5 * (off / sigma) ** 2) if abs(off) <= radius else 0.0
        out[k] = v
        total += v
    for k in range(w):
        idx = start + k
        out[k] = out[k] / total if (idx >= 0 and idx <= n - 1) else 0.0
    return int(start)


@njit(cache=True, nogil=True)
def _block_order(batch, channel, n_blocks, n_chan):
    """Atoms sorted (stably) by output block ``batch·n_chan + channel``, skipping channel −1:
    (first (n_blocks + 1,) offsets into order, order (M,) atom indices)."""
    first = np.zeros(n_blocks + 1, dtype=np.int64)
    for a in range(batch.shape[0]):
        if channel[a] >= 0:
            first[batch[a] * n_chan + channel[a] + 1] += 1
    for k in range(n_blocks):
        first[k + 1] += first[k]
    order = np.empty(first[-1], dtype=np.int64)
    fill = first[:-1].copy()
    for a in range(batch.shape[0]):
        if channel[a] >= 0:
            k = batch[a] * n_chan + channel[a]
            order[fill[k]] = a
            fill[k] += 1
    return first, order


@njit(cache=True, nogil=True)
def gaussian_atoms(frac, batch, channel, sigma, radius, out, zero):
    """Add each atom's normalised Gaussian (σ ``sigma`` voxels, cut at ``radius`` voxels,
    normalised per axis on the lattice) to ``out[batch, channel]`` (B, C, n, n, n).

    Atoms are visited grid block by grid block (molecule, channel), in their given order within
    a block, so one block is in cache while its atoms are added; with ``zero`` every block of
    ``out`` (atom channels or not) is zeroed just before its atoms are added, which saves a
    separate pass over the output.
    """
    n_mol, n_chan = out.shape[0], out.shape[1]
    n = out.shape[2]
    first, order = _block_order(batch, channel, n_mol * n_chan, n_chan)
    w = int(math.floor(2 * radius)) + 2
    w64 = np.empty((3, w))
    wt = np.empty((3, w), dtype=out.dtype)  # factors rounded to the output dtype, as torch
    start = np.empty(3, dtype=np.int64)
    lo = np.empty(3, dtype=np.int64)  # first and last window point with a non-zero factor
    hi = np.empty(3, dtype=np.int64)
    for blk in range(n_mol * n_chan):
        grid = out[blk // n_chan, blk % n_chan]
        if zero:
            grid[:] = 0.0
        for t in range(first[blk], first[blk + 1]):
            a = order[t]
            empty = False
            for d in range(3):
                start[d] = _axis_weights(frac[a, d], radius, sigma, n, w, w64[d])
                lo[d] = w
                hi[d] = -1
                for k in range(w):
                    wt[d, k] = w64[d, k]
                    if w64[d, k] != 0.0:
                        lo[d] = min(lo[d], k)
                        hi[d] = max(hi[d], k)
                if hi[d] < 0:  # the window misses the box on this axis
                    empty = True
                    break
            if empty:
                continue
            s2 = start[2]
            for ki in range(lo[0], hi[0] + 1):
                wi = wt[0, ki]
                for kj in range(lo[1], hi[1] + 1):
                    wij = wi * wt[1, kj]
                    row = grid[start[0] + ki, start[1] + kj]
                    for kk in range(lo[2], hi[2] + 1):
                        row[s2 + kk] += wij * wt[2, kk]


@njit(cache=True, nogil=True)
def shape_occupancy(frac, batch, channel, radii, spacing, cutoff, out):
    """``out[batch, channel]`` = max(out, 1 − exp(−(r/d)¹²)) over lattice points within
    ``cutoff·r`` of each atom (``radii`` (N,) Å, d in Å).

    1 − exp(−u) grows with u, so the max over atoms is taken of u = (r/d)¹² (float64, per
    block) and transformed once per voxel: the same values as taking the max of the
    occupancies, at one exponential per voxel instead of one per atom and voxel.
    """
    n_mol, n_chan, n = out.shape[0], out.shape[1], out.shape[2]
    first, order = _block_order(batch, channel, n_mol * n_chan, n_chan)
    u = np.zeros((n, n, n))
    lo = np.empty(3, dtype=np.int64)
    hi = np.empty(3, dtype=np.int64)
    for blk in range(n_mol * n_chan):
        if first[blk + 1] == first[blk]:
            continue
        u[:] = 0.0
        for t in range(first[blk], first[blk + 1]):
            a = order[t]
            r = radii[a]
            cut = cutoff * r / spacing  # voxels
            lim = (cutoff * r) ** 2
            empty = False
            for d in range(3):
                lo[d] = max(int(math.floor(frac[a, d] - cut)), 0)
                hi[d] = min(int(math.floor(frac[a, d] + cut)) + 1, n - 1)
                if hi[d] < lo[d]:
                    empty = True
            if empty:
                continue
            fz = frac[a, 2]
            for i in range(lo[0], hi[0] + 1):
                ox = i - frac[a, 0]
                for j in range(lo[1], hi[1] + 1):
                    oy = j - frac[a, 1]
                    rest = cut * cut - ox * ox - oy * oy  # voxels² left for z in the sphere
                    if rest < 0.0:
                        continue
                    dz = math.sqrt(rest) + 1.0  # one voxel of slack; the d² test decides
                    k0 = max(lo[2], int(math.floor(fz - dz)))
                    k1 = min(hi[2], int(math.floor(fz + dz)) + 1)
                    for k in range(k0, k1 + 1):
                        oz = k - fz
                        d2 = (ox * ox + oy * oy + oz * oz) * spacing**2
                        if d2 > lim:
                            continue
                        x = r * r / max(d2, 1e-12)
                        x3 = x * x * x
                        v = x3 * x3
                        if v > u[i, j, k]:
                            u[i, j, k] = v
        grid = out[blk // n_chan, blk % n_chan]
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    if u[i, j, k] > 0.0:
                        occ = -math.expm1(-u[i, j, k])
                        if occ > grid[i, j, k]:
                            grid[i, j, k] = occ


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernels for float32 and float64 outputs."""
    pos = np.zeros((1, 3))
    one = np.zeros(1, dtype=np.int64)
    z = np.zeros(119, dtype=np.int64)
    for rot in (np.zeros((0, 3, 3)), np.eye(3)[None]):
        for groups in (np.zeros(0, dtype=np.int64), one):
            frac, chan, shape_chan, _ = prepare_atoms(
                pos, one, one + 1, groups, False, np.zeros((1, 3)), True, rot, np.zeros((1, 3)),
                0.5, 4, z, one, one, -1,
            )  # fmt: skip
    for dtype in (np.float32, np.float64):
        out = np.zeros((1, 1, 4, 4, 4), dtype=dtype)
        gaussian_atoms(frac, one, chan, 1.0, 3.0, out, True)
        shape_occupancy(frac, one, shape_chan, np.ones(1), 0.5, 2.0, out)

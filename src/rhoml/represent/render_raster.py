"""Torch kernels of the renderer: orthographic ray casting of a gridded isosurface and analytic
ray–sphere / ray–cylinder intersections, batched over molecules, on CPU or CUDA.

All lengths in Å, in the view frame of :mod:`rhoml.represent.render_camera` (x' right, y' up,
viewer at +z'). ``t`` is the distance from the near plane z' = +R along the view direction.
"""

from __future__ import annotations

import numpy as np

OFFSET = 60.0  # added to ln(ρ/iso) before sampling so zero padding reads as "far outside"
LIGHT = np.array([0.4, 0.4, 1.0]) / np.linalg.norm([0.4, 0.4, 1.0])  # towards the light
AMBIENT, DIFFUSE, HEADLIGHT, SPECULAR, SHININESS = 0.3, 0.55, 0.15, 0.25, 30.0


def _norm_index(coord, origin, spacing, n):
    """Cartesian coordinate (Å) along one axis → grid_sample coordinate (align_corners=True)."""
    return 2.0 * (coord - origin) / (spacing * (n - 1)) - 1.0


def view_volume(vol, origin, spacing, centre, radius, rot, xs, ys, perm_sign):
    """Sample f = ln(ρ/iso) + OFFSET along the rays of one view.

    vol (B, nx, ny, nz) tensor; origin, centre (B, 3), spacing, radius (B,) tensors; rot (3, 3)
    numpy; xs (B, W), ys (B, H): view-frame x' of the pixel columns and y' of the rows (Å).
    Returns f (B, D, H, W) (near → far, OFFSET removed), t0 (B,), dt (B,): sample k sits at
    t = t0 + k dt."""
    import torch
    import torch.nn.functional as F

    shape = vol.shape[1:]
    dev, dt_ = vol.device, vol.dtype
    if perm_sign is not None:
        perm, sign = perm_sign
        p0, p1, p2 = perm
        v = vol.permute(0, 1 + p2, 1 + p1, 1 + p0)  # (B, D, Hg, Wg)
        n2 = shape[p2]
        if sign[2] > 0:
            v = v.flip(1)
            t0 = radius - (origin[:, p2] + spacing * (n2 - 1) - centre[:, p2])
        else:
            t0 = radius + origin[:, p2] - centre[:, p2]
        gx = _norm_index(centre[:, p0, None] + sign[0] * xs, origin[:, p0, None], spacing[:, None],
                         shape[p0])  # fmt: skip
        gy = _norm_index(centre[:, p1, None] + sign[1] * ys, origin[:, p1, None], spacing[:, None],
                         shape[p1])  # fmt: skip
        grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
        f = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return f - OFFSET, t0, spacing
    # general rotation: trilinear samples on a (D, H, W) lattice in the view frame
    n_depth = int(torch.ceil((2.0 * radius / spacing).max()).item()) + 1
    dts = 2.0 * radius / (n_depth - 1)  # (B,)
    zs = radius[:, None] - dts[:, None] * torch.arange(n_depth, device=dev, dtype=dt_)  # (B, D)
    r = torch.as_tensor(rot.T, device=dev, dtype=dt_)  # view → world
    pv = torch.stack(torch.broadcast_tensors(
        xs[:, None, None, :], ys[:, None, :, None], zs[:, :, None, None]), dim=-1)  # fmt: skip
    pw = pv @ r.T + centre[:, None, None, None, :]  # (B, D, H, W, 3)
    g = torch.stack(
        [_norm_index(pw[..., a], origin[:, a, None, None, None], spacing[:, None, None, None],
                     shape[a]) for a in (2, 1, 0)], dim=-1)  # fmt: skip
    f = F.grid_sample(vol[:, None], g, mode="bilinear", padding_mode="zeros", align_corners=True)
    return f[:, 0] - OFFSET, torch.zeros_like(radius), dts


def crossing_list(f, t0, dt):
    """Every isosurface crossing along the rays of f (B, D, H, W) = ln(ρ/iso), near → far.

    Returns (b, h, w, t, rank, back): molecule, pixel row and column, t (Å from the near plane,
    linearly refined between samples), the crossing's rank from the front (0 = first) and from
    the back. One ``nonzero`` over the sign changes, sorted per ray by depth."""
    import torch

    B, D, H, W = f.shape
    inside = (f > 0).permute(0, 2, 3, 1)  # (B, H, W, D)
    change = inside[..., 1:] != inside[..., :-1]
    b, h, w, k = torch.nonzero(change).unbind(1)
    if len(b) == 0:
        return b, h, w, torch.zeros(0, dtype=f.dtype, device=f.device), b, b
    ray = (b * H + h) * W + w
    _, counts = torch.unique_consecutive(ray, return_counts=True)
    starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rank = torch.arange(len(ray), device=f.device) - starts
    back = torch.repeat_interleave(counts, counts) - 1 - rank
    return b, h, w, _refine(f, t0, dt, b, h, w, k), rank, back


def _refine(f, t0, dt, b, h, w, k):
    """t (Å from the near plane) of the crossings between depth samples k and k + 1 of the rays
    (b, h, w) of f (B, D, H, W), linearly interpolated between the two samples."""
    _, D, H, W = f.shape
    lin = ((b * D + k) * H + h) * W + w
    flat = f.reshape(-1)
    fk, fk1 = flat[lin], flat[lin + H * W]
    frac = (fk / (fk - fk1)).clamp(0.0, 1.0)
    return t0[b] + dt[b] * (k.to(f.dtype) + frac)


def edge_crossings(f, t0, dt):
    """The first and the last isosurface crossing of every ray of f (B, D, H, W), as
    :func:`crossing_list` finds them (same t), without the crossings in between: all that a
    single surface layer, seen from the front and from the back, needs. ``rank`` of the last
    and ``back`` of the first crossing are 1 when a ray crosses more than once (not the count
    minus one), so only ``rank < 1`` and ``back < 1`` keep their meaning. One compiled pass per
    ray from each end (no sorting of every crossing in the volume)."""
    import torch

    from rhoml.represent.render_kernels import ray_ends

    B, D, H, W = f.shape
    ff = f.detach().cpu().contiguous()
    first, last = (torch.from_numpy(a) for a in ray_ends(ff.numpy().reshape(B, D, H * W)))
    ray = torch.nonzero(first >= 0)[:, 0].to(f.device)
    if len(ray) == 0:
        e = torch.zeros(0, dtype=torch.int64, device=f.device)
        return e, e, e, torch.zeros(0, dtype=f.dtype, device=f.device), e, e
    first = first.to(f.device)[ray]
    last = last.to(f.device)[ray]
    two = torch.nonzero(last > first)[:, 0]
    one = (last > first).long()
    ray = torch.cat([ray, ray[two]])
    b, h, w = ray // (H * W), (ray // W) % H, ray % W
    k = torch.cat([first, last[two]])
    rank = torch.cat([torch.zeros_like(one), one[two]])
    back = torch.cat([one, torch.zeros_like(two)])
    return b, h, w, _refine(f, t0, dt, b, h, w, k), rank, back


def flat_field(vol, origin, spacing):
    """Pack vol (B, C, nx, ny, nz) for :func:`trilinear`: point-major flat values (B·n, C) (the
    C values of a grid point side by side, gathered in one row), the grid shape, origins (B, 3)
    Å and spacings (B,) Å."""
    B, C = vol.shape[:2]
    flat = vol.reshape(B, C, -1).transpose(1, 2).reshape(-1, C).contiguous()
    return flat, tuple(vol.shape[2:]), origin, spacing


def trilinear(field, points, bidx):
    """Trilinear samples of a :func:`flat_field` at world points (N, 3) Å of molecules ``bidx``
    (N,) → (N, C). Points outside the grid take the nearest cell's extrapolation."""
    import torch

    flat_vol, (X, Y, Z), origin, spacing = field
    shape = torch.tensor([X, Y, Z], device=points.device)
    u = (points - origin[bidx]) / spacing[bidx, None]
    i0 = torch.minimum(torch.floor(u).long().clamp(min=0), shape - 2).clamp(min=0)
    w = (u - i0.to(u.dtype)).clamp(0.0, 1.0)
    out = torch.zeros((len(points), flat_vol.shape[1]), dtype=flat_vol.dtype, device=points.device)
    base = ((bidx * X + i0[:, 0]) * Y + i0[:, 1]) * Z + i0[:, 2]
    for dx in (0, 1):
        wx = w[:, 0] if dx else 1.0 - w[:, 0]
        for dy in (0, 1):
            wy = w[:, 1] if dy else 1.0 - w[:, 1]
            for dz in (0, 1):
                wz = w[:, 2] if dz else 1.0 - w[:, 2]
                flat = base + (dx * Y * Z if X > 1 else 0) + (dy * Z if Y > 1 else 0)
                flat = flat + (dz if Z > 1 else 0)
                out += (wx * wy * wz)[:, None] * flat_vol.index_select(0, flat)
    return out


def shade(base, normal):
    """Blinn–Phong with a white light from the upper right and a headlight; base, normal
    (..., 3) (normals facing the viewer) → RGB (..., 3) in [0, 1]."""
    import torch

    light = torch.as_tensor(LIGHT, dtype=base.dtype, device=base.device)
    half = light + torch.tensor([0.0, 0.0, 1.0], dtype=base.dtype, device=base.device)
    half = half / half.norm()
    ndl = (normal @ light).clamp(min=0.0)
    ndh = (normal @ half).clamp(min=0.0)
    lit = AMBIENT + DIFFUSE * ndl + HEADLIGHT * normal[..., 2].clamp(min=0.0)
    return (base * lit[..., None] + SPECULAR * ndh[..., None] ** SHININESS).clamp(0.0, 1.0)


def primitives(atoms, radii, colours, bonds, bond_mask, stick_radius):
    """Ball-and-stick primitives of one view: spheres at atoms, two half-cylinders per bond.

    atoms (B, A, 3) view frame Å; radii (B, A) (0 = hidden); colours (B, A, 3); bonds (B, K, 2)
    with bond_mask (B, K). Returns a dict of (B, P, ...) tensors: kind (0 sphere, 1 cylinder),
    a (start or centre), e (unit axis), length, radius, colour, live."""
    import torch

    B, A = radii.shape
    K = bonds.shape[1]
    ia, ib = bonds[..., 0], bonds[..., 1]
    pa = torch.gather(atoms, 1, ia[..., None].expand(-1, -1, 3))
    pb = torch.gather(atoms, 1, ib[..., None].expand(-1, -1, 3))
    mid = 0.5 * (pa + pb)
    starts = torch.cat([pa, pb], dim=1)  # (B, 2K, 3): a→mid and b→mid
    axis = torch.cat([mid - pa, mid - pb], dim=1)
    length = axis.norm(dim=-1).clamp(min=1e-9)
    cyl_col = torch.cat(
        [
            torch.gather(colours, 1, ia[..., None].expand(-1, -1, 3)),
            torch.gather(colours, 1, ib[..., None].expand(-1, -1, 3)),
        ],
        dim=1,
    )
    cyl_live = torch.cat([bond_mask, bond_mask], dim=1)
    zeros_a = torch.zeros((B, A), dtype=atoms.dtype, device=atoms.device)
    return {
        "kind": torch.cat([torch.zeros((B, A), dtype=torch.int64, device=atoms.device),
                           torch.ones((B, 2 * K), dtype=torch.int64, device=atoms.device)], 1),
        "a": torch.cat([atoms, starts], dim=1),
        "e": torch.cat([torch.zeros_like(atoms), axis / length[..., None]], dim=1),
        "length": torch.cat([zeros_a, length], dim=1),
        "radius": torch.cat([radii, torch.full_like(length, stick_radius)], dim=1),
        "colour": torch.cat([colours, cyl_col], dim=1),
        "live": torch.cat([radii > 0, cyl_live], dim=1),
    }  # fmt: skip


def _intersect(prim, x, y, radius, only: str | None = None):
    """Ray (x', y') hit of each primitive: t (inf = miss), normal (..., 3), for x, y and prim
    tensors broadcast together (orthographic ray towards −z'). ``only``: 'sphere' or
    'cylinder' when every primitive is of that kind (skips the other's arithmetic)."""
    import torch

    kind, a, e = prim["kind"], prim["a"], prim["e"]
    r, ln = prim["radius"], prim["length"]
    mx, my, mz = x - a[..., 0], y - a[..., 1], -a[..., 2]
    if only != "cylinder":  # sphere
        h2 = r * r - mx * mx - my * my
        dz = torch.sqrt(h2.clamp(min=0.0))
        t_sph = torch.where(h2 > 0, radius - a[..., 2] - dz, float("inf"))
    if only != "sphere":  # cylinder: point (x, y, -s); solve |m⊥ + s w⊥| = r, w = (0, 0, -1)
        ex, ey, ez = e[..., 0], e[..., 1], e[..., 2]
        me = mx * ex + my * ey + mz * ez
        qa = 1.0 - ez * ez
        qb = -mz + ez * me
        qc = mx * mx + my * my + mz * mz - me * me - r * r
        disc = qb * qb - qa * qc
        s = (-qb - torch.sqrt(disc.clamp(min=0.0))) / qa.clamp(min=1e-9)
        q = me - s * ez
        ok = (disc > 0) & (qa > 1e-9) & (q >= 0) & (q <= ln)
        t_cyl = torch.where(ok, radius + s, float("inf"))
    if only == "sphere":
        t = t_sph
        n = torch.stack(torch.broadcast_tensors(mx, my, dz), dim=-1)
    elif only == "cylinder":
        t = t_cyl
        n = torch.stack(torch.broadcast_tensors(mx - q * ex, my - q * ey, mz - s - q * ez), -1)
    else:
        is_sph = kind == 0
        t = torch.where(is_sph, t_sph, t_cyl)
        n_sph = torch.stack(torch.broadcast_tensors(mx, my, dz), dim=-1)
        n_cyl = torch.stack(torch.broadcast_tensors(mx - q * ex, my - q * ey, mz - s - q * ez), -1)
        n = torch.where(is_sph[..., None], n_sph, n_cyl)
    t = torch.where(prim["live"], t, float("inf"))
    return t, n / n.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def _intersect_t(prim, x, y, radius, only):
    """Only the hit distance t of :func:`_intersect` (no normals), for one kind of primitive."""
    import torch

    a, r = prim["a"], prim["radius"]
    mx, my = x - a[..., 0], y - a[..., 1]
    if only == "sphere":
        h2 = r * r - mx * mx - my * my
        t = torch.where(h2 > 0, radius - a[..., 2] - torch.sqrt(h2.clamp(min=0.0)),
                        float("inf"))  # fmt: skip
    else:
        t, _ = _intersect(prim, x, y, radius, only)
    return torch.where(prim["live"], t, float("inf"))


def _patches(prim, radius, size, start, end, only=None):
    """Intersections of primitives ``start:end`` with the pixels of their bounding squares
    (one square size per group: spheres and sticks separately). Returns flat pixel index
    (B, M) (size² = outside), t (B, M) and primitive id (B, M)."""
    import torch

    sub = {k: v[:, start:end] for k, v in prim.items()}
    a, r = sub["a"], sub["radius"]
    B, P = r.shape
    dev, dt_ = a.device, a.dtype
    px = 2.0 * radius / size  # (B,)
    half = r + 0.5 * torch.stack([
        (sub["e"][..., 0] * sub["length"]).abs(), (sub["e"][..., 1] * sub["length"]).abs()
    ], -1).amax(-1)  # fmt: skip
    cx = a[..., 0] + 0.5 * sub["e"][..., 0] * sub["length"]  # patch centre, view frame
    cy = a[..., 1] + 0.5 * sub["e"][..., 1] * sub["length"]
    live = sub["live"]
    n = int(torch.ceil((2.0 * half / px[:, None])[live].max()).item()) + 2 if live.any() else 1
    ar = torch.arange(n, device=dev)
    j0 = torch.floor((cx - half + radius[:, None]) / px[:, None] - 0.5).long()
    i0 = torch.floor((radius[:, None] - cy - half) / px[:, None] - 0.5).long()
    jj = j0[..., None, None] + ar[None, None, None, :]  # (B, P, 1, n)
    ii = i0[..., None, None] + ar[None, None, :, None]  # (B, P, n, 1)
    x = -radius[:, None, None, None] + (jj.to(dt_) + 0.5) * px[:, None, None, None]
    y = radius[:, None, None, None] - (ii.to(dt_) + 0.5) * px[:, None, None, None]
    pr = {k: v[:, :, None, None] for k, v in sub.items()}
    t = _intersect_t(pr, x, y, radius[:, None, None, None], only)
    inside = (jj >= 0) & (jj < size) & (ii >= 0) & (ii < size)
    t = torch.where(inside, t, float("inf")).reshape(B, -1)
    flat = torch.where(inside, ii * size + jj, size * size).expand(B, P, n, n).reshape(B, -1)
    pid = (start + torch.arange(P, device=dev))[None, :, None, None].expand(B, P, n, n)
    return flat, t, pid.reshape(B, -1)


def ball_and_stick(prim, radius, size, background):
    """Nearest ball-and-stick surface per pixel, shaded, over ``background`` (3,) RGB.

    Each primitive is intersected only with the pixels of its bounding square (a patch), the
    nearest hit per pixel is kept with an order-independent ``scatter_reduce`` (deterministic),
    and only covered pixels are shaded. radius (B,) is the image half-width (Å). Returns t
    (B, H, W) (inf = no hit) and RGB (B, H, W, 3)."""
    import torch

    a, r = prim["a"], prim["radius"]
    B, P = r.shape
    dev, dt_ = a.device, a.dtype
    n_atoms = int((prim["kind"][0] == 0).sum())
    groups = ((0, n_atoms, "sphere"), (n_atoms, P, "cylinder"))
    parts = [_patches(prim, radius, size, s, e, only) for s, e, only in groups if e > s]
    flat = torch.cat([p[0] for p in parts], dim=1)
    t = torch.cat([p[1] for p in parts], dim=1)
    pid = torch.cat([p[2] for p in parts], dim=1)
    px = 2.0 * radius / size
    best = torch.full((B, size * size + 1), float("inf"), dtype=dt_, device=dev)
    best.scatter_reduce_(1, flat, t, reduce="amin")
    win = torch.isfinite(t) & (t == torch.gather(best, 1, flat))
    owner = torch.full((B, size * size + 1), -1, dtype=torch.int64, device=dev)
    owner.scatter_reduce_(1, flat, torch.where(win, pid, -1), reduce="amax")
    owner = owner[:, :-1]
    # shade the covered pixels with their winning primitive
    bb, pp = torch.nonzero(owner >= 0).unbind(1)
    o = owner.reshape(-1)[bb * (size * size) + pp]
    sel = bb * P + o
    got = {k: v.reshape(B * P, -1).index_select(0, sel).squeeze(-1) if v.ndim == 2
           else v.reshape(B * P, -1).index_select(0, sel) for k, v in prim.items()}  # fmt: skip
    rb = radius[bb]
    xg = -rb + ((pp % size).to(dt_) + 0.5) * px[bb]
    yg = rb - ((pp // size).to(dt_) + 0.5) * px[bb]
    t_hit, n_hit = _intersect(got, xg, yg, rb)
    t_px = torch.full((B, size * size), float("inf"), dtype=dt_, device=dev)
    rgb = background.to(dt_).expand(B, size * size, 3).clone()
    lin = bb * (size * size) + pp
    t_px.view(-1)[lin] = t_hit
    rgb.view(-1, 3)[lin] = shade(got["colour"], n_hit)
    return t_px.reshape(B, size, size), rgb.reshape(B, size, size, 3)

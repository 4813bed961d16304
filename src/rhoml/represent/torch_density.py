"""Gaussian-basis densities evaluated with torch at arbitrary points (CPU or CUDA).

A :class:`TorchDensity` is built from an analytic :class:`~rhoml.density.base.Density` (density
matrix or expansion coefficients in a PySCF-style Gaussian basis) and evaluates ρ and ∇ρ at any
points, so rotated or translated voxel grids are evaluated exactly (the density of a rotated
molecule at ``p`` is the density of the original one at ``Rᵀ(p − c) + c``), and on a GPU.

Method. Each shell's radial part is a contraction of primitives, R(r) = Σ_p c_p exp(−a_p r²);
each Cartesian component is x^i y^j z^k R(r), turned into PySCF's real spherical functions with
``pyscf.gto.cart2sph`` (the same normalisation PySCF uses, checked against
``Density.evaluate`` in the tests). A density matrix is contracted through its low-rank factor
P = U diag(s) Uᵀ (:func:`rhoml.density.evaluate.density_matrix_factor`), so
ρ = Σ_k s_k (χ·u_k)² and ∇ρ = 2 Σ_k s_k (χ·u_k)(∇χ·u_k). Points are processed in chunks; in each
chunk only shells whose extent (where the primitive sum exceeds ``cutoff``) reaches the chunk's
bounding box are formed.

Units: points in Å; ρ in e/Bohr³, ∇ρ in e/Bohr⁴ (evaluation runs in Bohr internally).
"""

from __future__ import annotations

import math

import numpy as np

from rhoml.density.shells import CUTOFF  # |R(r)| below this (per shell) is not formed
from rhoml.units import ANGSTROM_IN_BOHR

CHUNK = 8192  # points per chunk


class TorchDensity:
    """Torch evaluator of one analytic density (see the module docstring).

    Args:
        density: a :class:`~rhoml.density.base.Density` (``density_matrix`` or
            ``coefficients``).
        device: torch device; dtype: float32 or float64 (computation and output).
        cutoff: shell screening threshold on the radial part.
    """

    def __init__(self, density, device="cpu", dtype=None, cutoff: float = CUTOFF) -> None:
        import torch

        from rhoml.density.shells import molecule_shells

        self.dtype = dtype or torch.float64
        self.device = torch.device(device)
        # per-element tables, cached across molecules (no PySCF molecule of the system built)
        sh = molecule_shells(density.molecule, density.basis, cutoff)
        nao = sh.nao
        t = dict(device=self.device, dtype=self.dtype)
        self.nao, self.n_rad, self.n_col = nao, sh.n_rad, sh.n_col
        self.centres = torch.as_tensor(sh.centres, **t)  # (nshell, 3) Bohr
        self.radii = torch.as_tensor(sh.shell_radius, **t)  # (nshell,) Bohr
        self.prim_exp = torch.as_tensor(sh.prim_exp, **t)
        self.prim_coef = torch.as_tensor(sh.prim_coef, **t)
        self.prim_shell = torch.as_tensor(sh.prim_shell, device=self.device)
        self.prim_rad = torch.as_tensor(sh.prim_rad, device=self.device)
        self.col_rad = torch.as_tensor(sh.col_rad, device=self.device)
        self.col_pow = torch.as_tensor(sh.col_pow, **t)
        self.col_shell = torch.as_tensor(sh.col_shell, device=self.device)
        self.ao_shell = torch.as_tensor(sh.ao_shell, device=self.device)
        self.s_only = not bool(sh.shell_l.any())
        if self.s_only:  # Cartesian = spherical for s functions (cart2sph(0) = [[1]])
            self.c2s = None
        else:  # dense (n_col, nao): fine up to a few thousand functions
            c2s_dense = np.zeros((sh.n_col, nao))
            c2s_dense[sh.c2s_rows, sh.c2s_cols] = sh.c2s_vals
            self.c2s = torch.as_tensor(c2s_dense, **t)
        self.kind = density.kind
        data = np.asarray(density.data)
        if data.shape != ((nao, nao) if density.kind == "density_matrix" else (nao,)):
            raise ValueError(f"{density.kind} has shape {data.shape}, basis needs {nao} functions")
        if density.kind == "density_matrix":
            from rhoml.density.evaluate import density_matrix_factor

            u, sign = density_matrix_factor(data)
            self.factor = torch.as_tensor(u, **t)
            self.sign = torch.as_tensor(sign, **t)
        else:
            self.coefficients = torch.as_tensor(data, **t)
        self.spherical = density.kind == "coefficients" and self.s_only
        if self.spherical:  # fold coefficients into primitives: ρ = Σ_p w_p exp(−a_p r²)
            w = sh.prim_coef * data[sh.rad_ao[sh.prim_rad]]
            self.prim_weight = torch.as_tensor(w, **t)
            self.prim_centre = self.centres[self.prim_shell]
            self.prim_atom = sh.shell_atom[sh.prim_shell]  # numpy (P,): atom of each primitive

    # ------------------------------------------------------------------------------------------
    def _chunk(self, pts, gradient: bool):
        """ρ (M,) and ∇ρ (M, 3) or None at Bohr points (M, 3)."""
        import torch

        lo, hi = pts.min(0).values, pts.max(0).values
        gap = torch.clamp(lo[None] - self.centres, min=0) + torch.clamp(
            self.centres - hi[None], min=0
        )
        near = (gap * gap).sum(1) <= self.radii**2  # (nshell,)
        if not bool(near.any()):
            m = len(pts)
            return pts.new_zeros(m), (pts.new_zeros(m, 3) if gradient else None)
        pm = near[self.prim_shell]
        cm = near[self.col_shell]
        am = near[self.ao_shell]
        rad_idx = torch.unique(self.prim_rad[pm])
        rad_map = torch.full((self.n_rad,), -1, dtype=torch.long, device=self.device)
        rad_map[rad_idx] = torch.arange(len(rad_idx), device=self.device)
        # primitives → radial functions R (M, nrad) and R1 = Σ c (−2a) e
        d_prim = pts[:, None, :] - self.centres[self.prim_shell[pm]][None]  # (M, P, 3)
        r2 = (d_prim * d_prim).sum(-1)
        e = torch.exp(-self.prim_exp[pm][None] * r2) * self.prim_coef[pm][None]
        cols = rad_map[self.prim_rad[pm]]
        m = len(pts)
        radial = pts.new_zeros(m, len(rad_idx)).index_add_(1, cols, e)
        if gradient:
            e1 = e * (-2.0 * self.prim_exp[pm][None])
            radial1 = pts.new_zeros(m, len(rad_idx)).index_add_(1, cols, e1)
        # Cartesian functions x^i y^j z^k R
        pw = self.col_pow[cm]  # (Q, 3)
        d = pts[:, None, :] - self.centres[self.col_shell[cm]][None]  # (M, Q, 3)
        ccols = rad_map[self.col_rad[cm]]
        mono = torch.where(pw[None] == 0, torch.ones_like(d), d ** pw[None])  # (M, Q, 3)
        poly = mono.prod(-1)
        if self.c2s is None:

            def c2s_apply(v):
                return v
        else:
            c2s = self.c2s[cm][:, am]

            def c2s_apply(v):
                return v @ c2s

        ao = c2s_apply(poly * radial[:, ccols])  # (M, nao')
        grads = None
        if gradient:
            # ∂x[x^i y^j z^k R] = i x^(i-1) y^j z^k R + x^(i+1) y^j z^k R1
            r0, r1 = radial[:, ccols], radial1[:, ccols]
            grads = []
            for ax in range(3):
                p_ax = pw[:, ax]
                lower = torch.where(
                    p_ax[None] > 0, d[..., ax] ** torch.clamp(p_ax - 1, min=0)[None], 0.0
                )
                others = [mono[..., o] for o in range(3) if o != ax]
                rest = others[0] * others[1]
                dcart = p_ax[None] * lower * rest * r0 + mono[..., ax] * d[..., ax] * rest * r1
                grads.append(c2s_apply(dcart))
        if self.kind == "density_matrix":
            u = self.factor[am]
            phi = ao @ u
            rho = (phi * phi) @ self.sign
            grad = None
            if gradient:
                grad = torch.stack([2.0 * ((g @ u) * phi) @ self.sign for g in grads], dim=-1)
            return rho, grad
        c = self.coefficients[am]
        rho = ao @ c
        grad = torch.stack([g @ c for g in grads], dim=-1) if gradient else None
        return rho, grad

    def evaluate(self, points, *, gradient: bool = False, chunk: int = CHUNK):
        """ρ at points (N, 3) in Å → (N,) e/Bohr³; with ``gradient`` also ∇ρ (N, 3) e/Bohr⁴.

        ``points`` may be a numpy array or a torch tensor; the result is a torch tensor (or a
        pair) on this evaluator's device. Spatially compact chunks screen best: pass grid points
        in tile order (see :func:`tile_order`) for large grids.
        """
        import torch

        pts = torch.as_tensor(points, device=self.device, dtype=self.dtype).reshape(-1, 3)
        pts = pts * ANGSTROM_IN_BOHR
        rho = pts.new_empty(len(pts))
        grad = pts.new_empty(len(pts), 3) if gradient else None
        for s in range(0, len(pts), chunk):
            r, g = self._chunk(pts[s : s + chunk], gradient)
            rho[s : s + chunk] = r
            if gradient:
                grad[s : s + chunk] = g
        return (rho, grad) if gradient else rho


def evaluate_spherical_on_grid(td: TorchDensity, offsets, centre, rotation=None, shift=None, *,
                               gradient: bool = False, block: int = 512,
                               cutoff: float | None = None):  # fmt: skip
    """A density of spherical (s-only) functions with coefficients, on an axis-aligned cubic grid
    whose points are ``centre + (offsets[i], offsets[j], offsets[k])`` (Å), for the molecule posed
    as ``R (x − centre) + centre + t`` (exact: spherical atoms only move).

    Separable: ρ[i, j, k] = Σ_p w_p X_p[i] Y_p[j] Z_p[k], computed as GEMMs over spatially
    compact blocks of primitives; each primitive is formed only in its own sub-box (the grid
    points within its radius along each axis, where |w_p| exp(−a_p r²) ≥ ``cutoff``, default
    :data:`CUTOFF`), so the result does not depend on the blocking and 90° rotations of the
    grid map it exactly.
    Returns ρ (n, n, n) e/Bohr³ and, with ``gradient``, ∇ρ (n, n, n, 3) e/Bohr⁴.
    """
    import torch

    cutoff = CUTOFF if cutoff is None else float(cutoff)
    if not td.spherical:
        raise ValueError("evaluate_spherical_on_grid needs an s-only coefficient density")
    t = dict(device=td.device, dtype=td.dtype)
    c = torch.as_tensor(np.asarray(centre, float), **t) * ANGSTROM_IN_BOHR
    cen = td.prim_centre - c
    if rotation is not None:
        cen = cen @ torch.as_tensor(np.asarray(rotation, float), **t).T
    if shift is not None:
        cen = cen + torch.as_tensor(np.asarray(shift, float), **t) * ANGSTROM_IN_BOHR
    x = torch.as_tensor(offsets, **t) * ANGSTROM_IN_BOHR  # (n,) relative to the centre
    n = len(x)
    rho = torch.zeros(n, n, n, **t)
    grads = [torch.zeros(n, n, n, **t) for _ in range(3)] if gradient else None
    # Spatially compact blocks of primitives of similar extent: each block only touches the
    # sub-box its Gaussians reach (|w| exp(−a r²) ≥ CUTOFF), which makes tight (core)
    # primitives cheap. Within a block the update is a GEMM over the block's sub-box.
    w_abs = td.prim_weight.abs().clamp(min=1e-300)
    rad = torch.sqrt(torch.clamp(torch.log(w_abs / cutoff), min=0.0) / td.prim_exp)
    lo_box, hi_box = float(x[0]), float(x[-1])
    reach = ((cen - rad[:, None] <= hi_box) & (cen + rad[:, None] >= lo_box)).all(1)
    keep = torch.nonzero(reach).flatten()
    if len(keep) == 0:
        return (rho, torch.stack([g for g in grads], -1)) if gradient else rho
    cen_k, rad_k = cen[keep].cpu().numpy(), rad[keep].cpu().numpy()
    bucket = np.digitize(rad_k, [3.0, 8.0])  # Bohr: core, valence, diffuse
    cell = np.floor(cen_k / np.array([8.0, 8.0, 8.0])[None]).astype(np.int64)
    key = ((bucket * 1000 + cell[:, 0] + 500) * 1000 + cell[:, 1] + 500) * 1000 + cell[:, 2] + 500
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
    bounds = list(starts) + [len(order)]
    xs = x.cpu().numpy()
    for g0, g1 in zip(bounds[:-1], bounds[1:], strict=True):
        for s0 in range(g0, g1, block):
            sel_np = order[s0 : min(g1, s0 + block)]
            lo = (cen_k[sel_np] - rad_k[sel_np, None]).min(0)
            hi = (cen_k[sel_np] + rad_k[sel_np, None]).max(0)
            i0 = np.searchsorted(xs, lo, side="left")
            i1 = np.searchsorted(xs, hi, side="right")
            if (i1 <= i0).any():
                continue
            sel = keep[torch.as_tensor(sel_np, device=td.device)]
            a = td.prim_exp[sel, None]
            w = td.prim_weight[sel, None]
            cb = cen[sel]
            d = [x[i0[ax] : i1[ax]][None, :] - cb[:, ax, None] for ax in range(3)]  # (P, m)
            r2 = rad[sel, None] ** 2  # each primitive cut at its own radius, per axis, so
            f = [torch.exp(-a * dd * dd) * (dd * dd <= r2) for dd in d]  # blocks do not matter
            m0, m1, m2 = (int(i1[ax] - i0[ax]) for ax in range(3))
            box = (slice(i0[0], i1[0]), slice(i0[1], i1[1]), slice(i0[2], i1[2]))
            yz = (f[1][:, :, None] * f[2][:, None, :]).reshape(len(a), m1 * m2)
            rho[box] += ((w * f[0]).T @ yz).reshape(m0, m1, m2)
            if gradient:
                df = [-2.0 * a * dd * ff for dd, ff in zip(d, f, strict=True)]
                grads[0][box] += ((w * df[0]).T @ yz).reshape(m0, m1, m2)
                yz_dy = (df[1][:, :, None] * f[2][:, None, :]).reshape(len(a), m1 * m2)
                yz_dz = (f[1][:, :, None] * df[2][:, None, :]).reshape(len(a), m1 * m2)
                grads[1][box] += ((w * f[0]).T @ yz_dy).reshape(m0, m1, m2)
                grads[2][box] += ((w * f[0]).T @ yz_dz).reshape(m0, m1, m2)
    if not gradient:
        return rho
    return rho, torch.stack(grads, dim=-1)


def tile_order(n: int, tile: int = 8) -> np.ndarray:
    """Permutation of the C-ordered indices of an n³ grid into compact ``tile``³ blocks."""
    idx = np.arange(n**3).reshape(n, n, n)
    nt = math.ceil(n / tile)
    parts = []
    for a in range(nt):
        for b in range(nt):
            for c in range(nt):
                blk = idx[a * tile : (a + 1) * tile, b * tile : (b + 1) * tile]
                parts.append(blk[:, :, c * tile : (c + 1) * tile].ravel())
    return np.concatenate(parts)

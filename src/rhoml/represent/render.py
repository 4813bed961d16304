"""Multi-view RGB-D images of electron densities (EDG: Xiang et al., Electron
Density-enhanced Molecular Geometry Learning) and structural images, rendered
in torch without PyMOL.

What is drawn (the EDG recipe): the isosurface ρ = ``isovalue``
(0.05 e/Bohr³) coloured by the electrostatic potential on it through a red → white → blue ramp
over [−0.08, 0, +0.08] Hartree/e (red = negative), with transparency 0.4 over a ball-and-stick
model of the molecule, from the six views (x, 0°), (x, 180°), (x, 90°), (x, −90°), (y, 90°),
(y, −90°), 224 × 224 pixels; the teacher's structural images are the ball-and-stick model alone,
hydrogens hidden, from (x, 0°), (x, 180°), (y, 180°), (z, 180°).

How (and why):

* ρ is needed once per molecule on a regular grid (0.2 Å), the ESP only at the points of that
  grid (or of a coarser one) next to the isosurface (:mod:`rhoml.represent.render_fields`). By
  default ρ is evaluated exactly only near the surface (interpolated from a 0.4 Å grid
  elsewhere) and the ESP comes from the analytic potential of a Coulomb fit of the density
  (:mod:`rhoml.density.esp_fit`): the exact ESP integrals used to cost ~10× the rendering.
* Each view is ray cast orthographically through the grid (:mod:`render_raster`). The field
  sampled along rays is ln(ρ/iso): densities decay nearly exponentially, so its trilinear
  interpolation places the surface far more accurately than interpolating ρ itself. The first
  ``max_layers`` crossings of each ray are found on the samples and refined by linear
  interpolation, which gives a true depth. EDG's views are all 90° multiples, for which the grid
  is just permuted and each depth plane bilinearly resampled (one ``grid_sample`` call per view);
  other views take a general trilinear path. Marching cubes plus a triangle rasteriser would need
  a mesh pipeline that torch lacks; ray marching the analytic density would cost one density
  evaluation per sample.
* Normals come from ∇ ln ρ (central differences on the grid, sampled at the hit); the ESP colour
  from trilinear interpolation of the band. Atoms and bonds are analytic spheres and cylinders,
  intersected exactly per pixel. Surface layers (opacity 1 − transparency each) are composited
  front to back over the opaque ball-and-stick layer and a background. The EDG preset draws only
  the nearest surface layer, as PyMOL's ray tracer does for a transparent isosurface (with all
  layers the images are darker and their SSIM to PyMOL's drops from ≈0.9 to ≈0.8); set
  ``max_layers`` higher to see back faces. Opposite views (e.g. (x, 0°) and (x, 180°)) share one
  ray cast: the last crossings of a ray are the first ones seen from behind.
* Everything after the grids runs batched in torch on CPU or CUDA, in float32, with no random
  numbers: the output is deterministic.

Depth (the D channel, see :mod:`render_camera`): the distance from the near plane of the
molecule's bounding sphere (radius R, centred on the atoms' bounding box) to the first drawn
surface, divided by 2R; background = 1. Stored as uint8 (×255, rounded); the pixel size 2R/size
Å and R are kept in the array metadata. (EDG's own "depth" is PNG alpha, i.e. coverage.)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rhoml.errors import RhomlError
from rhoml.molecule import Molecule
from rhoml.represent.render_camera import (
    EDG_DENSITY_VIEWS,
    EDG_STRUCTURE_VIEWS,
    signed_permutation,
    view_rotation,
)
from rhoml.represent.render_fields import DensityFields, prepare_fields
from rhoml.represent.render_style import atom_colours, bonds, ramp, to_rgb
from rhoml.store import schema

KINDS = ("density", "structure")


@dataclass(frozen=True)
class RenderConfig:
    """Rendering settings (strict: :meth:`from_dict` rejects unknown keys).

    kind: 'density' (ESP-coloured isosurface over ball-and-stick) or 'structure'.
    views: (axis, degrees) per image. size: pixels per side. channels: 'rgbd' or 'rgb'.
    isovalue: e/Bohr³. esp_stops: Hartree/e (increasing), esp_colours: one per stop.
    transparency: of each isosurface layer (0 opaque, 1 invisible). max_layers: surface layers
    composited per ray. spacing: density grid step, Å. esp_stride: ESP grid step in units of
    spacing. margin: grid margin around the atoms, Å. show_hydrogens: draw H atoms.
    ball_radius, stick_radius: Å. background: colour.

    How the grids are evaluated (fast or exact) is not a render setting: it changes the images
    by a few colour levels at most (see :func:`fields_for`).
    """

    kind: str = "density"
    views: tuple = EDG_DENSITY_VIEWS
    size: int = 224
    channels: str = "rgbd"
    isovalue: float = 0.05
    esp_stops: tuple = (-0.08, 0.0, 0.08)
    esp_colours: tuple = ("red", "white", "blue")
    transparency: float = 0.4
    max_layers: int = 1
    spacing: float = 0.2
    esp_stride: int = 1
    margin: float = 3.0
    show_hydrogens: bool = True
    ball_radius: float = 0.3
    stick_radius: float = 0.12
    background: Any = "white"

    def __post_init__(self) -> None:
        views = tuple((str(a), float(d)) for a, d in self.views)
        object.__setattr__(self, "views", views)
        object.__setattr__(self, "esp_stops", tuple(float(s) for s in self.esp_stops))
        object.__setattr__(self, "esp_colours", tuple(self.esp_colours))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.channels not in ("rgbd", "rgb"):
            raise ValueError(f"channels must be 'rgbd' or 'rgb', got {self.channels!r}")
        if not views:
            raise ValueError("at least one view is needed")
        for v in views:
            view_rotation(v)  # validates the axis
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        if not 0.0 <= self.transparency <= 1.0:
            raise ValueError(f"transparency must be in [0, 1], got {self.transparency}")
        if self.isovalue <= 0 or self.spacing <= 0 or self.margin <= 0:
            raise ValueError("isovalue, spacing and margin must be positive")
        if self.esp_stride < 1 or self.max_layers < 1:
            raise ValueError("esp_stride and max_layers must be >= 1")
        if len(self.esp_stops) != len(self.esp_colours) or len(self.esp_stops) < 2:
            raise ValueError("esp_stops and esp_colours need the same length (>= 2)")
        if list(self.esp_stops) != sorted(set(self.esp_stops)):
            raise ValueError(f"esp_stops must increase strictly, got {self.esp_stops}")
        for c in (*self.esp_colours, self.background):
            to_rgb(c)

    @classmethod
    def from_dict(cls, d: dict) -> RenderConfig:
        """Build from a dict; unknown keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown render option(s): {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def n_channels(self) -> int:
        return 4 if self.channels == "rgbd" else 3


#: Named presets. ``edg-density``: EDG's ED images (6 × 224² RGB-D). ``edg-structure``: EDG's
#: teacher images (4 × 224² RGB, ball-and-stick in the VideoMol style stick_radius 0.15 Å and
#: stick_ball_ratio 3.5, hydrogens hidden).
PRESETS: dict[str, dict] = {
    "edg-density": {},
    "edg-structure": {
        "kind": "structure",
        "views": EDG_STRUCTURE_VIEWS,
        "channels": "rgb",
        "show_hydrogens": False,
        "ball_radius": 0.525,
        "stick_radius": 0.15,
    },
}
#: Store array name per preset.
#: Store array of each preset (declared in :mod:`rhoml.store.schema`).
ARRAY_NAMES = {"edg-density": schema.EDG_DENSITY_VIEWS, "edg-structure": schema.EDG_STRUCTURE_VIEWS}


def _have_numba() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def preset(name: str, **overrides) -> RenderConfig:
    """The :class:`RenderConfig` of preset ``name`` with optional overrides."""
    if name not in PRESETS:
        raise RhomlError(f"unknown render preset {name!r}; choose from {', '.join(PRESETS)}")
    return RenderConfig.from_dict({**PRESETS[name], **overrides})


#: How :func:`fields_for` evaluates the grids: ``fast`` = ρ exact only near the isosurface and
#: the ESP from an analytic Coulomb fit; ``exact`` = ρ on every grid point and ``Density.esp``
#: (the renderer before the fast grids, ~4× slower, images identical to a few colour levels).
GRIDS = {"fast": ("band", "fit"), "exact": ("full", "exact")}


def fields_for(density, config: RenderConfig, *, esp_density=None,
               grids: str = "fast") -> DensityFields:  # fmt: skip
    """The grids ``config`` needs for ``density`` (see :func:`prepare_fields`; ``esp_density``
    optionally supplies the ESP, e.g. a density fit of the same molecule; ``grids``: 'fast' or
    'exact', see :data:`GRIDS`)."""
    if grids not in GRIDS:
        raise ValueError(f"grids must be one of {', '.join(GRIDS)}, got {grids!r}")
    rho_eval, esp_eval = GRIDS[grids]
    return prepare_fields(
        density, isovalue=config.isovalue, spacing=config.spacing,
        esp_stride=config.esp_stride, margin=config.margin, esp_density=esp_density,
        rho_eval=rho_eval, esp_eval=esp_eval,
    )  # fmt: skip


def bounding_radius(item, config: RenderConfig) -> tuple[np.ndarray, float]:
    """Centre (3,) Å (atoms' bounding-box centre) and radius R (Å) of everything drawn."""
    mol = item.molecule if isinstance(item, DensityFields) else item
    pos = mol.positions
    centre = 0.5 * (pos.min(axis=0) + pos.max(axis=0))
    radius = float(np.linalg.norm(pos - centre, axis=1).max()) + config.ball_radius
    if isinstance(item, DensityFields) and config.kind == "density" and item.has_surface():
        inside = np.argwhere(item.rho >= config.isovalue)
        pts = item.origin + inside * item.spacing
        radius = max(radius, float(np.linalg.norm(pts - centre, axis=1).max()) + item.spacing)
    return centre, max(radius, 0.5)


def render(items, config: RenderConfig, *, device=None, batch: int | None = None) -> np.ndarray:
    """Render molecules: uint8 array (B, V, size, size, C), C = 4 (RGB, depth) or 3 (RGB).

    ``items``: :class:`DensityFields` for kind 'density' (see :func:`fields_for`), Molecules
    (or fields) for kind 'structure'. ``device``: torch device (default CPU). ``batch``:
    molecules per torch call (default 1 on CPU, 32 on CUDA)."""
    import torch

    items = list(items)
    if config.kind == "density" and not all(isinstance(i, DensityFields) for i in items):
        raise TypeError("kind 'density' renders DensityFields (see rhoml.represent.render)")
    for i in items:
        if config.kind == "density" and not math.isclose(i.isovalue, config.isovalue):
            raise ValueError(
                f"{i.molecule.id}: grids were prepared for isovalue {i.isovalue} e/Bohr^3 (the "
                f"ESP band follows that surface); rendering needs {config.isovalue}: call "
                "fields_for with this config"
            )
    dev = torch.device(device or "cpu")
    if batch is None:
        batch = 32 if dev.type == "cuda" else 1
    out = np.empty((len(items), len(config.views), config.size, config.size, config.n_channels),
                   dtype=np.uint8)  # fmt: skip
    for s in range(0, len(items), batch):
        chunk = items[s : s + batch]
        with torch.no_grad():
            out[s : s + len(chunk)] = _render_chunk(chunk, config, dev).cpu().numpy()
    return out


def surface_hits(fields: DensityFields, config: RenderConfig, view) -> dict:
    """The first ``max_layers`` isosurface crossings per pixel of one ``view`` of one molecule,
    as the renderer finds them: ``points`` (N, 3) Å (world frame), ``esp`` (N,) Hartree/e
    interpolated as for colouring, ``layer`` (N,) and ``pixel`` (N, 2) (row, column). For
    accuracy checks against the analytic density."""
    import torch

    from rhoml.represent import render_raster as rr

    f32 = torch.float32
    centre_np, radius_np = bounding_radius(fields, config)
    lnr, origin_np, box = _crop(fields, config.isovalue)
    rot = view_rotation(view)
    vol = torch.as_tensor(lnr + rr.OFFSET)[None]
    origin = torch.as_tensor(origin_np[None], dtype=f32)
    spacing = torch.tensor([fields.spacing], dtype=f32)
    centre = torch.as_tensor(centre_np[None], dtype=f32)
    radius = torch.tensor([radius_np], dtype=f32)
    pix = (torch.arange(config.size, dtype=f32) + 0.5) / config.size
    xs = radius[:, None] * (2.0 * pix[None] - 1.0)
    f, t0, dt = rr.view_volume(vol, origin, spacing, centre, radius, rot, xs, -xs,
                               signed_permutation(rot))  # fmt: skip
    b, h, w, t, rank, _ = rr.crossing_list(f, t0, dt)
    keep = torch.nonzero(rank < config.max_layers)[:, 0]
    b, h, w, t, rank = _take(keep, b, h, w, t, rank)
    pv = torch.stack([xs[0, w], -xs[0, h], radius[0] - t], dim=-1)
    pw = pv @ torch.as_tensor(rot, dtype=f32) + centre[0]
    evol = torch.as_tensor(fields.esp, dtype=f32)[None, None]
    eorigin = torch.as_tensor(fields.origin[None], dtype=f32)
    field = rr.flat_field(evol, eorigin, spacing * fields.esp_stride)
    esp = rr.trilinear(field, pw, b)[:, 0]
    return {
        "points": pw.double().numpy(), "esp": esp.double().numpy(), "layer": rank.numpy(),
        "pixel": torch.stack([h, w], 1).numpy(),
    }  # fmt: skip


def render_density(density, config: RenderConfig | None = None, *, device=None,
                   grids: str = "fast") -> np.ndarray:  # fmt: skip
    """Evaluate the grids of one density and render it: uint8 (V, size, size, C)."""
    config = config or preset("edg-density")
    return render([fields_for(density, config, grids=grids)], config, device=device)[0]


def render_structure(molecule: Molecule, config: RenderConfig | None = None, *, device=None):
    """Structural images of one molecule: uint8 (V, size, size, C) (default: EDG teacher)."""
    config = config or preset("edg-structure")
    return render([molecule], config, device=device)[0]


def image_metadata(item, config: RenderConfig) -> dict:
    """What a stored image stack needs to be interpreted: settings, centre and R (Å)."""
    centre, radius = bounding_radius(item, config)
    return {
        "config": config.to_dict(),
        "layout": "(view, row, column, channel); channels R, G, B[, depth]",
        "depth": "t / 2R from the near plane of the bounding sphere, background 1 (x255)",
        "centre_angstrom": centre.tolist(),
        "radius_angstrom": radius,
        "pixel_angstrom": 2.0 * radius / config.size,
    }


# -- the torch part -------------------------------------------------------------------------------
def _pad_stack(arrays, torch, dev, dtype, fill=0.0):
    shape = tuple(max(a.shape[i] for a in arrays) for i in range(arrays[0].ndim))
    out = torch.full((len(arrays), *shape), fill, dtype=dtype, device=dev)
    for b, a in enumerate(arrays):
        out[(b, *(slice(0, n) for n in a.shape))] = torch.as_tensor(a, dtype=dtype, device=dev)
    return out


def _crop(item: DensityFields, isovalue: float, pad: int = 2):
    """ln(ρ/iso) cropped to the box of points with ρ ≥ iso (plus ``pad`` points), the crop's
    origin (3,) Å and its index box (slices)."""
    inside = np.argwhere(item.rho >= isovalue)
    if len(inside) == 0:
        lo = np.zeros(3, int)
        hi = np.minimum(np.array(item.rho.shape), 2)
    else:
        lo = np.maximum(inside.min(axis=0) - pad, 0)
        hi = np.minimum(inside.max(axis=0) + pad + 1, item.rho.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    lnr = np.log(np.maximum(item.rho[box], 1e-12)).astype(np.float32)
    return lnr - np.float32(math.log(isovalue)), item.origin + lo * item.spacing, box


def _window(corners, centre, radius, rot, size):
    """Pixel rows [i0, i1) and columns [j0, j1) covering the boxes ``corners`` (B, 8, 3) Å in a
    view, united over the batch."""
    v = (corners - centre[:, None]) @ rot.T  # (B, 8, 3)
    px = 2.0 * radius / size
    j0 = np.floor((v[..., 0].min(1) + radius) / px).min()
    j1 = np.ceil((v[..., 0].max(1) + radius) / px).max()
    i0 = np.floor((radius - v[..., 1].max(1)) / px).min()
    i1 = np.ceil((radius - v[..., 1].min(1)) / px).max()
    clip = lambda a: int(min(max(a, 0), size))  # noqa: E731
    return clip(i0), clip(i1), clip(j0), clip(j1)


def _render_chunk(items, config: RenderConfig, dev):
    import torch

    from rhoml.represent import render_raster as rr

    f32 = torch.float32
    B, size = len(items), config.size
    mols = [i.molecule if isinstance(i, DensityFields) else i for i in items]
    cr = [bounding_radius(i, config) for i in items]
    centre_np = np.array([c for c, _ in cr])
    radius_np = np.array([r for _, r in cr])
    centre = torch.as_tensor(centre_np, dtype=f32, device=dev)
    radius = torch.as_tensor(radius_np, dtype=f32, device=dev)
    bg = torch.as_tensor(to_rgb(config.background), dtype=f32, device=dev)

    # ball-and-stick model, padded over the chunk
    rad, col, bnd, pos = [], [], [], []
    for m in mols:
        show = np.ones(m.n_atoms, bool) if config.show_hydrogens else m.numbers != 1
        rad.append(np.where(show, config.ball_radius, 0.0))
        col.append(atom_colours(m.numbers))
        pairs = bonds(m.numbers, m.positions)
        pairs = pairs[show[pairs[:, 0]] & show[pairs[:, 1]]] if len(pairs) else pairs
        bnd.append(pairs.reshape(-1, 2))
        pos.append(m.positions)
    pos_t = _pad_stack(pos, torch, dev, f32)
    rad_t = _pad_stack(rad, torch, dev, f32)
    col_t = _pad_stack(col, torch, dev, f32)
    kmax = max(len(b) for b in bnd)
    bnd_t = torch.zeros((B, kmax, 2), dtype=torch.int64, device=dev)
    bmask_t = torch.zeros((B, kmax), dtype=torch.bool, device=dev)
    for b, pairs in enumerate(bnd):
        bnd_t[b, : len(pairs)] = torch.as_tensor(pairs, device=dev)
        bmask_t[b, : len(pairs)] = True

    density = config.kind == "density"
    if density:
        crops = [_crop(i, config.isovalue) for i in items]
        lnr = [c for c, _, _ in crops]
        origin_np = np.array([o for _, o, _ in crops])
        vol = _pad_stack([a + rr.OFFSET for a in lnr], torch, dev, f32)  # (B, nx, ny, nz)
        grads = []
        for b, a in enumerate(lnr):
            a_t = torch.as_tensor(a, device=dev)
            if min(a.shape) < 2:
                grads.append(np.zeros((3, *a.shape), np.float32))
                continue
            grads.append(torch.stack(torch.gradient(a_t, spacing=items[b].spacing)).cpu().numpy())
        same_grid = all(i.esp_stride == 1 for i in items)
        if same_grid:  # one 4-channel field: ∇ ln ρ and ESP on the cropped grid
            grads = [np.concatenate([g, i.esp[None][(slice(None), *c[2])]])
                     for g, i, c in zip(grads, items, crops, strict=True)]  # fmt: skip
        gvol = _pad_stack(grads, torch, dev, f32)  # (B, 3 or 4, nx, ny, nz)
        evol = _pad_stack([i.esp for i in items], torch, dev, f32)[:, None]
        origin = torch.as_tensor(origin_np, dtype=f32, device=dev)
        esp_origin = torch.as_tensor(np.array([i.origin for i in items]), dtype=f32, device=dev)
        spacing_np = np.array([i.spacing for i in items])
        spacing = torch.as_tensor(spacing_np, dtype=f32, device=dev)
        espacing = spacing * torch.as_tensor([i.esp_stride for i in items], dtype=f32, device=dev)
        colours = np.array([to_rgb(c) for c in config.esp_colours], dtype=np.float32)
        gfield = rr.flat_field(gvol, origin, spacing)
        efield = rr.flat_field(evol, esp_origin, espacing)
        ext = np.array([(np.array(a.shape) - 1) * h for a, h in zip(lnr, spacing_np, strict=True)])
        unit = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
        corners = origin_np[:, None] + unit[None] * ext[:, None]  # (B, 8, 3)
        has_surface = [i.has_surface() for i in items]
    alpha = 1.0 - config.transparency
    L = config.max_layers
    pix = (torch.arange(size, device=dev, dtype=f32) + 0.5) / size
    xs = radius[:, None] * (2.0 * pix[None] - 1.0)  # (B, W)
    ys = -xs
    rots = [view_rotation(v) for v in config.views]
    V = len(rots)
    # entry e = b * V + v: molecule b seen from view v
    rot_all = torch.as_tensor(np.array(rots), dtype=f32, device=dev)  # (V, 3, 3)
    rel = pos_t - centre[:, None]  # (B, A, 3)
    atoms_v = torch.einsum("vij,baj->bvai", rot_all, rel).reshape(B * V, -1, 3)
    radius_e = radius.repeat_interleave(V)

    def rep(x):
        return x.repeat_interleave(V, dim=0)

    prim = rr.primitives(atoms_v, rep(rad_t), rep(col_t), rep(bnd_t), rep(bmask_t),
                         config.stick_radius)  # fmt: skip
    t_s, behind = rr.ball_and_stick(prim, radius_e, size, bg)  # (B·V, H, W), (..., 3)
    rgb, t_first = behind, t_s
    if density and any(has_surface):
        hits: dict[str, list] = {k: [] for k in ("e", "layer", "h", "w", "t", "base", "nrm")}
        t_s_flat = t_s.reshape(-1)
        for vi, vj, flip in _pair_views(rots):
            rot = rots[vi]
            i0, i1, j0, j1 = _window(corners, centre_np, radius_np, rot, size)
            if i1 <= i0 or j1 <= j0:
                continue
            f, t0, dt = rr.view_volume(
                vol,
                origin,
                spacing,
                centre,
                radius,
                rot,
                xs[:, j0:j1],
                ys[:, i0:i1],
                signed_permutation(rot),
            )
            # one layer: first/last crossings from the compiled kernel (numba, the "fast" extra)
            crossings = rr.edge_crossings if L == 1 and _have_numba() else rr.crossing_list
            b, h, w, t, rank, back = crossings(f, t0, dt)
            del f
            h, w = h + i0, w + j0
            front = (rank < L) & (t < t_s_flat[((b * V + vi) * size + h) * size + w])
            keep = front
            if vj is not None:  # the partner view sees the same rays from behind
                fx, fy = flip
                h2 = size - 1 - h if fy < 0 else h
                w2 = size - 1 - w if fx < 0 else w
                t2 = 2.0 * radius[b] - t
                rear = (back < L) & (t2 < t_s_flat[((b * V + vj) * size + h2) * size + w2])
                keep = front | rear
            idx = torch.nonzero(keep)[:, 0]
            b, h, w, t, rank, back, front = _take(idx, b, h, w, t, rank, back, front)
            rot_t = rot_all[vi]
            pv = torch.stack([xs.reshape(-1)[b * size + w], -xs.reshape(-1)[b * size + h],
                              radius[b] - t], dim=-1)  # fmt: skip
            pw = pv @ rot_t + centre[b]  # view → world
            grad = rr.trilinear(gfield, pw, b)  # (N, 3[+1]) ∇ ln ρ (1/Å) [, ESP]
            if same_grid:
                grad, esp = grad[:, :3], grad[:, 3]  # ESP in Hartree/e
            else:
                esp = rr.trilinear(efield, pw, b)[:, 0]
            base = ramp(esp, config.esp_stops, colours)
            nrm = -(grad @ rot_t.T)  # outward normal in the view frame
            nrm = nrm / nrm.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            sel = torch.nonzero(front)[:, 0]
            for k, x in zip(
                ("e", "layer", "h", "w", "t", "base", "nrm"),
                _take(sel, b * V + vi, rank, h, w, t, base, nrm),
                strict=True,
            ):
                hits[k].append(x)  # fmt: skip
            if vj is not None:
                sel = torch.nonzero(_take(idx, rear)[0])[:, 0]
                h2, w2, t2 = _take(idx, h2, w2, t2)
                n2 = nrm * torch.tensor([fx, fy, -1.0], dtype=f32, device=dev)
                for k, x in zip(
                    ("e", "layer", "h", "w", "t", "base", "nrm"),
                    _take(sel, b * V + vj, back, h2, w2, t2, base, n2),
                    strict=True,
                ):
                    hits[k].append(x)  # fmt: skip
        if hits["e"]:
            cat = {k: torch.cat(v) for k, v in hits.items()}
            rgb, t_first = _layers(
                (B * V, L, size),
                cat["e"],
                cat["layer"],
                cat["h"],
                cat["w"],
                cat["t"],
                cat["base"],
                cat["nrm"],
                t_s,
                behind,
                alpha,
            )
    chans = [rgb]
    if config.channels == "rgbd":
        depth = torch.where(torch.isfinite(t_first), t_first / (2.0 * radius_e[:, None, None]),
                            torch.ones_like(t_first))  # fmt: skip
        chans.append(depth.clamp(0.0, 1.0)[..., None])
    img = torch.round(torch.cat(chans, dim=-1) * 255.0).to(torch.uint8)
    return img.reshape(B, V, size, size, -1)


def _take(idx, *tensors):
    """``index_select`` of every tensor along dim 0 (faster than boolean masks)."""
    return tuple(x.index_select(0, idx) for x in tensors)


def _pair_views(rots):
    """Group views into (i, j, (fx, fy)) where view j looks at view i's rays from behind
    (rot_j = diag(fx, fy, −1) rot_i), or (i, None, None): opposite views share one ray cast."""
    done: set[int] = set()
    out = []
    for i, ri in enumerate(rots):
        if i in done:
            continue
        done.add(i)
        partner = None
        for j in range(i + 1, len(rots)):
            if j in done:
                continue
            f = rots[j] @ ri.T
            if np.allclose(f, np.diag(np.diag(f)), atol=1e-9) and f[2, 2] < 0:
                partner = (j, (float(f[0, 0]), float(f[1, 1])))
                done.add(j)
                break
        out.append((i, partner[0], partner[1]) if partner else (i, None, None))
    return out


def _layers(dims, b, layer, h, w, t, base, nrm, t_s, behind, alpha):
    """Shade the visible surface hits (ESP colour ``base``, view-frame normals; all in front of
    the ball-and-stick surface) and composite them front to back over ``behind``. Every layer
    has opacity ``alpha`` and visible layers are consecutive from the front, so the layer of rank
    k contributes alpha (1 − alpha)^k; each (pixel, rank) is written once (deterministic).
    Returns RGB (B, H, W, 3) and the first-surface t (B, H, W)."""
    import torch

    from rhoml.represent import render_raster as rr

    B, L, size = dims
    L = min(L, int(layer.max()) + 1) if len(layer) else 1
    nrm = torch.where(nrm[:, 2:3] < 0, -nrm, nrm)  # two-sided lighting
    if L == 1:  # one hit per pixel: composite in place, sparse
        lin = (b * size + h) * size + w
        rgb = behind.clone().reshape(-1, 3)
        rgb[lin] = alpha * rr.shade(base, nrm) + (1.0 - alpha) * rgb[lin]
        first = t_s.clone().reshape(-1)
        first[lin] = t
        return rgb.reshape(behind.shape), first.reshape(t_s.shape)
    weight = alpha * (1.0 - alpha) ** layer.to(behind.dtype)
    lin = ((b * L + layer) * size + h) * size + w
    lit = torch.zeros((B * L * size * size, 3), dtype=behind.dtype, device=behind.device)
    lit[lin] = weight[:, None] * rr.shade(base, nrm)
    shown = torch.zeros(B * L * size * size, dtype=behind.dtype, device=behind.device)
    shown[lin] = 1.0
    trans = (1.0 - alpha) ** shown.reshape(B, L, size, size).sum(1)
    first = t_s.clone().reshape(-1)
    top = torch.nonzero(layer == 0)[:, 0]
    first[((b[top] * size) + h[top]) * size + w[top]] = t[top]
    rgb = lit.reshape(B, L, size, size, 3).sum(1) + trans[..., None] * behind
    return rgb, first.reshape(B, size, size)

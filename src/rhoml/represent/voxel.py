"""Voxel representations of molecules and complexes for 3D CNNs.

A :class:`VoxelSpec` fixes the box (edge ``size`` Å, step ``spacing`` Å, ``n = round(size /
spacing)`` points per edge, centred on the molecule centroid or, for complexes, on the ligand
centroid) and the channels; a :class:`Voxelizer` turns molecules (and their densities) into a
torch tensor (B, C, n, n, n), on CPU or CUDA. Grid point (i, j, k) is at
``origin + spacing·(i, j, k)`` (x slowest, as :class:`rhoml.grid.Grid`), and the grid is
symmetric about its centre, so 90° rotations about the centre map grid points onto grid points.

Channels (``spec.channels``, any combination, in this order per group):

* ``atoms`` — one channel per element of ``spec.elements`` (``"X"`` collects every other
  element; without ``"X"`` other elements are an error). Each atom is a normalised Gaussian of
  standard deviation ``atom_sigma`` Å (default 0.5 Å, about a third of a C–C bond, so bonded
  atoms stay separable at 0.5 Å voxels), cut at ``3σ`` and normalised on the voxel lattice
  (separately per axis), so one atom contributes exactly 1 to its channel's sum when its
  Gaussian lies inside the box: a channel's sum is an atom count (dimensionless).
* ``density`` — ρ from the analytic density (:mod:`rhoml.represent.torch_density`) at the grid
  points, never resampled from a coarse cube; experimental maps
  (:class:`~rhoml.density.sampled.SampledDensity`) are interpolated trilinearly. Valence or total
  depends on the engine (``xtb``: valence; ``promolecule`` with ``valence=True``; ``dft``:
  total). Transform ``density_transform`` (default ``log1p``): ``log1p(ρ/s)`` with
  ``s = density_scale`` (default 1e-3 e/Bohr³, roughly where the van der Waals surface lies, so
  values go from 0 in vacuum to ≈ 6–8 at valence maxima and ≈ 12 at a total-density cusp);
  ``asinh(ρ/s)`` (same shape, defined for negative map values); ``tanh(ρ/s)``; ``none``
  (raw e/Bohr³). Experimental map values are used in their own unit.
* ``gradient`` — |∇ρ| (e/Bohr⁴) with the same transform and ``gradient_scale`` (default 1e-3).
* ``shape`` — occupancy max over atoms of 1 − exp(−(r_vdW/d)¹²) (the KDEEP / moleculekit
  occupancy with Bondi van der Waals radii, cut at 2·r_vdW): 1 inside the vdW surface, 0 outside;
  no chemistry, only where the molecule is.

With ``separate_groups`` (complexes) every channel is repeated for group 0 (protein/pocket) and
group 1 (ligand) of ``Molecule.groups``; densities are then those of each group computed alone.

Overflow: with ``overflow="error"`` an atom centre outside the box raises
:class:`VoxelBoxError`; with ``"crop"`` (the default for complexes) atoms outside contribute only
the part of their Gaussian inside the box, and the density is cropped at the box, but an atom of
the centring group (the ligand) outside the box is still an error.

Computation: on CPU with float32/float64 output the atom-type and shape channels of a whole
batch come from compiled single-threaded numba kernels (:mod:`rhoml.represent.voxel_kernels`;
compiled on first use, then loaded from numba's on-disk cache; numba comes with the ``fast``
extra, and without it ``backend="auto"`` takes the torch path); the torch path
(``backend="torch"``) is the reference they are tested against and runs on CUDA. ``out=``
reuses an output tensor (large fresh outputs pay the operating system's page faults).
Densities: evaluators are built from per-element basis tables cached across molecules
(:mod:`rhoml.density.shells`); spherical-atom (promolecule) densities on CPU come from a
compiled kernel (:mod:`rhoml.represent.density_kernels`: the diffuse primitives of each atom
kind as one tabulated radial function), elsewhere from separable GEMMs (torch); other densities
on unrotated CPU grids from the separable regular-grid evaluator
(:func:`rhoml.density.regular_grid.evaluate_on_regular_grid`), rotated or on CUDA point by
point (:class:`~rhoml.represent.torch_density.TorchDensity`). With a
transform, primitives are screened at 1e-9 × the transform scale (:attr:`Voxelizer.screening`;
truncation error ≲ 1e-8 in transformed units, below float32 resolution).

Poses: ``rotations`` (B, 3, 3) and ``translations`` (B, 3) Å voxelise the molecule rotated about
the box centre and shifted, i.e. positions ``R (x − c) + c + t``; densities are evaluated
exactly as ρ(Rᵀ(p − c − t) + c) at the grid points p, so no engine re-run is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rhoml.errors import RhomlError
from rhoml.grid import Grid
from rhoml.molecule import Molecule

CHANNEL_KINDS = ("atoms", "density", "gradient", "shape")
TRANSFORMS = ("log1p", "asinh", "tanh", "none")
OTHER = "X"
# Bondi (1964) van der Waals radii in Å (H 1.20 as in Bondi); elements absent use 2.0 Å.
VDW_RADII = {
    "H": 1.20, "He": 1.40, "C": 1.70, "N": 1.55, "O": 1.52, "F": 1.47, "Ne": 1.54, "Si": 2.10,
    "P": 1.80, "S": 1.80, "Cl": 1.75, "Ar": 1.88, "As": 1.85, "Se": 1.90, "Br": 1.85,
    "Kr": 2.02, "Te": 2.06, "I": 1.98, "Xe": 2.16, "B": 1.92, "Na": 2.27, "Mg": 1.73,
    "K": 2.75, "Zn": 1.39, "Cu": 1.40, "Ni": 1.63, "Fe": 2.00, "Ca": 2.31, "Mn": 2.00,
    "Co": 2.00,
}  # fmt: skip
DEFAULT_VDW = 2.0
ATOM_CUTOFF_SIGMAS = 3.0
SHAPE_CUTOFF_RADII = 2.0
BACKENDS = ("auto", "numba", "torch")
_NO_ROTATION = np.zeros((0, 3, 3))
_NO_GROUPS = np.zeros(0, dtype=np.int64)


def _have_numba() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


class VoxelBoxError(RhomlError):
    """A molecule does not fit in the voxel box (or its centring group is outside it)."""


@dataclass(frozen=True)
class VoxelSpec:
    """What a voxel grid holds. Lengths in Å; see the module docstring for the channels."""

    size: float = 16.0
    spacing: float = 0.5
    channels: tuple[str, ...] = ("atoms",)
    elements: tuple[str, ...] = ("H", "C", "N", "O", "F")
    atom_sigma: float = 0.5
    separate_groups: bool = False
    density_transform: str = "log1p"
    density_scale: float = 1e-3  # e/Bohr³
    gradient_scale: float = 1e-3  # e/Bohr⁴
    overflow: str = "error"
    center_group: int | None = None  # centre on the centroid of this group (ligand = 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "elements", tuple(self.elements))
        bad = [c for c in self.channels if c not in CHANNEL_KINDS]
        if bad or not self.channels or len(set(self.channels)) != len(self.channels):
            raise RhomlError(
                f"voxel channels must be distinct names from {', '.join(CHANNEL_KINDS)}; "
                f"got {list(self.channels)}"
            )
        if self.density_transform not in TRANSFORMS:
            raise RhomlError(
                f"density_transform must be one of {', '.join(TRANSFORMS)}, "
                f"got {self.density_transform!r}"
            )
        if self.overflow not in ("error", "crop"):
            raise RhomlError(f"overflow must be 'error' or 'crop', got {self.overflow!r}")
        if not (self.size > 0 and self.spacing > 0 and self.atom_sigma > 0):
            raise RhomlError("voxel size, spacing and atom_sigma must be positive (Å)")
        if "atoms" in self.channels and not self.elements:
            raise RhomlError("voxel 'atoms' channels need at least one element")

    @property
    def n(self) -> int:
        """Grid points per edge."""
        return int(round(self.size / self.spacing))

    @property
    def groups(self) -> tuple[int | None, ...]:
        return (0, 1) if self.separate_groups else (None,)

    @property
    def channel_names(self) -> list[str]:
        names = []
        for g in self.groups:
            tag = "" if g is None else ("protein:" if g == 0 else "ligand:")
            for c in self.channels:
                if c == "atoms":
                    names += [f"{tag}atoms:{e}" for e in self.elements]
                else:
                    names.append(f"{tag}{c}")
        return names

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    @property
    def needs_density(self) -> bool:
        return "density" in self.channels or "gradient" in self.channels

    def grid(self, center) -> Grid:
        """The axis-aligned :class:`Grid` (Å) of this spec centred on ``center`` (3,) Å."""
        return Grid.cube(center, self.n * self.spacing, self.spacing)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["elements"] = list(self.elements)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VoxelSpec:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise RhomlError(f"unknown voxel option(s) {', '.join(unknown)}")
        from rhoml.config import strict_dataclass

        return strict_dataclass(cls, d, "[voxel]")


def _transform(values, kind: str, scale: float):
    import torch

    if kind == "none":
        return values
    x = values / scale
    if kind == "log1p":
        return torch.log1p(torch.clamp(x, min=0.0))
    if kind == "asinh":
        return torch.asinh(x)
    return torch.tanh(x)


def centre_of(molecule: Molecule, group: int | None) -> np.ndarray:
    """Box centre in Å: the centroid of ``group``'s atoms (all atoms if None)."""
    if group is None or molecule.groups is None:
        return molecule.centroid()
    sel = molecule.groups == group
    if not sel.any():
        raise VoxelBoxError(f"{molecule.source or molecule.id}: no atoms in group {group}")
    return molecule.positions[sel].mean(axis=0)


def group_molecule(molecule: Molecule, group: int | None) -> Molecule:
    """The atoms of ``group`` (0 protein/pocket, 1 ligand; None = all) as a molecule; charge
    from the ``ligand_charge`` label (the pocket gets the rest of the total charge)."""
    if group is None:
        return molecule
    if molecule.groups is None:
        raise VoxelBoxError(
            f"{molecule.source or molecule.id}: separate_groups needs Molecule.groups "
            "(0 = protein/pocket, 1 = ligand)"
        )
    sel = molecule.groups == group
    if not sel.any():
        raise VoxelBoxError(f"{molecule.source or molecule.id}: no atoms in group {group}")
    from rhoml.io import default_multiplicity

    numbers = molecule.numbers[sel]
    charge = int(molecule.labels.get("ligand_charge", 0)) if group == 1 else 0
    if group == 0:
        charge = molecule.charge - int(molecule.labels.get("ligand_charge", 0))
    n_el = int(numbers.sum()) - charge
    return Molecule(
        numbers, molecule.positions[sel], charge, default_multiplicity(n_el),
        f"{molecule.id}:g{group}", source=molecule.source,
    )  # fmt: skip


class Voxelizer:
    """Molecules (+ densities) → voxel tensor (B, C, n, n, n) with :class:`VoxelSpec` ``spec``.

    Args:
        spec: the grid and channels.
        device: torch device for the computation and the result.
        dtype: torch dtype of the result (float32 default; float64 for exact tests).
        engine: density engine used when ``densities`` are not given (``xtb`` default).
        engine_options: options for the engine (e.g. ``{"valence": True}``).
        backend: ``auto`` (compiled numba kernels for the atom-type and shape channels on CPU
            with float32/float64 when numba is installed, else torch), ``numba`` (require
            the kernels) or ``torch``
            (the reference path; also used on CUDA). Both give the same numbers (to float
            round-off); density channels are computed with torch either way.
    """

    def __init__(self, spec: VoxelSpec, device="cpu", dtype=None, engine: str = "xtb",
                 engine_options: dict | None = None, backend: str = "auto") -> None:  # fmt: skip
        import torch

        if backend not in BACKENDS:
            raise RhomlError(f"voxel backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.spec = spec
        self.backend = backend
        self.device = torch.device(device)
        self.dtype = dtype or torch.float32
        fits = self.device.type == "cpu" and self.dtype in (torch.float32, torch.float64)
        if backend == "numba" and not fits:
            raise RhomlError(
                f"voxel backend 'numba' needs a CPU device and float32/float64, got "
                f"{self.device} {self.dtype}"
            )
        if backend == "numba" and not _have_numba():
            raise RhomlError("voxel backend 'numba' needs numba: pip install 'rhoml[fast]'")
        # atom-type and shape channels from the compiled CPU kernels (voxel_kernels), else the
        # torch reference path (any device and dtype)
        self.uses_kernels = backend != "torch" and fits and _have_numba()
        self._kernels = None
        if self.uses_kernels:  # imported here, not per call (the import costs ~0.5 s once)
            from rhoml.represent import voxel_kernels

            self._kernels = voxel_kernels
        self._grid_shape = (spec.n_channels, spec.n, spec.n, spec.n)
        self._sigma_vox = spec.atom_sigma / spec.spacing
        self._radius_vox = ATOM_CUTOFF_SIGMAS * spec.atom_sigma / spec.spacing
        self.engine = engine
        self.engine_options = dict(engine_options or {})
        n = spec.n
        self._offsets = torch.arange(n, device=self.device, dtype=torch.float64) - (n - 1) / 2.0
        from rhoml.elements import symbol

        index = {e: i for i, e in enumerate(spec.elements)}
        other = index.get(OTHER, -1)
        self._z_channel = np.array([-1] + [index.get(symbol(z), other) for z in range(1, 119)])
        self._z_vdw = np.array(
            [DEFAULT_VDW] + [VDW_RADII.get(symbol(z), DEFAULT_VDW) for z in range(1, 119)]
        )
        # first output channel of the atom block / the shape channel of each group (−1: none)
        self._atom_base = np.full(len(spec.groups), -1, dtype=np.int64)
        self._shape_base = np.full(len(spec.groups), -1, dtype=np.int64)
        c = 0
        for gi in range(len(spec.groups)):
            for kind in spec.channels:
                if kind == "atoms":
                    self._atom_base[gi] = c
                c += len(spec.elements) if kind == "atoms" else 1
                if kind == "shape":
                    self._shape_base[gi] = c - 1

    # -- public --------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(C, n, n, n) of one voxelised molecule."""
        return self._grid_shape

    @property
    def screening(self) -> float | None:
        """Screening threshold (e/Bohr³) of spherical (promolecule) densities: a primitive is
        dropped where |w| exp(−a r²) < 1e-9 × the smaller transform scale (truncation error
        ≲ 1e-8 in transformed units, below float32 resolution); None (the evaluator's 1e-14)
        for untransformed values."""
        spec = self.spec
        if spec.density_transform == "none":
            return None
        return 1e-9 * min(spec.density_scale, spec.gradient_scale)

    def densities_for(self, molecule: Molecule) -> list:
        """The densities voxelised for ``molecule``: one per group (computed with the engine)."""
        from rhoml.density import compute

        return [
            compute(group_molecule(molecule, g), self.engine, **self.engine_options)
            for g in self.spec.groups
        ]

    def __call__(self, molecules: Sequence[Molecule], densities: Sequence | None = None,
                 rotations=None, translations=None, centers=None, out=None):  # fmt: skip
        """Voxelise a batch.

        Args:
            molecules: B molecules (positions in Å).
            densities: per molecule, a list of densities (one per group; a single density is
                accepted when there is one group), an analytic ``Density``, a ``TorchDensity``
                or a ``SampledDensity``; computed with the engine when None and needed.
            rotations: (B, 3, 3) rotation matrices about the box centre, or None.
            translations: (B, 3) shifts in Å, or None.
            centers: (B, 3) box centres in Å (default: centroid of ``spec.center_group``).
            out: optional contiguous tensor (B, C, n, n, n) of ``dtype`` on ``device`` to reuse
                (zeroed, filled and returned) instead of allocating a new one.

        Returns:
            torch tensor (B, C, n, n, n) of ``dtype`` on ``device``.
        """
        if self.uses_kernels:
            return self._call_kernels(molecules, densities, rotations, translations, centers, out)
        return self._call_torch(molecules, densities, rotations, translations, centers, out)

    def _call_kernels(self, molecules, densities, rotations, translations, centers, out):
        """Batch path: pose, check and voxelise the atoms of all molecules in compiled loops
        (:mod:`rhoml.represent.voxel_kernels`); density channels per molecule as in the
        reference path."""
        vk = self._kernels
        spec = self.spec
        b = len(molecules)
        atoms = "atoms" in spec.channels
        out = self._output(b, out, zero=not atoms)  # the atom kernel zeroes block by block
        if b == 0:
            return out.zero_()
        given = centers is not None
        if given:
            centres = np.array(centers, dtype=np.float64).reshape(b, 3)
        elif spec.center_group is not None:
            centres = np.array([centre_of(m, spec.center_group) for m in molecules])
        else:
            centres = np.empty((b, 3))  # centroids, computed by the kernel
        rots = (
            _NO_ROTATION if rotations is None
            else np.ascontiguousarray(rotations, dtype=np.float64).reshape(b, 3, 3)
        )  # fmt: skip
        shifts = (
            np.zeros((b, 3)) if translations is None
            else np.ascontiguousarray(translations, dtype=np.float64).reshape(b, 3)
        )  # fmt: skip
        need_groups = spec.separate_groups or spec.center_group is not None
        if b == 1:
            m = molecules[0]
            positions, numbers = m.positions, m.numbers
            batch = np.zeros(len(numbers), dtype=np.int64)
            groups = m.groups if (need_groups and m.groups is not None) else _NO_GROUPS
        else:
            positions = np.concatenate([m.positions for m in molecules])
            numbers = np.concatenate([m.numbers for m in molecules])
            batch = np.repeat(np.arange(b, dtype=np.int64), [len(m.numbers) for m in molecules])
            groups = _NO_GROUPS
            if need_groups and any(m.groups is not None for m in molecules):
                groups = np.concatenate([
                    np.full(len(m.numbers), -1, dtype=np.int64) if m.groups is None else m.groups
                    for m in molecules
                ])  # fmt: skip
        frac, chan, shape_chan, counts = vk.prepare_atoms(
            np.ascontiguousarray(positions, dtype=np.float64),
            batch, np.ascontiguousarray(numbers, dtype=np.int64),
            np.ascontiguousarray(groups, dtype=np.int64), spec.separate_groups, centres,
            not given and spec.center_group is None, rots, shifts, spec.spacing, spec.n,
            self._z_channel, self._atom_base, self._shape_base,
            -1 if spec.center_group is None else int(spec.center_group),
        )  # fmt: skip
        if counts[2] or (counts[0] and (spec.overflow == "error" or counts[1])):
            self._raise_first_error(molecules, centres, rots, shifts)
        target = out.numpy()
        if atoms:
            vk.gaussian_atoms(frac, batch, chan, self._sigma_vox, self._radius_vox, target, True)
        if "shape" in spec.channels:
            vk.shape_occupancy(
                frac, batch, shape_chan, self._z_vdw[numbers], spec.spacing, SHAPE_CUTOFF_RADII,
                target,
            )  # fmt: skip
        if spec.needs_density:
            for i, mol in enumerate(molecules):
                rot = rots[i] if len(rots) else None
                self._density_channels(mol, densities, i, centres[i], rot, shifts[i], out[i])
        return out

    def _output(self, b: int, out, zero: bool = True):
        """A (B, C, n, n, n) tensor, zeroed if ``zero``: ``out`` (checked) or a new one."""
        import torch

        shape = (b,) + self._grid_shape
        if out is None:
            out = torch.empty(shape, device=self.device, dtype=self.dtype)
            return out.zero_() if zero else out
        same_device = out.device.type == self.device.type and (
            self.device.index is None or out.device.index == self.device.index
        )  # "cuda" names the current card: a tensor made there is on "cuda:0"
        if tuple(out.shape) != shape or out.dtype != self.dtype or not same_device:
            raise RhomlError(
                f"voxel out= must be a {self.dtype} tensor of shape {shape} on {self.device}, "
                f"got {out.dtype} {tuple(out.shape)} on {out.device}"
            )
        if not out.is_contiguous():
            raise RhomlError("voxel out= must be a contiguous tensor")
        return out.zero_() if zero else out

    def _raise_first_error(self, molecules, centres, rots, shifts) -> None:
        """Raise the error the reference path raises first (box fit, then element channels)."""
        spec = self.spec
        for i, mol in enumerate(molecules):
            pos = mol.positions - centres[i]
            if len(rots):
                pos = pos @ rots[i].T
            pos = pos + shifts[i]
            self._check_fit(mol, pos)
            if "atoms" in spec.channels:
                for g in spec.groups:
                    sel = np.ones(mol.n_atoms, bool) if g is None else (mol.groups == g)
                    self._element_channels(mol.numbers[sel], mol)
        raise AssertionError("voxel kernel checks and reference checks disagree")

    def _group_densities(self, mol, densities, i) -> list:
        """Densities of molecule ``i``, one per spec group (given, or computed by the engine)."""
        dens = None if densities is None else densities[i]
        if dens is None:
            dens = self.densities_for(mol)
        if not isinstance(dens, list | tuple):
            dens = [dens]
        if len(dens) != len(self.spec.groups):
            raise RhomlError(
                f"{mol.id}: {len(dens)} densities given, spec needs {len(self.spec.groups)}"
            )
        return dens

    def _density_channels(self, mol, densities, i, centre, rot, shift, target) -> None:
        """Write the density / gradient channels of molecule ``i`` into ``target`` (C, n, n, n)."""
        spec = self.spec
        dens = self._group_densities(mol, densities, i)
        c = 0
        for gi in range(len(spec.groups)):
            rho, grad = self._density(
                dens[gi], centre, rot, shift, gradient="gradient" in spec.channels
            )
            for kind in spec.channels:
                if kind == "density":
                    target[c] = _transform(rho, spec.density_transform, spec.density_scale)
                elif kind == "gradient":
                    target[c] = _transform(grad, spec.density_transform, spec.gradient_scale)
                c += len(spec.elements) if kind == "atoms" else 1

    def _call_torch(self, molecules, densities, rotations, translations, centers, out):
        """Reference path (torch, any device and dtype), one molecule at a time."""
        spec = self.spec
        b = len(molecules)
        out = self._output(b, out)
        for i, mol in enumerate(molecules):
            centre = (
                np.asarray(centers[i], float) if centers is not None
                else centre_of(mol, spec.center_group)
            )  # fmt: skip
            rot = None if rotations is None else np.asarray(rotations[i], float)
            shift = np.zeros(3) if translations is None else np.asarray(translations[i], float)
            pos = mol.positions - centre
            if rot is not None:
                pos = pos @ rot.T
            pos = pos + shift  # positions relative to the box centre, Å
            self._check_fit(mol, pos)
            dens = None
            if spec.needs_density:
                dens = self._group_densities(mol, densities, i)
            c = 0
            for gi, g in enumerate(spec.groups):
                sel = np.ones(mol.n_atoms, bool) if g is None else (mol.groups == g)
                if spec.needs_density:  # ρ and |∇ρ| in one evaluation
                    rho, grad = self._density(
                        dens[gi], centre, rot, shift, gradient="gradient" in spec.channels
                    )
                for kind in spec.channels:
                    if kind == "atoms":
                        k = len(spec.elements)
                        self._atoms(mol.numbers[sel], pos[sel], mol, out[i, c : c + k])
                        c += k
                    elif kind == "shape":
                        out[i, c] = self._shape(mol.numbers[sel], pos[sel])
                        c += 1
                    elif kind == "density":
                        out[i, c] = _transform(rho, spec.density_transform, spec.density_scale)
                        c += 1
                    else:
                        out[i, c] = _transform(grad, spec.density_transform, spec.gradient_scale)
                        c += 1
        return out

    # -- channels ------------------------------------------------------------------------------
    def _check_fit(self, mol: Molecule, pos: np.ndarray) -> None:
        half = self.spec.spacing * (self.spec.n - 1) / 2.0
        outside = np.abs(pos).max(axis=1) > half + 1e-9
        if not outside.any():
            return
        where = mol.source or mol.id
        box = f"{self.spec.n * self.spec.spacing:g} Å box"
        if self.spec.overflow == "error":
            worst = float(np.abs(pos).max())
            raise VoxelBoxError(
                f"{where}: {int(outside.sum())} atom(s) outside the {box} (farthest "
                f"{worst:.2f} Å from the centre, half-edge {half:.2f} Å); enlarge 'size' or "
                "use overflow='crop'"
            )
        g = self.spec.center_group
        if g is not None and mol.groups is not None and outside[mol.groups == g].any():
            raise VoxelBoxError(f"{where}: atoms of group {g} (ligand) outside the {box}")

    def _frac(self, pos: np.ndarray):
        """Positions (A, 3) Å relative to the centre → fractional grid coordinates (A, 3)."""
        import torch

        n = self.spec.n
        p = torch.as_tensor(pos, device=self.device, dtype=torch.float64)
        return p / self.spec.spacing + (n - 1) / 2.0

    def _window(self, f, radius: float):
        """Integer voxel indices (A, W, 3) around fractional coordinates f (A, 3) with the
        offsets (A, W, 3) in voxels; W covers every index within ``radius`` voxels."""
        import torch

        w = int(math.floor(2 * radius)) + 2
        start = torch.floor(f - radius)
        steps = torch.arange(w, device=self.device, dtype=torch.float64)
        idx = start[:, None, :] + steps[None, :, None]  # (A, W, 3)
        return idx, idx - f[:, None, :]

    def _element_channels(self, numbers, mol: Molecule) -> np.ndarray:
        ch = self._z_channel[np.asarray(numbers)]
        if (ch < 0).any():
            from rhoml.elements import symbol

            bad = symbol(int(np.asarray(numbers)[ch < 0][0]))
            raise VoxelBoxError(
                f"{mol.source or mol.id}: element {bad} has no atom channel "
                f"(elements {', '.join(self.spec.elements)}; add 'X' for all others)"
            )
        return ch

    def _atoms(self, numbers, pos, mol, target) -> None:
        """Add Gaussian-smeared atom counts per element channel into ``target`` (E, n, n, n)."""
        import torch

        spec, n = self.spec, self.spec.n
        if len(numbers) == 0:
            return
        ch = torch.as_tensor(self._element_channels(numbers, mol), device=self.device)
        radius = ATOM_CUTOFF_SIGMAS * spec.atom_sigma / spec.spacing  # voxels
        sig = spec.atom_sigma / spec.spacing
        idx, off = self._window(self._frac(pos), radius)
        w = torch.exp(-0.5 * (off / sig) ** 2) * (off.abs() <= radius)
        w = w / w.sum(1, keepdim=True)  # normalised on the infinite lattice, per axis
        inside = (idx >= 0) & (idx <= n - 1)
        w = (w * inside).to(target.dtype)
        ii = idx.clamp(0, n - 1).long()
        flat = (
            ch[:, None, None, None] * n**3
            + ii[:, :, None, None, 0] * n * n
            + ii[:, None, :, None, 1] * n
            + ii[:, None, None, :, 2]
        )
        val = w[:, :, None, None, 0] * w[:, None, :, None, 1] * w[:, None, None, :, 2]
        target.view(-1).index_add_(0, flat.reshape(-1), val.reshape(-1))

    def _shape(self, numbers, pos):
        """(n, n, n) occupancy max_a 1 − exp(−(r_vdW/d)¹²)."""
        import torch

        from rhoml.elements import symbol

        spec, n = self.spec, self.spec.n
        out = torch.zeros(n**3, device=self.device, dtype=torch.float64)
        if len(numbers) == 0:
            return out.reshape(n, n, n).to(self.dtype)
        radii = np.array([VDW_RADII.get(symbol(int(z)), DEFAULT_VDW) for z in numbers])
        rv = torch.as_tensor(radii, device=self.device, dtype=torch.float64)
        cut = SHAPE_CUTOFF_RADII * float(radii.max()) / spec.spacing
        idx, off = self._window(self._frac(pos), cut)
        d2 = (
            off[:, :, None, None, 0] ** 2
            + off[:, None, :, None, 1] ** 2
            + off[:, None, None, :, 2] ** 2
        ) * spec.spacing**2  # Å²
        r = rv[:, None, None, None]
        occ = -torch.expm1(-((r * r / d2.clamp(min=1e-12)) ** 6))
        occ = occ * (d2 <= (SHAPE_CUTOFF_RADII * r) ** 2)
        inside = (idx >= 0) & (idx <= n - 1)
        ok = inside[:, :, None, None, 0] & inside[:, None, :, None, 1] & inside[:, None, None, :, 2]
        ii = idx.clamp(0, n - 1).long()
        flat = (
            ii[:, :, None, None, 0] * n * n + ii[:, None, :, None, 1] * n + ii[:, None, None, :, 2]
        )
        out.scatter_reduce_(0, flat.reshape(-1), (occ * ok).reshape(-1), reduce="amax")
        return out.reshape(n, n, n).to(self.dtype)

    def grid_points(self, centre, rot, shift):
        """Points (n³, 3) Å, C order, at which the unposed density is evaluated: Rᵀ(p − c − t)
        + c for grid points p = c + spacing·offsets."""
        import torch

        o = self._offsets * self.spec.spacing
        gx, gy, gz = torch.meshgrid(o, o, o, indexing="ij")
        rel = torch.stack([gx.reshape(-1), gy.reshape(-1), gz.reshape(-1)], dim=1)
        rel = rel - torch.as_tensor(shift, device=self.device, dtype=torch.float64)
        if rot is not None:
            rel = rel @ torch.as_tensor(rot, device=self.device, dtype=torch.float64)
        return rel + torch.as_tensor(centre, device=self.device, dtype=torch.float64)

    def _spherical_kernel(self, td, centre, rot, shift, gradient: bool):
        """ρ and |∇ρ| (n, n, n) of a spherical-atom density from the compiled CPU kernel
        (:mod:`rhoml.represent.density_kernels`: per-kind radial tables for the diffuse
        primitives; the same numbers as the torch path to below the screening threshold)."""
        import torch

        from rhoml.represent import density_kernels
        from rhoml.units import ANGSTROM_IN_BOHR

        cen = td.prim_centre.cpu().numpy() - np.asarray(centre, float) * ANGSTROM_IN_BOHR
        if rot is not None:
            cen = cen @ np.asarray(rot, float).T
        if shift is not None:
            cen = cen + np.asarray(shift, float) * ANGSTROM_IN_BOHR
        x = self._offsets.cpu().numpy() * self.spec.spacing * ANGSTROM_IN_BOHR
        screen = 1e-14 if self.screening is None else self.screening
        res = density_kernels.evaluate(cen, td.prim_exp.cpu().numpy(),
                                       td.prim_weight.cpu().numpy(), td.prim_atom, x, screen,
                                       gradient)  # fmt: skip
        if not gradient:
            return torch.from_numpy(res), None
        return torch.from_numpy(res[0]), torch.from_numpy(np.linalg.norm(res[1], axis=-1))

    def _density(self, density, centre, rot, shift, gradient: bool):
        """ρ (n, n, n) e/Bohr³ and |∇ρ| (n, n, n) e/Bohr⁴ (or None) on the posed grid."""
        import torch

        from rhoml.represent.torch_density import (
            TorchDensity,
            evaluate_spherical_on_grid,
            tile_order,
        )

        n = self.spec.n
        if getattr(density, "kind", None) == "sampled":
            pts = self.grid_points(centre, rot, shift)
            vals = density.evaluate(pts.cpu().numpy(), gradient=gradient)
            vals = torch.as_tensor(np.asarray(vals), device=self.device, dtype=torch.float64)
            if gradient:
                return vals[:, 0].reshape(n, n, n), vals[:, 1:].norm(dim=1).reshape(n, n, n)
            return vals.reshape(n, n, n), None
        if (self.uses_kernels and rot is None and not isinstance(density, TorchDensity)
                and not _is_spherical(density)):  # fmt: skip
            # unrotated grid on CPU: the separable regular-grid evaluator (numpy), same numbers
            from rhoml.density.regular_grid import evaluate_on_regular_grid

            grid = self.spec.grid(np.asarray(centre, float) - np.asarray(shift, float))
            res = torch.from_numpy(evaluate_on_regular_grid(density, grid, gradient=gradient))
            if gradient:
                return res[..., 0], res[..., 1:].norm(dim=-1)
            return res, None
        td = density if isinstance(density, TorchDensity) else TorchDensity(
            density, device=self.device, dtype=torch.float64
        )  # fmt: skip
        if td.spherical and self.uses_kernels and td.device.type == "cpu":
            return self._spherical_kernel(td, centre, rot, shift, gradient)
        if td.spherical:  # promolecule: separable GEMMs on the axis-aligned grid, atoms posed
            o = self._offsets * self.spec.spacing
            res = evaluate_spherical_on_grid(td, o, centre, rot, shift, gradient=gradient,
                                             cutoff=self.screening)  # fmt: skip
            return (res[0], res[1].norm(dim=-1)) if gradient else (res, None)
        pts = self.grid_points(centre, rot, shift)
        order = torch.as_tensor(tile_order(n, 16), device=self.device)
        res = td.evaluate(pts[order], gradient=gradient, chunk=4096)
        rho = torch.empty(n**3, device=self.device, dtype=td.dtype)
        if gradient:
            rho[order] = res[0]
            g = torch.empty(n**3, device=self.device, dtype=td.dtype)
            g[order] = res[1].norm(dim=1)
            return rho.reshape(n, n, n), g.reshape(n, n, n)
        rho[order] = res
        return rho.reshape(n, n, n), None


def _is_spherical(density) -> bool:
    """Whether an analytic density is s functions with coefficients (a promolecule)."""
    if getattr(density, "kind", None) != "coefficients":
        return False
    from rhoml.density.shells import molecule_shells

    return not bool(molecule_shells(density.molecule, density.basis).shell_l.any())


def voxelize(molecule: Molecule, spec: VoxelSpec, density=None, *, engine: str = "xtb",
             rotation=None, translation=None, device="cpu", dtype=None):  # fmt: skip
    """One molecule → voxel tensor (C, n, n, n); see :class:`Voxelizer`."""
    vox = Voxelizer(spec, device=device, dtype=dtype, engine=engine)
    return vox(
        [molecule], None if density is None else [density],
        None if rotation is None else [rotation], None if translation is None else [translation],
    )[0]  # fmt: skip


# -- exact 90° symmetries of the cubic grid -------------------------------------------------------
def cube_rotations() -> np.ndarray:
    """The 24 proper rotations of the cube as integer matrices (24, 3, 3)."""
    import itertools

    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3), dtype=int)
            for r, (c, s) in enumerate(zip(perm, signs, strict=True)):
                m[r, c] = s
            if round(np.linalg.det(m)) == 1:
                mats.append(m)
    return np.array(mats)


def rotate_voxels(voxels, rotation):
    """Apply an exact cube rotation (3, 3) integer matrix to voxels (..., n, n, n).

    The result equals voxelising the molecule rotated by ``rotation`` about the box centre (the
    grid maps onto itself), at the cost of an index permutation.
    """
    import torch

    m = np.asarray(rotation).round().astype(int)
    nd = voxels.dim()
    # out[p] = in[Rᵀ p]: output axis r reads input axis c where m[r, c] = ±1
    perm = [int(np.nonzero(m[r])[0][0]) for r in range(3)]
    x = voxels.permute(*range(nd - 3), *[nd - 3 + c for c in perm])
    flips = [nd - 3 + r for r in range(3) if m[r, perm[r]] < 0]
    return torch.flip(x, flips) if flips else x


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (3, 3) (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))[None, :]
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q

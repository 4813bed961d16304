"""The interface every geometry student implements, and what they share: per-element output
shifts and output scaling fitted on the training set, readout, representation, forces.

A student maps a flat batch (``z`` (N,), ``pos`` (N, 3) Å, ``batch`` (N,), see
:mod:`rhoml.models.students.graph`) to

* ``y`` (B, T): T per-molecule outputs, in the units of the training targets (energies in
  kcal/mol for rMD17, the QM9 report units for QM9);
* ``h`` (B, F): the per-molecule representation (mean over atoms of the last scalar node
  features), which EDG distillation maps into the teacher's feature space.

Outputs are built atom-wise: ``y_m = readout_i∈m(scale · o_i + shift[Z_i])`` where ``o_i`` are
the network's atomic outputs, ``readout`` is a sum (extensive targets: energies) or a mean, and
``shift`` / ``scale`` are buffers set by :meth:`GeometryStudent.set_output_stats` from the
training data (:func:`output_stats`; saved with the weights). The shifts stay float64 whatever
the model's dtype, and outputs that include them are float64: total energies of ~10⁵ kcal/mol
have a float32 resolution of ~0.01 kcal/mol, the size of the errors being measured. Training
uses ``shifted=False`` against targets minus :meth:`GeometryStudent.reference` (computed in
float64), so float32 training sees numbers of order one. Forces are −∂E/∂r by autograd
(:meth:`GeometryStudent.energy_and_forces`), so they are exactly the gradient of the energy.
"""

from __future__ import annotations

import numpy as np
import torch

from rhoml.models.students.graph import pool

__all__ = ["MAX_Z", "GeometryStudent", "output_stats"]

#: atomic numbers 1..MAX_Z-1 are supported (the embeddings have MAX_Z rows)
MAX_Z = 100


def output_stats(
    numbers: list[np.ndarray],
    y: np.ndarray,
    *,
    mean_readout: bool,
    forces: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-element shifts (MAX_Z, T) and output scales (T,) from training molecules.

    ``numbers``: atomic numbers of each molecule; ``y`` (M, T) targets. The shifts are the
    least-squares (minimum-norm) solution of ``y ≈ A b`` with A the element counts (sum
    readout) or element fractions (mean readout): for molecules of one composition (an MD
    trajectory) this reproduces the mean. Scales: the RMS of the force components when
    ``forces`` are given (the scale of the energy's gradients, as MACE and NequIP do), else the
    standard deviation of the residual ``y − A b`` per atom (sum readout, divided by √n̄) or
    per molecule (mean readout); 1 where that is zero.
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(numbers), -1)
    counts = np.zeros((len(numbers), MAX_Z))
    for k, z in enumerate(numbers):
        np.add.at(counts[k], np.asarray(z, dtype=np.int64), 1.0)
    n_atoms = counts.sum(1, keepdims=True)
    a = counts / n_atoms if mean_readout else counts
    used = np.flatnonzero(counts.sum(0))
    b_used, *_ = np.linalg.lstsq(a[:, used], y, rcond=None)
    shift = np.zeros((MAX_Z, y.shape[1]))
    shift[used] = b_used
    resid = y - a[:, used] @ b_used
    if forces is not None:
        f = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in forces])
        scale = np.full(y.shape[1], np.sqrt(np.mean(f * f)))
    else:
        spread = resid.std(0) if len(y) > 1 else np.zeros(y.shape[1])
        scale = spread if mean_readout else spread / np.sqrt(n_atoms.mean())
    scale = np.where(scale > 0, scale, 1.0)
    return shift, scale


class GeometryStudent(torch.nn.Module):
    """Base class: subclasses implement :meth:`atomwise` and set ``representation_dim``.

    ``n_outputs``: T outputs per molecule; ``readout``: ``sum`` or ``mean`` over atoms.
    """

    representation_dim: int

    def __init__(self, n_outputs: int = 1, readout: str = "sum") -> None:
        super().__init__()
        if readout not in ("sum", "mean"):
            raise ValueError(f"readout must be 'sum' or 'mean', got {readout!r}")
        self.n_outputs = int(n_outputs)
        self.readout = readout
        self.register_buffer("shift", torch.zeros(MAX_Z, self.n_outputs))
        self.register_buffer("scale", torch.ones(self.n_outputs))

    # -- to implement -------------------------------------------------------------------------
    def atomwise(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor):
        """→ (node features (N, F) invariant scalars, atomic outputs (N, T))."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def set_output_stats(self, shift, scale) -> None:
        """Set the per-element shifts (MAX_Z, T) and scales (T,) (see :func:`output_stats`)."""
        self.shift.copy_(torch.as_tensor(np.asarray(shift), dtype=torch.float64))
        self.scale.copy_(torch.as_tensor(np.asarray(scale), dtype=self.scale.dtype).reshape(-1))

    def _apply(self, fn, recurse=True):
        """Device moves apply to the shifts, dtype casts do not (they stay float64)."""
        shift = self.shift
        super()._apply(fn, recurse)
        self.shift = shift.to(device=self.shift.device, dtype=torch.float64)
        return self

    def reference(self, z: torch.Tensor, batch: torch.Tensor, n_molecules: int) -> torch.Tensor:
        """The per-element part of the outputs, (B, T) float64: readout of ``shift[Z_i]``."""
        return pool(self.shift[z], batch, n_molecules, mean=self.readout == "mean")

    def forward(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None,
                n_molecules: int | None = None, *,
                shifted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """``y`` (B, T) per-molecule outputs (float64 with the per-element shifts; without them,
        ``shifted=False``, in the model's dtype) and ``h`` (B, F) representations."""
        if batch is None:
            batch = torch.zeros_like(z)
        if n_molecules is None:
            n_molecules = int(batch.max()) + 1 if batch.numel() else 0
        nodes, atomic = self.atomwise(z, pos, batch)
        y = pool(atomic * self.scale, batch, n_molecules, mean=self.readout == "mean")
        if shifted:
            y = y.to(torch.float64) + self.reference(z, batch, n_molecules)
        h = pool(nodes, batch, n_molecules, mean=True)
        return y, h

    def energy_and_forces(
        self,
        z: torch.Tensor,
        pos: torch.Tensor,
        batch: torch.Tensor | None = None,
        n_molecules: int | None = None,
        *,
        create_graph: bool | None = None,
        shifted: bool = True,
    ):
        """(energy (B,), forces (N, 3) = −∂E/∂pos, h (B, F)) for a single-output student
        (``shifted``: as in :meth:`forward`; forces in the dtype of ``pos``).

        Works inside ``torch.no_grad()`` (the gradient is taken in an ``enable_grad`` block).
        ``create_graph`` (default: ``self.training``) keeps the graph of the forces, which
        training on forces needs."""
        if self.n_outputs != 1:
            raise ValueError(
                f"forces need a single (energy) output, this model has {self.n_outputs}"
            )
        if create_graph is None:
            create_graph = self.training
        with torch.enable_grad():
            if not pos.requires_grad:
                pos = pos.detach().requires_grad_(True)
            y, h = self(z, pos, batch, n_molecules, shifted=shifted)
            energy = y[:, 0]
            (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
        if not create_graph:
            energy, h = energy.detach(), h.detach()
        return energy, -grad, h

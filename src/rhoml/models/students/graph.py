"""Batched molecular graphs in plain torch (no pyg-lib, torch-cluster or torch-scatter).

A batch of molecules is flat: ``z`` (N,) atomic numbers, ``pos`` (N, 3) positions in Å, and
``batch`` (N,) the molecule index of each atom, with the atoms of one molecule contiguous and
molecules in order 0..B-1 (what :func:`collate_molecules` produces).

Edges follow torch_geometric's convention: ``edge_index[0]`` is the source atom j,
``edge_index[1]`` the target atom i that receives the message; the graphs here are symmetric.
"""

from __future__ import annotations

import torch

__all__ = ["RadiusGraph", "pool", "radius_graph", "scatter_sum"]


def radius_graph(pos: torch.Tensor, batch: torch.Tensor, cutoff: float, *,
                 loop: bool = False) -> torch.Tensor:  # fmt: skip
    """Pairs of atoms of the same molecule closer than ``cutoff`` (Å) → ``edge_index`` (2, E).

    Only pairs within each molecule are enumerated (cost Σ n_m², linear in the batch size).
    Every neighbour within the cutoff is kept (torch_geometric's ``radius_graph`` caps the
    count at ``max_num_neighbors``, 32 by default, which never binds for molecules of ≤ 33
    atoms). ``loop=True`` adds the self-pairs (i, i). Edge selection uses detached positions:
    it is piecewise constant in the geometry, so gradients flow through the edge vectors the
    models compute from ``pos``, not through the selection.
    """
    n = pos.shape[0]
    device = pos.device
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    counts = torch.bincount(batch)
    start = torch.cumsum(counts, 0) - counts  # first atom of each molecule
    per_atom = counts[batch]  # size of the molecule of each atom
    src = torch.repeat_interleave(torch.arange(n, device=device), per_atom)
    first = torch.repeat_interleave(start[batch], per_atom)
    offset = torch.arange(src.numel(), device=device) - torch.repeat_interleave(
        torch.cumsum(per_atom, 0) - per_atom, per_atom
    )
    dst = first + offset
    p = pos.detach()
    d2 = (p[src] - p[dst]).pow(2).sum(-1)
    keep = d2 < cutoff * cutoff
    if not loop:
        keep &= src != dst
    return torch.stack([src[keep], dst[keep]])


class RadiusGraph(torch.nn.Module):
    """``(pos, batch) -> (edge_index, edge_weight)``: the radius graph and its edge lengths (Å),
    the ``interaction_graph`` torch_geometric's SchNet accepts in place of its pyg-lib one."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, pos: torch.Tensor, batch: torch.Tensor):
        edge_index = radius_graph(pos, batch, self.cutoff)
        j, i = edge_index
        return edge_index, (pos[j] - pos[i]).norm(dim=-1)


def scatter_sum(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum the rows of ``src`` (E, ...) into ``size`` rows by ``index`` (E,)."""
    out = src.new_zeros((size, *src.shape[1:]))
    return out.index_add_(0, index, src)


def pool(x: torch.Tensor, batch: torch.Tensor, n_molecules: int, mean: bool) -> torch.Tensor:
    """Per-molecule sum (``mean=False``) or mean of per-atom rows ``x`` (N, ...)."""
    out = scatter_sum(x, batch, n_molecules)
    if mean:
        counts = torch.bincount(batch, minlength=n_molecules).clamp(min=1).to(x.dtype)
        out = out / counts.view(-1, *([1] * (x.dim() - 1)))
    return out


def cosine_cutoff(d: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Behler's cosine cutoff ½(cos(π d / r_c) + 1) for d < r_c, else 0 (smooth to first order
    at the cutoff, so energies and forces stay continuous as atoms cross it)."""
    return 0.5 * (torch.cos(d * torch.pi / cutoff) + 1.0) * (d < cutoff).to(d.dtype)

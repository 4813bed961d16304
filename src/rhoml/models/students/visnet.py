"""ViSNet (Wang et al., "Enhancing geometric representations for molecules with equivariant
vector-scalar interactive message passing", Nature Communications 2024) from torch_geometric.

PyG's :class:`~torch_geometric.nn.models.visnet.ViSNetBlock` (embedding, neighbour embedding,
ViS-MP layers with runtime geometry calculation, output norms) is used as it is, except its
``distance`` module: PyG's calls ``radius_graph`` (pyg-lib); here a pure-torch radius graph with
self-loops gives the same (edge_index, edge_weight, edge_vec), in the dtype of the positions
(PyG's writes the lengths into a float32 tensor, which breaks float64 evaluation). The output
head is PyG's two gated equivariant blocks (as in ``EquivariantScalar``) ending in T outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rhoml.config import option
from rhoml.models.students.base import MAX_Z, GeometryStudent
from rhoml.models.students.graph import radius_graph


@dataclass
class ViSNetConfig:
    """``lmax``: spherical harmonics degree (1 or 2); ``hidden_channels`` F; ``cutoff`` Å."""

    lmax: int = option(1, choices=(1, 2))
    num_heads: int = option(8, min=1)
    num_layers: int = option(6, min=1)
    hidden_channels: int = option(128, min=2)
    num_rbf: int = option(32, min=1)
    cutoff: float = option(5.0, min=0.0, exclusive_min=True)

    def __post_init__(self) -> None:
        if self.hidden_channels % self.num_heads:
            raise ValueError(
                f"hidden_channels ({self.hidden_channels}) must be a multiple of num_heads "
                f"({self.num_heads})"
            )


class _Distance(torch.nn.Module):
    """Radius graph with self-loops → (edge_index, edge_weight (E,), edge_vec (E, 3)), the
    contract of PyG's ViSNet ``Distance`` (self-loops have zero length and vector)."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, pos, batch):
        edge_index = radius_graph(pos, batch, self.cutoff, loop=True)
        edge_vec = pos[edge_index[0]] - pos[edge_index[1]]
        mask = edge_index[0] != edge_index[1]
        edge_weight = torch.zeros(edge_vec.shape[0], dtype=pos.dtype, device=pos.device)
        edge_weight[mask] = torch.norm(edge_vec[mask], dim=-1)
        return edge_index, edge_weight, edge_vec


class ViSNetStudent(GeometryStudent):
    Config = ViSNetConfig

    def __init__(self, cfg: ViSNetConfig, n_outputs: int = 1, readout: str = "sum") -> None:
        super().__init__(n_outputs, readout)
        from torch_geometric.nn.models.visnet import GatedEquivariantBlock, ViSNetBlock

        self.cfg = cfg
        self.block = ViSNetBlock(
            lmax=cfg.lmax, num_heads=cfg.num_heads, num_layers=cfg.num_layers,
            hidden_channels=cfg.hidden_channels, num_rbf=cfg.num_rbf, cutoff=cfg.cutoff,
            max_z=MAX_Z, max_num_neighbors=MAX_Z,
        )  # fmt: skip
        self.block.distance = _Distance(cfg.cutoff)
        f = cfg.hidden_channels
        self.head = torch.nn.ModuleList([
            GatedEquivariantBlock(f, f // 2, scalar_activation=True),
            GatedEquivariantBlock(f // 2, self.n_outputs, scalar_activation=False),
        ])  # fmt: skip
        for layer in self.head:
            layer.reset_parameters()
        self.representation_dim = f

    def atomwise(self, z, pos, batch):
        x, vec = self.block(z, pos, batch)
        s, v = x, vec
        for layer in self.head:
            s, v = layer(s, v)
        return x, s

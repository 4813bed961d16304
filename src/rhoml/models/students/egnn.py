"""EGNN, the E(n)-equivariant graph neural network (Satorras, Hoogeboom & Welling, ICML 2021),
in plain torch, in the invariant form the paper uses for QM9 properties (coordinates are not
updated, so every feature is invariant).

Per layer (E_GCL): m_ij = φ_e(h_i, h_j, ‖r_i − r_j‖²), with attention m_ij ← m_ij ·
σ(w·m_ij); m_i = Σ_j m_ij; h_i ← h_i + φ_h(h_i, m_i). Neighbours come from a radius graph
(EDG uses 5 Å on rMD17 and the full graph on QM9: a cutoff larger than any molecule). The
messages are multiplied by a cosine cutoff envelope, an addition to the paper that keeps
energies and forces continuous when a pair crosses the cutoff. Atomic outputs: a two-layer
SiLU network on the final h.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rhoml.config import option
from rhoml.models.students.base import MAX_Z, GeometryStudent
from rhoml.models.students.graph import cosine_cutoff, radius_graph, scatter_sum


@dataclass
class EGNNConfig:
    """``hidden_channels`` F; ``num_layers`` E_GCL layers; ``cutoff`` Å; ``attention`` on the
    messages (EDG: 7 layers, 128 channels, attention)."""

    hidden_channels: int = option(128, min=1)
    num_layers: int = option(7, min=1)
    cutoff: float = option(5.0, min=0.0, exclusive_min=True)
    attention: bool = True


class _EGCL(nn.Module):
    def __init__(self, f: int, attention: bool) -> None:
        super().__init__()
        self.edge = nn.Sequential(nn.Linear(2 * f + 1, f), nn.SiLU(), nn.Linear(f, f), nn.SiLU())
        self.node = nn.Sequential(nn.Linear(2 * f, f), nn.SiLU(), nn.Linear(f, f))
        self.att = nn.Sequential(nn.Linear(f, 1), nn.Sigmoid()) if attention else None

    def forward(self, h, edge_index, d2, envelope):
        j, i = edge_index
        m = self.edge(torch.cat([h[i], h[j], d2[:, None]], dim=-1))
        if self.att is not None:
            m = m * self.att(m)
        m = scatter_sum(m * envelope[:, None], i, h.shape[0])
        return h + self.node(torch.cat([h, m], dim=-1))


class EGNNStudent(GeometryStudent):
    Config = EGNNConfig

    def __init__(self, cfg: EGNNConfig, n_outputs: int = 1, readout: str = "sum") -> None:
        super().__init__(n_outputs, readout)
        f = cfg.hidden_channels
        self.cfg = cfg
        self.embedding = nn.Embedding(MAX_Z, f)
        self.layers = nn.ModuleList(_EGCL(f, cfg.attention) for _ in range(cfg.num_layers))
        self.out = nn.Sequential(nn.Linear(f, f), nn.SiLU(), nn.Linear(f, self.n_outputs))
        self.representation_dim = f

    def atomwise(self, z, pos, batch):
        edge_index = radius_graph(pos, batch, self.cfg.cutoff)
        j, i = edge_index
        d2 = (pos[j] - pos[i]).pow(2).sum(-1)
        envelope = cosine_cutoff(torch.sqrt(d2), self.cfg.cutoff)
        h = self.embedding(z)
        for layer in self.layers:
            h = layer(h, edge_index, d2, envelope)
        return h, self.out(h)

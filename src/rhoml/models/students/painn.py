"""PaiNN, the polarizable atom interaction neural network (Schütt, Unke & Gastegger,
"Equivariant message passing for the prediction of tensorial properties and molecular
spectra", ICML 2021), in plain torch.

Each atom carries scalars s_i (F) and vectors v_i (3, F), v = 0 at the start. Per layer:

* message: φ(s_j) = W₂ SiLU(W₁ s_j) (3F) times a filter W(r_ij) = W_r · RBF(r_ij) · f_cut(r_ij)
  with RBF_n(r) = sin(nπr/r_c)/r, split into (Δs, Δv_v, Δv_s):
  Δs_i = Σ_j Δs_ij, Δv_i = Σ_j (v_j ∘ Δv_v,ij + Δv_s,ij r̂_ij);
* update: U v_i, V v_i (linear over features); a = W₄ SiLU(W₃ [s_i, ‖V v_i‖]) split into
  (a_vv, a_sv, a_ss): Δv_i = a_vv ∘ U v_i, Δs_i = a_ss + a_sv ∘ ⟨U v_i, V v_i⟩.

Atomic outputs: a two-layer SiLU network on the final scalars. ‖·‖ uses √(x² + ε) so the
gradient is finite at v = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rhoml.config import option
from rhoml.models.students.base import MAX_Z, GeometryStudent
from rhoml.models.students.graph import cosine_cutoff, radius_graph, scatter_sum

_EPS = 1e-8


@dataclass
class PaiNNConfig:
    """``hidden_channels`` F; ``num_rbf`` sine radial functions; ``cutoff`` Å (the paper: F =
    128, 3 interactions, 20 radial functions, 5 Å)."""

    hidden_channels: int = option(128, min=1)
    num_interactions: int = option(3, min=1)
    num_rbf: int = option(20, min=1)
    cutoff: float = option(5.0, min=0.0, exclusive_min=True)


class _Message(nn.Module):
    def __init__(self, f: int, num_rbf: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(f, f), nn.SiLU(), nn.Linear(f, 3 * f))
        self.filter = nn.Linear(num_rbf, 3 * f)

    def forward(self, s, v, edge_index, rbf, fcut, unit):
        j, i = edge_index
        x = self.phi(s)[j] * (self.filter(rbf) * fcut[:, None])
        ds, dvv, dvs = torch.chunk(x, 3, dim=-1)
        dv = v[j] * dvv[:, None, :] + dvs[:, None, :] * unit[:, :, None]
        n = s.shape[0]
        return scatter_sum(ds, i, n), scatter_sum(dv, i, n)


class _Update(nn.Module):
    def __init__(self, f: int) -> None:
        super().__init__()
        self.u = nn.Linear(f, f, bias=False)
        self.v = nn.Linear(f, f, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * f, f), nn.SiLU(), nn.Linear(f, 3 * f))

    def forward(self, s, v):
        uv, vv = self.u(v), self.v(v)
        norm = torch.sqrt((vv * vv).sum(1) + _EPS)
        a = self.mlp(torch.cat([s, norm], dim=-1))
        avv, asv, ass = torch.chunk(a, 3, dim=-1)
        return ass + asv * (uv * vv).sum(1), avv[:, None, :] * uv


class PaiNNStudent(GeometryStudent):
    Config = PaiNNConfig

    def __init__(self, cfg: PaiNNConfig, n_outputs: int = 1, readout: str = "sum") -> None:
        super().__init__(n_outputs, readout)
        f = cfg.hidden_channels
        self.cfg = cfg
        self.embedding = nn.Embedding(MAX_Z, f)
        self.messages = nn.ModuleList(_Message(f, cfg.num_rbf) for _ in range(cfg.num_interactions))
        self.updates = nn.ModuleList(_Update(f) for _ in range(cfg.num_interactions))
        self.out = nn.Sequential(nn.Linear(f, f // 2 or 1), nn.SiLU(),
                                 nn.Linear(f // 2 or 1, self.n_outputs))  # fmt: skip
        self.register_buffer("freqs", torch.arange(1, cfg.num_rbf + 1) * torch.pi / cfg.cutoff)
        self.representation_dim = f

    def atomwise(self, z, pos, batch):
        edge_index = radius_graph(pos, batch, self.cfg.cutoff)
        j, i = edge_index
        vec = pos[j] - pos[i]  # from the receiving atom i to its neighbour j
        d = vec.norm(dim=-1)
        unit = vec / d[:, None]
        rbf = torch.sin(d[:, None] * self.freqs) / d[:, None]
        fcut = cosine_cutoff(d, self.cfg.cutoff)
        s = self.embedding(z)
        v = s.new_zeros(s.shape[0], 3, s.shape[1])
        for message, update in zip(self.messages, self.updates, strict=True):
            ds, dv = message(s, v, edge_index, rbf, fcut, unit)
            s, v = s + ds, v + dv
            ds, dv = update(s, v)
            s, v = s + ds, v + dv
        return s, self.out(s)

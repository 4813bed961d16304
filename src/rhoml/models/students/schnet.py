"""SchNet (Schütt et al., "SchNet – a continuous-filter convolutional neural network for
modeling quantum interactions", NeurIPS 2017) from torch_geometric, with the pure-torch radius
graph of :mod:`rhoml.models.students.graph` passed in as its ``interaction_graph`` (PyG's own
needs pyg-lib).

PyG's embedding, Gaussian distance expansion, continuous-filter interaction blocks (with the
cosine cutoff on the filters) and atom-wise output network are used as they are; the output
network ends in T outputs instead of one, and the readout, per-element shifts and scaling are
those of :class:`~rhoml.models.students.base.GeometryStudent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rhoml.config import option
from rhoml.models.students.base import MAX_Z, GeometryStudent
from rhoml.models.students.graph import RadiusGraph


@dataclass
class SchNetConfig:
    """``hidden_channels``: node feature size F; ``num_filters``: filter size; ``cutoff`` Å."""

    hidden_channels: int = option(128, min=1)
    num_filters: int = option(128, min=1)
    num_interactions: int = option(6, min=1)
    num_gaussians: int = option(50, min=1)
    cutoff: float = option(5.0, min=0.0, exclusive_min=True)


class SchNetStudent(GeometryStudent):
    Config = SchNetConfig

    def __init__(self, cfg: SchNetConfig, n_outputs: int = 1, readout: str = "sum") -> None:
        super().__init__(n_outputs, readout)
        from torch_geometric.nn.models import SchNet

        self.cfg = cfg
        self.net = SchNet(
            hidden_channels=cfg.hidden_channels, num_filters=cfg.num_filters,
            num_interactions=cfg.num_interactions, num_gaussians=cfg.num_gaussians,
            cutoff=cfg.cutoff, interaction_graph=RadiusGraph(cfg.cutoff), max_num_neighbors=MAX_Z,
        )  # fmt: skip
        self.net.lin2 = torch.nn.Linear(cfg.hidden_channels // 2, self.n_outputs)
        torch.nn.init.xavier_uniform_(self.net.lin2.weight)
        torch.nn.init.zeros_(self.net.lin2.bias)
        self.representation_dim = cfg.hidden_channels

    def atomwise(self, z, pos, batch):
        net = self.net
        h = net.embedding(z)
        edge_index, edge_weight = net.interaction_graph(pos, batch)
        edge_attr = net.distance_expansion(edge_weight)
        for interaction in net.interactions:
            h = h + interaction(h, edge_index, edge_weight, edge_attr)
        out = net.lin2(net.act(net.lin1(h)))
        return h, out

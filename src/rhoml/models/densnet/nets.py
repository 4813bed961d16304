"""DenSNet networks: equivariant Δ-coefficient network and density → energy network (e3nn).

Batches are disjoint unions of molecules: ``numbers`` (n_atoms,), ``pos`` (n_atoms, 3) Å,
``batch`` (n_atoms,) molecule index. Coefficients are returned flat in PySCF AO order
(molecule by molecule, atom by atom), in electrons. dtype follows the module's parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from e3nn import o3
from e3nn.nn import Gate
from torch import nn

from rhoml.config import option
from rhoml.density.flexible_basis import FlexibleBasis, element_integrals, pyscf_from_e3nn
from rhoml.elements import atomic_number
from rhoml.errors import InputError
from rhoml.units import ANGSTROM_IN_BOHR, AU_DIPOLE_IN_DEBYE


@dataclass(frozen=True)
class NetConfig:
    """Hyper-parameters of one equivariant network (a config section: strict keys and ranges,
    checked by :func:`rhoml.config.strict_dataclass`)."""

    channels: int = option(16, min=1, doc="scalar channels per layer")
    vectors: int = option(8, min=1, doc="channels per l > 0 irrep")
    lmax: int = option(2, min=0, max=4, doc="largest l of hidden features")
    lmax_sh: int = option(3, min=0, max=6, doc="largest l of edge spherical harmonics")
    layers: int = option(2, min=1, max=8)
    cutoff: float = option(5.0, min=0.0, exclusive_min=True, doc="neighbour cutoff, Å")
    radial: int = option(8, min=1, doc="radial basis size")


def _parity(l: int) -> int:
    return 1 if l % 2 == 0 else -1


def radius_graph(pos: torch.Tensor, batch: torch.Tensor, cutoff: float):
    """Directed edges (src, dst) between distinct atoms of one molecule within ``cutoff`` Å."""
    d = torch.cdist(pos.detach(), pos.detach())
    same = batch[:, None] == batch[None, :]
    mask = same & (d < cutoff)
    mask.fill_diagonal_(False)
    src, dst = mask.nonzero(as_tuple=True)
    return src, dst


class RadialBasis(nn.Module):
    """Bessel radial basis × smooth polynomial cutoff, (n_edges,) Å → (n_edges, n)."""

    def __init__(self, n: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("freq", torch.arange(1, n + 1) * math.pi / cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r / self.cutoff
        env = 1 - 10 * x**3 + 15 * x**4 - 6 * x**5  # C² smooth, zero at the cutoff
        env = torch.where(x < 1, env, torch.zeros_like(env))
        return (torch.sin(self.freq.to(r.dtype) * r[:, None]) / r[:, None]) * env[:, None]


class Interaction(nn.Module):
    """h_i ← Gate(Linear(h_i) + Σ_j TP(h_j, Y(r̂_ij); MLP(radial(r_ij))) / √avg_neighbours)."""

    def __init__(self, irreps_in, irreps_sh, irreps_out, n_radial: int, gated: bool, avg: float):
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        self.avg = avg
        if gated:
            scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
            gated_irreps = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
            gates = o3.Irreps(f"{gated_irreps.num_irreps}x0e")
            self.gate = Gate(scalars, [nn.functional.silu], gates, [torch.sigmoid], gated_irreps)
            pre = self.gate.irreps_in
        else:
            self.gate = None
            pre = irreps_out
        self.tp = o3.FullyConnectedTensorProduct(
            irreps_in, irreps_sh, pre, shared_weights=False, internal_weights=False
        )
        # no biases: zero radial features (at the cutoff) give zero weights, so edges enter and
        # leave the graph smoothly (energy conservation)
        self.radial = nn.Sequential(
            nn.Linear(n_radial, 32, bias=False),
            nn.SiLU(),
            nn.Linear(32, self.tp.weight_numel, bias=False),
        )
        self.self_linear = o3.Linear(irreps_in, pre)
        self.irreps_out = self.gate.irreps_out if gated else pre

    def forward(self, h, sh, radial, src, dst):
        msg = self.tp(h[src], sh, self.radial(radial))
        agg = torch.zeros(h.shape[0], msg.shape[1], dtype=msg.dtype, device=msg.device)
        agg = agg.index_add(0, dst, msg) / math.sqrt(self.avg)
        out = self.self_linear(h) + agg
        return self.gate(out) if self.gate is not None else out


def _hidden_irreps(cfg: NetConfig) -> o3.Irreps:
    parts = [f"{cfg.channels}x0e"] + [
        f"{cfg.vectors}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(1, cfg.lmax + 1)
    ]
    return o3.Irreps("+".join(parts))


class EquivariantTrunk(nn.Module):
    """Species embedding (+ optional per-atom irreps input) → equivariant message passing."""

    def __init__(self, elements: list[int], cfg: NetConfig, irreps_out, extra_in=None):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("z_table", torch.full((119,), -1, dtype=torch.long))
        for i, z in enumerate(elements):
            self.z_table[z] = i
        n_el = len(elements)
        self.n_elements = n_el
        self.irreps_sh = o3.Irreps.spherical_harmonics(cfg.lmax_sh)
        hidden = _hidden_irreps(cfg)
        irreps_in = o3.Irreps(f"{n_el}x0e")
        if extra_in is not None:
            irreps_in = irreps_in + o3.Irreps(extra_in)  # not simplified: concat order
        self.embed = o3.Linear(irreps_in, hidden)
        self.irreps_in = irreps_in
        self.radial = RadialBasis(cfg.radial, cfg.cutoff)
        avg = 8.0
        self.layers = nn.ModuleList()
        cur = hidden
        for k in range(cfg.layers):
            last = k == cfg.layers - 1
            layer = Interaction(
                cur,
                self.irreps_sh,
                irreps_out if last else hidden,
                cfg.radial,
                gated=not last,
                avg=avg,
            )
            self.layers.append(layer)
            cur = layer.irreps_out
        self.irreps_out = cur

    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        idx = self.z_table[numbers]
        if (idx < 0).any():
            bad = int(numbers[idx < 0][0])
            raise InputError(f"element Z={bad} is not in this model")
        return idx

    def forward(self, numbers, pos, batch, extra=None):
        idx = self.species(numbers)
        onehot = nn.functional.one_hot(idx, self.n_elements).to(pos.dtype)
        x = onehot if extra is None else torch.cat([onehot, extra], dim=1)
        h = self.embed(x)
        src, dst = radius_graph(pos, batch, self.cfg.cutoff)
        vec = pos[src] - pos[dst]
        r = vec.norm(dim=1)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        rad = self.radial(r)
        for layer in self.layers:
            h = layer(h, sh, rad, src, dst)
        return h


class CoefficientNet(nn.Module):
    """geometry → aux-basis coefficients: prior + Δ (or full), electron count enforced exactly.

    ``mode`` is ``"delta"`` (c = c_prior + s·net) or ``"full"`` (c = s·net). In both, the count is
    restored along the prior direction: c ← c + λ c_prior, λ = (N_e − q·c)/(q·c_prior) per
    molecule (a scalar, so equivariance is kept).
    """

    def __init__(
        self,
        basis: FlexibleBasis,
        prior: dict[str, np.ndarray],
        scales: dict[str, np.ndarray],
        cfg: NetConfig,
        mode: str = "delta",
    ):
        super().__init__()
        if mode not in ("delta", "full"):
            raise InputError(f"coefficient mode must be 'delta' or 'full', got {mode!r}")
        self.mode = mode
        self.basis = basis
        self.elements = [atomic_number(e) for e in basis.elements]
        counts: dict[int, int] = {}
        for el in basis.elements:
            c: dict[int, int] = {}
            for l in basis.ls(el):
                c[l] = c.get(l, 0) + 1
            for l, n in c.items():
                counts[l] = max(counts.get(l, 0), n)
        self.irreps_union = o3.Irreps(
            "+".join(f"{counts[l]}x{l}{'e' if l % 2 == 0 else 'o'}" for l in sorted(counts))
        )
        self.trunk = EquivariantTrunk(self.elements, cfg, self.irreps_union)
        self.heads = nn.ModuleDict()
        nfun = torch.zeros(119, dtype=torch.long)
        for el in basis.elements:
            z = atomic_number(el)
            self.heads[str(z)] = o3.Linear(self.trunk.irreps_out, o3.Irreps(basis.irreps(el)))
            n = basis.n_functions(el)
            nfun[z] = n
            conv = torch.zeros(n, n, dtype=torch.float64)
            o = 0
            for l in basis.ls(el):
                d = 2 * l + 1
                conv[o : o + d, o : o + d] = torch.from_numpy(pyscf_from_e3nn(l))
                o += d
            q, m = element_integrals(basis, el)
            self.register_buffer(f"conv_{z}", conv)  # c_pyscf = conv @ c_e3nn
            self.register_buffer(f"prior_{z}", torch.from_numpy(np.asarray(prior[el], float)))
            self.register_buffer(f"scale_{z}", torch.from_numpy(np.asarray(scales[el], float)))
            self.register_buffer(f"q_{z}", torch.from_numpy(q))
            self.register_buffer(f"m_{z}", torch.from_numpy(m))
        self.register_buffer("nfun", nfun)

    def _buf(self, name: str, z: int) -> torch.Tensor:
        return getattr(self, f"{name}_{z}")

    def forward(self, numbers, pos, batch, n_electrons):
        """Returns (coefficients flat (naux_total,), per-atom normalised Δ in e3nn order (list
        aligned with ``heads`` by element), offsets (n_atoms,) into the flat vector)."""
        h = self.trunk(numbers, pos, batch)
        nf = self.nfun[numbers]
        offsets = torch.cumsum(nf, 0) - nf
        total = int(nf.sum())
        dtype = pos.dtype
        coeff = torch.zeros(total, dtype=dtype, device=pos.device)
        prior = torch.zeros(total, dtype=dtype, device=pos.device)
        q = torch.zeros(total, dtype=dtype, device=pos.device)
        owner = torch.repeat_interleave(torch.arange(len(numbers), device=pos.device), nf)
        feats = {}
        for key, head in self.heads.items():
            z = int(key)
            sel = (numbers == z).nonzero(as_tuple=True)[0]
            if len(sel) == 0:
                continue
            raw = head(h[sel])  # (n_z, nfun) e3nn order, normalised
            feats[z] = (sel, raw)
            c = (raw @ self._buf("conv", z).to(dtype).T) * self._buf("scale", z).to(dtype)
            if self.mode == "delta":
                c = c + self._buf("prior", z).to(dtype)
            n = int(self.nfun[z])
            index = (offsets[sel][:, None] + torch.arange(n, device=pos.device)).reshape(-1)
            coeff = coeff.index_put((index,), c.reshape(-1))
            prior = prior.index_put((index,), self._buf("prior", z).to(dtype).repeat(len(sel)))
            q = q.index_put((index,), self._buf("q", z).to(dtype).repeat(len(sel)))
        mol_of = batch[owner]
        n_mol = int(batch.max()) + 1
        qc = torch.zeros(n_mol, dtype=dtype, device=pos.device).index_add(0, mol_of, q * coeff)
        qp = torch.zeros(n_mol, dtype=dtype, device=pos.device).index_add(0, mol_of, q * prior)
        lam = (n_electrons.to(dtype) - qc) / qp
        coeff = coeff + lam[mol_of] * prior
        return coeff, feats, offsets

    def prior_vector(self, numbers) -> np.ndarray:
        """(naux,) prior coefficients of one molecule, PySCF order (numpy, electrons)."""
        return np.concatenate([self._buf("prior", int(z)).cpu().numpy() for z in numbers])

    def dipole(self, numbers, pos, batch, coeff, offsets) -> torch.Tensor:
        """(n_mol, 3) dipole in Debye: Σ_A Z_A R_A − Σ_k c_k ∫r χ_k (nuclei + electrons)."""
        n_mol = int(batch.max()) + 1
        pos_b = pos * ANGSTROM_IN_BOHR
        charge = numbers.to(pos.dtype).clone()
        elec = torch.zeros(len(numbers), 3, dtype=pos.dtype, device=pos.device)
        for key in self.heads:
            z = int(key)
            sel = (numbers == z).nonzero(as_tuple=True)[0]
            if len(sel) == 0:
                continue
            n = int(self.nfun[z])
            c = coeff[(offsets[sel][:, None] + torch.arange(n, device=pos.device))]
            charge = charge.index_add(0, sel, -(c @ self._buf("q", z).to(pos.dtype)))
            elec = elec.index_add(0, sel, c @ self._buf("m", z).to(pos.dtype))
        per_atom = charge[:, None] * pos_b - elec
        mu = torch.zeros(n_mol, 3, dtype=pos.dtype, device=pos.device).index_add(0, batch, per_atom)
        return mu * AU_DIPOLE_IN_DEBYE


class EnergyNet(nn.Module):
    """(predicted normalised Δ-coefficients as irreps, geometry) → total energy (kcal/mol)."""

    def __init__(
        self, basis: FlexibleBasis, cfg: NetConfig, e_shift: dict[int, float], e_scale: float
    ):
        super().__init__()
        self.elements = [atomic_number(e) for e in basis.elements]
        counts: dict[int, int] = {}
        for el in basis.elements:
            for l in set(basis.ls(el)):
                counts[l] = max(counts.get(l, 0), basis.ls(el).count(l))
        self.irreps_coeff = o3.Irreps(
            "+".join(f"{counts[l]}x{l}{'e' if l % 2 == 0 else 'o'}" for l in sorted(counts))
        )
        self.inputs = nn.ModuleDict()
        for el in basis.elements:
            z = atomic_number(el)
            self.inputs[str(z)] = o3.Linear(o3.Irreps(basis.irreps(el)), self.irreps_coeff)
        # invariant norms of every coefficient irrep (keeps l > lmax information as scalars)
        self.norm = o3.Norm(self.irreps_coeff, squared=True)  # smooth at 0
        extra = self.irreps_coeff + o3.Irreps(f"{self.irreps_coeff.num_irreps}x0e")
        self.trunk = EquivariantTrunk(self.elements, cfg, f"{cfg.channels}x0e", extra_in=extra)
        self.readout = nn.Sequential(
            nn.Linear(cfg.channels, cfg.channels), nn.SiLU(), nn.Linear(cfg.channels, 1)
        )
        shift = torch.zeros(119, dtype=torch.float64)
        for z, v in e_shift.items():
            shift[int(z)] = v
        self.register_buffer("e_shift", shift)
        self.e_scale = float(e_scale)

    def forward(self, numbers, pos, batch, feats) -> torch.Tensor:
        n_mol = int(batch.max()) + 1
        coeff_in = torch.zeros(
            len(numbers), self.irreps_coeff.dim, dtype=pos.dtype, device=pos.device
        )
        for z, (sel, raw) in feats.items():
            coeff_in = coeff_in.index_put((sel,), self.inputs[str(z)](raw))
        norms = self.norm(coeff_in)
        h = self.trunk(numbers, pos, batch, extra=torch.cat([coeff_in, norms], dim=1))
        e_atom = self.readout(h).squeeze(-1) * self.e_scale + self.e_shift[numbers].to(pos.dtype)
        return torch.zeros(n_mol, dtype=pos.dtype, device=pos.device).index_add(0, batch, e_atom)

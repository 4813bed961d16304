"""Fast inference of a trained DenSNet for one fixed molecule topology (MD, harmonic analysis).

:class:`Evaluator` takes the e3nn modules of a :class:`~rhoml.models.densnet.potential.DenSNet` and
rewrites them, once, into a few dense matrix products:

* every ``o3.Linear`` becomes one (dim_in, dim_out) matrix (evaluated on the identity);
* every per-edge ``FullyConnectedTensorProduct`` becomes one matmul (edge harmonics × a
  coupling table probed from the tensor product itself, so its own path weights and Wigner-3j
  constants are used), one broadcast product per input irrep, and one matmul (radial MLP's last
  layer, its rows regrouped once) + one broadcast product per output irrep;
* the spherical harmonics are monomials of the unit vector times a fitted table (one matmul);
* species embedding, output heads, e3nn → PySCF ordering, coefficient scales, the energy
  network's input layers and the coefficient norms are folded into per-element matrices;
* the graph (all atom pairs for small molecules: pairs beyond the cutoff get exactly zero radial
  weights, so the result equals the radius graph) and every index are built once; the two
  directions of a pair share their radial features and per-edge tensor-product weights, which
  are built once per pair (about 1.25x per call for ethanol).

Parameters are copied (detached) at construction, so only the positions carry gradients. The
numbers equal the module path (``DenSNet.forward`` + ``autograd``) up to float64 round-off
(tests/densnet/test_fast_inference.py). Units: positions Å, energy kcal/mol, forces kcal/mol/Å,
dipole Debye, coefficients electrons (PySCF AO order).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from e3nn import o3
from torch import nn

from rhoml.models.densnet.nets import EquivariantTrunk, radius_graph
from rhoml.units import ANGSTROM_IN_BOHR, AU_DIPOLE_IN_DEBYE

DENSE_GRAPH_MAX_ATOMS = 64  # up to this size all pairs are edges (no per-step neighbour search)


@torch.no_grad()
def dense_linear(lin: o3.Linear) -> torch.Tensor:
    """(dim_in, dim_out) matrix M with ``lin(x) == x @ M`` (bias-free e3nn Linear)."""
    dim_in = lin.irreps_in.dim
    dt, dev = lin.weight.dtype, lin.weight.device
    if lin(torch.zeros(1, dim_in, dtype=dt, device=dev)).abs().max() != 0:
        raise ValueError("dense_linear: o3.Linear with biases is not supported")
    return lin(torch.eye(dim_in, dtype=dt, device=dev)).detach().clone()


class SphericalHarmonics:
    """e3nn real spherical harmonics (``normalize=True``, ``normalization='component'``) for
    l ≤ lmax as monomials of the unit vector times a constant table (one matmul).

    Y_l is a homogeneous degree-l polynomial of the unit vector; the table is fitted by least
    squares to e3nn's own harmonics at random directions (exact up to round-off, checked)."""

    def __init__(self, lmax: int, dtype, device) -> None:
        self.lmax = lmax
        gen = torch.Generator().manual_seed(0)
        u = torch.randn(400, 3, generator=gen, dtype=torch.float64)
        u = u / u.norm(dim=1, keepdim=True)
        mono = self._monomials(u)
        ref = o3.spherical_harmonics(
            list(range(lmax + 1)), u, normalize=True, normalization="component"
        )
        table = torch.zeros(mono.shape[1], ref.shape[1], dtype=torch.float64)
        c0 = 0
        for l in range(lmax + 1):
            cols = slice(c0, c0 + 3**l)
            a = torch.linalg.lstsq(
                mono[:, cols], ref[:, l * l : (l + 1) ** 2], driver="gelsd"
            ).solution
            table[cols, l * l : (l + 1) ** 2] = a
            c0 += 3**l
        err = (mono @ table - ref).abs().max().item()
        if err > 1e-11:
            raise RuntimeError(f"spherical harmonics table does not reproduce e3nn ({err:.1e})")
        self.table = table.to(dtype=dtype, device=device)

    def _monomials(self, u: torch.Tensor) -> torch.Tensor:
        parts = [u.new_ones(u.shape[0], 1)]
        for _ in range(self.lmax):
            parts.append((parts[-1].unsqueeze(2) * u.unsqueeze(1)).reshape(u.shape[0], -1))
        return torch.cat(parts, dim=1)

    def __call__(self, vec: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """vec (E, 3), r = |vec| (E,) → (E, (lmax+1)²)."""
        return self._monomials(vec / r.unsqueeze(1)) @ self.table


def _activation(act) -> tuple:
    """(function, constant) of an e3nn ``Activation`` with one scalar path, else the module."""
    from e3nn.math import normalize2mom

    acts = [a for a in act.acts if a is not None]
    if len(act.paths) == 1 and len(acts) == 1 and isinstance(acts[0], normalize2mom):
        return acts[0].f, (1.0 if acts[0]._is_id else acts[0].cst)
    return act, 1.0


@torch.no_grad()
def _probe_path(tp: o3.TensorProduct, k: int, offset: int, ins) -> torch.Tensor:
    """(d1, d2, d3) coupling of one ``uvw`` path as ``tp`` computes it (path weight and its own
    Wigner-3j constants included): ``tp`` evaluated on unit inputs with a unit weight."""
    d1 = tp.irreps_in1[ins.i_in1].ir.dim
    d2 = tp.irreps_in2[ins.i_in2].ir.dim
    d3 = tp.irreps_out[ins.i_out].ir.dim
    ref = next((b for b in tp.buffers() if b.is_floating_point()), torch.zeros((), dtype=float))
    dt, dev = ref.dtype, ref.device
    x1 = torch.zeros(d1 * d2, tp.irreps_in1.dim, dtype=dt, device=dev)
    x2 = torch.zeros(d1 * d2, tp.irreps_in2.dim, dtype=dt, device=dev)
    w = torch.zeros(d1 * d2, tp.weight_numel, dtype=dt, device=dev)
    a0 = tp.irreps_in1.slices()[ins.i_in1].start
    b0 = tp.irreps_in2.slices()[ins.i_in2].start
    rows = torch.arange(d1 * d2, device=dev)
    x1[rows, a0 + rows // d2] = 1.0  # first copy (u = 0), component i
    x2[rows, b0 + rows % d2] = 1.0  # component j
    w[:, offset] = 1.0  # weight (u=0, v=0, w=0) of this path
    o0 = tp.irreps_out.slices()[ins.i_out].start
    out = tp(x1, x2, w)[:, o0 : o0 + d3]  # first output copy (w = 0)
    return out.reshape(d1, d2, d3).to(device="cpu", dtype=torch.float64)


class FastTensorProduct:
    """An e3nn ``uvw`` tensor product whose per-edge weights are a linear layer of a hidden
    vector (``weights = g @ w_out.T``), with multiplicity-1 second input (edge harmonics).

    The weights of all paths into one output irrep come from one matmul (rows of ``w_out``
    regrouped once); the per-edge contractions are broadcast products + sums (per-edge batched
    matmuls are slow on CPU for such tiny matrices). Input irreps listed in ``zero_in`` are
    known to be exactly zero and their paths are dropped (their contribution is exactly 0).
    """

    def __init__(
        self, tp: o3.TensorProduct, w_out: torch.Tensor, dtype, device, zero_in=()
    ) -> None:
        ir1, ir2, iro = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
        if any(mul != 1 for mul, _ in ir2):
            raise NotImplementedError("second input must have multiplicity 1 per irrep")
        ins = [i for i in tp.instructions if 0 not in i.path_shape]
        if any(i.connection_mode != "uvw" or not i.has_weight for i in ins):
            raise NotImplementedError("only weighted 'uvw' paths are supported")
        offsets, o = {}, 0
        for k, i in enumerate(ins):
            offsets[k] = o
            o += int(np.prod(i.path_shape))
        if o != tp.weight_numel or w_out.shape[0] != o:
            raise ValueError("unexpected weight layout")
        s1, s2 = ir1.slices(), ir2.slices()
        # per input irrep a: its paths sorted by output irrep; table columns (i, path, k)
        cols = []
        col0 = 0
        self.blocks = []  # (start, stop of x1 columns, mul, d1, table column start, K_a)
        block_paths = []
        block_ranges = []  # per block: {i_out: (k0, k1)}
        for a, (mul1, ir_1) in enumerate(ir1):
            paths = sorted(
                [(k, i) for k, i in enumerate(ins) if i.i_in1 == a],
                key=lambda t: (t[1].i_out, t[0]),
            )
            if not paths or a in zero_in:
                continue
            d1 = ir_1.dim
            ka = sum(iro[i.i_out].ir.dim for _, i in paths)
            table = torch.zeros(ir2.dim, d1, ka, dtype=torch.float64)
            kk = 0
            ranges: dict[int, list[int]] = {}
            for k, i in paths:
                d3 = iro[i.i_out].ir.dim
                coupling = _probe_path(tp, k, offsets[k], i)  # (d1, d2, d3)
                table[s2[i.i_in2], :, kk : kk + d3] = coupling.permute(1, 0, 2)
                ranges.setdefault(i.i_out, [kk, kk])[1] = kk + d3
                kk += d3
            cols.append(table.reshape(ir2.dim, d1 * ka))
            self.blocks.append((s1[a].start, s1[a].stop, mul1, d1, col0, ka))
            block_paths.append(paths)
            block_ranges.append({k: tuple(v) for k, v in ranges.items()})
            col0 += d1 * ka
        self.table = torch.cat(cols, dim=1).to(dtype=dtype, device=device)
        self.table_split = [t.shape[1] for t in cols]
        x1_used = [(b[0], b[1]) for b in self.blocks]
        # split of x1 into input irreps (unused ones included, then dropped)
        bounds = sorted({0, ir1.dim, *[v for se in x1_used for v in se]})
        self.x1_split = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.x1_pick = [bounds.index(a) for a, _ in x1_used]
        # per output irrep: rows R = (block, u, path) of its weights, taken from w_out
        self.outs = []  # (mul_out, d3, [(block, k0, k1)], (hidden, w·R) weight matrix or None)
        w_out = w_out.detach()
        for io, (mulo, ir_o) in enumerate(iro):
            pieces = []
            rows = []
            for b, paths in enumerate(block_paths):
                if io not in block_ranges[b]:
                    continue
                k0, k1 = block_ranges[b][io]
                pieces.append((b, k0, k1))
                here = [k for k, i in paths if i.i_out == io]
                for u in range(self.blocks[b][2]):
                    for k in here:
                        rows.append(offsets[k] + u * mulo + np.arange(mulo))
            if not pieces:
                self.outs.append((mulo, ir_o.dim, pieces, None))
                continue
            mat = w_out[torch.as_tensor(np.stack(rows))]  # (R, w, hidden)
            mat = mat.transpose(0, 1).reshape(-1, w_out.shape[1])  # rows (w, R)
            mat = mat.T.contiguous().to(dtype=dtype, device=device)  # (hidden, w·R)
            self.outs.append((mulo, ir_o.dim, pieces, mat))
        # all outputs' weights from one matmul, then split
        mats = [m for *_, m in self.outs if m is not None]
        self.w_all = torch.cat(mats, dim=1)
        self.w_split = [m.shape[1] for m in mats]
        # per block: split of its K columns by output irrep (ranges are contiguous, in order)
        self.k_split = []
        for ranges in block_ranges:
            r = sorted(ranges.items())
            self.k_split.append(
                ([k1 - k0 for _, (k0, k1) in r], {io: j for j, (io, _) in enumerate(r)})
            )

    def __call__(self, x1: torch.Tensor, x2: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """x1 (E, dim1), x2 (E, dim2), g (E, hidden) → (E, dim_out).

        ``g`` with E/2 = P rows: edge p + P is the reverse of edge p (i→j, j→i); the two
        share their radial weights, so the weights are built once per pair."""
        e = x1.shape[0]
        paired = g.shape[0] * 2 == e
        s_all = torch.split(x2 @ self.table, self.table_split, dim=1)
        x1s = torch.split(x1, self.x1_split, dim=1)
        ys = []  # per block: its (E, u, K) products, split by output irrep
        for (_, _, mul1, d1, _, ka), sa, pick, (ks, _) in zip(
            self.blocks, s_all, self.x1_pick, self.k_split, strict=True
        ):
            xa = x1s[pick]
            if d1 == 1:
                y = xa.unsqueeze(2) * sa.unsqueeze(1)  # (E, u, K)
            else:
                y = torch.bmm(xa.reshape(e, mul1, d1), sa.reshape(e, d1, ka))
            ys.append(torch.split(y, ks, dim=2) if len(ks) > 1 else (y,))
        ws = iter(torch.split(g @ self.w_all, self.w_split, dim=1))
        out = []
        for io, (mulo, d3, pieces, mat) in enumerate(self.outs):
            if mat is None:
                out.append(x1.new_zeros(e, mulo * d3))
                continue
            y = [ys[b][self.k_split[b][1][io]].reshape(e, -1, d3) for b, _, _ in pieces]
            y = y[0] if len(y) == 1 else torch.cat(y, dim=1)  # (E, R, d3)
            if paired:  # one weight tensor (P, w, R) for the forward and the reverse edges
                p = e // 2
                w = next(ws).reshape(p, mulo, -1)
                if d3 == 1:  # (P, w, R) @ (P, R, 2): both edges in one product
                    z = torch.bmm(w, y.reshape(2, p, -1).permute(1, 2, 0)).permute(2, 0, 1)
                else:  # (P, w, R) @ (P, R, d3), forward then reverse
                    z = torch.cat([torch.bmm(w, y[:p]), torch.bmm(w, y[p:])])
                out.append(z.reshape(e, mulo * d3))
                continue
            w = next(ws).reshape(e, mulo, -1)  # (E, w, R): contraction over the last axis
            if d3 == 1:
                out.append((w * y.reshape(e, 1, -1)).sum(2))
            else:
                out.append(torch.bmm(w, y).reshape(e, mulo * d3))
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)


class _FastGate:
    """e3nn ``Gate`` (scalars act, gates act, gated × gate) on a ``scalars + gates + gated``
    layout, with the gate's own second-moment-normalised activations."""

    def __init__(self, gate, device) -> None:
        self.ns = gate.irreps_scalars.dim
        self.ng = gate.irreps_gates.dim
        if (
            gate.irreps_in
            != (gate.irreps_scalars + gate.irreps_gates + gate.irreps_gated).simplify()
        ):
            raise NotImplementedError("gate input layout not supported")
        self.act_s = _activation(gate.act_scalars)
        self.act_g = _activation(gate.act_gates)
        idx = []
        start = 0
        for mul, ir in gate.irreps_gated:
            for m in range(mul):
                idx.extend([start + m] * ir.dim)
            start += mul
        self.expand = torch.as_tensor(idx, dtype=torch.long, device=device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        (fs, cs), (fg, cg) = self.act_s, self.act_g
        s, g, gated = torch.split(x, [self.ns, self.ng, x.shape[1] - self.ns - self.ng], dim=1)
        return torch.cat([fs(s) * cs, gated * (fg(g) * cg).index_select(1, self.expand)], dim=1)


class _FastLayer:
    def __init__(self, layer, dtype, device, zero_in=()) -> None:
        lin1, act, lin2 = layer.radial
        if lin1.bias is not None or lin2.bias is not None or not isinstance(act, nn.SiLU):
            raise NotImplementedError("radial MLP layout not supported")
        self.tp = FastTensorProduct(layer.tp, lin2.weight, dtype, device, zero_in)
        self.w1t = lin1.weight.detach().T.contiguous()
        self.self_lin = dense_linear(layer.self_linear)
        self.norm = 1.0 / math.sqrt(layer.avg)
        self.gate = _FastGate(layer.gate, device) if layer.gate is not None else None

    def __call__(self, h, sh, rad, src, dst):
        g = nn.functional.silu(rad @ self.w1t)
        msg = self.tp(h.index_select(0, src), sh, g)
        agg = h.new_zeros(h.shape[0], msg.shape[1]).index_add(0, dst, msg)
        out = h @ self.self_lin + agg * self.norm
        return self.gate(out) if self.gate is not None else out


class _FastTrunk:
    """Message passing of an :class:`EquivariantTrunk` after its embedding (``h0`` known)."""

    def __init__(self, trunk: EquivariantTrunk, dtype, device, h0=None) -> None:
        self.n_sh = (trunk.cfg.lmax_sh + 1) ** 2
        self.radial_key = (trunk.cfg.radial, trunk.cfg.cutoff)
        self.freq = trunk.radial.freq.detach().to(dtype=dtype, device=device)
        self.cutoff = trunk.cfg.cutoff
        self.embed = dense_linear(trunk.embed)
        zero_in = ()
        if h0 is not None:  # input irreps that are exactly zero in the first layer
            x = h0 @ self.embed
            ir = trunk.layers[0].tp.irreps_in1
            zero_in = tuple(a for a, sl in enumerate(ir.slices()) if not x[:, sl].any())
        self.layers = [
            _FastLayer(layer, dtype, device, zero_in if k == 0 else ())
            for k, layer in enumerate(trunk.layers)
        ]

    def radial(self, r: torch.Tensor) -> torch.Tensor:
        """Same formula as :class:`~rhoml.models.densnet.nets.RadialBasis`."""
        x = r / self.cutoff
        env = 1 - 10 * x**3 + 15 * x**4 - 6 * x**5
        env = torch.where(x < 1, env, torch.zeros_like(env))
        return (torch.sin(self.freq * r[:, None]) / r[:, None]) * env[:, None]

    def __call__(self, h, sh, rad, src, dst):
        sh = sh[:, : self.n_sh]
        for layer in self.layers:
            h = layer(h, sh, rad, src, dst)
        return h


class Evaluator:
    """Energy, forces, dipole and coefficients of one molecule topology (``numbers``, ``charge``)
    from a :class:`~rhoml.models.densnet.potential.DenSNet`, with parameters frozen at construction.

    ``Evaluator(model, numbers)(positions)`` returns a dict (see :meth:`__call__`).
    ``compile=True`` runs the energy + force graph through ``torch.compile`` (needs a working
    C++ compiler; the first call compiles, about 1–2 min on one core, later processes reuse
    PyTorch's on-disk cache). Molecules above ``dense_max_atoms`` atoms use a radius graph
    rebuilt every call instead of all atom pairs."""

    def __init__(
        self,
        model,
        numbers,
        charge: int = 0,
        *,
        compile: bool = False,
        dense_max_atoms: int = DENSE_GRAPH_MAX_ATOMS,
    ) -> None:
        p0 = next(model.parameters())
        self.dtype, self.device = p0.dtype, p0.device
        z = torch.as_tensor(np.asarray(numbers), dtype=torch.long, device=self.device)
        self.n_atoms = len(z)
        self.numbers = z
        with torch.no_grad():
            self._build(model.coeff_net, model.energy_net, z, charge)
        if self.n_atoms <= dense_max_atoms:
            # all pairs: i→j (i < j), then j→i in the same order (radial weights shared)
            i, j = torch.triu_indices(self.n_atoms, self.n_atoms, 1, device=self.device)
            self.edges = (torch.cat([i, j]), torch.cat([j, i]))
        else:
            self.edges = None
        self.cutoff = max(self.ctrunk.cutoff, self.etrunk.cutoff)
        self.compiled = bool(compile)
        self._energy = torch.compile(self.energy, dynamic=False) if compile else self.energy

    def _build(self, cn, en, z, charge: int) -> None:
        dt, dev = self.dtype, self.device
        n = len(z)
        onehot_c = nn.functional.one_hot(cn.trunk.species(z), cn.trunk.n_elements).to(dt)
        self.ctrunk = _FastTrunk(cn.trunk, dt, dev, h0=onehot_c)
        self.h0_c = onehot_c @ self.ctrunk.embed  # constant: species embedding
        self.etrunk = _FastTrunk(en.trunk, dt, dev)
        self.sh = SphericalHarmonics(max(cn.trunk.cfg.lmax_sh, en.trunk.cfg.lmax_sh), dt, dev)
        self.share_radial = self.ctrunk.radial_key == self.etrunk.radial_key
        onehot_e = nn.functional.one_hot(en.trunk.species(z), en.trunk.n_elements).to(dt)
        n_el = en.trunk.n_elements
        dci = en.irreps_coeff.dim
        emb = self.etrunk.embed
        self.h0_e = onehot_e @ emb[:n_el]
        # energy-net input: coefficient irreps and their squared norms (c²) @ P, embedded
        pn = en.norm(torch.eye(dci, dtype=dt, device=dev))
        self.emb_coeff = emb[n_el : n_el + dci]
        self.emb_norm = pn @ emb[n_el + dci :]
        # per element: trunk output → PySCF coefficients (scaled) and energy-net input
        self.groups = []  # (atom indices, to coefficients, to energy input, prior or None)
        for key, head in cn.heads.items():
            zz = int(key)
            sel = (z == zz).nonzero(as_tuple=True)[0]
            if len(sel) == 0:
                continue
            mh = dense_linear(head)  # (dim_h, nfun) e3nn order
            to_c = (mh @ cn._buf("conv", zz).to(dt).T) * cn._buf("scale", zz).to(dt)
            to_e = mh @ dense_linear(en.inputs[str(zz)])
            prior = cn._buf("prior", zz).to(dt) if cn.mode == "delta" else None
            self.groups.append((sel, to_c, to_e, prior))
        # the element-grouped results are put back in atom / PySCF order by one index each
        nf = cn.nfun[z]
        offsets = torch.cumsum(nf, 0) - nf
        grouped = torch.cat(
            [
                (offsets[sel][:, None] + torch.arange(c.shape[1], device=dev)).reshape(-1)
                for sel, c, _, _ in self.groups
            ]
        )
        self.to_pyscf = torch.empty_like(grouped)
        self.to_pyscf[grouped] = torch.arange(len(grouped), device=dev)
        atoms = torch.cat([sel for sel, *_ in self.groups])
        self.atoms_back = torch.empty_like(atoms)
        self.atoms_back[atoms] = torch.arange(n, device=dev)
        self.prior = torch.cat([cn._buf("prior", int(a)).to(dt) for a in z])
        self.q = torch.cat([cn._buf("q", int(a)).to(dt) for a in z])
        self.m = torch.cat([cn._buf("m", int(a)).to(dt) for a in z])
        self.owner = torch.repeat_interleave(torch.arange(n, device=dev), nf)
        self.n_electrons = float(z.sum()) - charge
        self.q_prior = float(self.q @ self.prior)
        lin1, act, lin2 = en.readout
        if not isinstance(act, nn.SiLU):
            raise NotImplementedError("energy read-out layout not supported")
        self.readout = [
            t.detach().clone() for t in (lin1.weight, lin1.bias, lin2.weight, lin2.bias)
        ]
        self.e_scale = en.e_scale
        self.e_shift = float(en.e_shift[z].sum())

    def _graph(self, pos):
        if self.edges is not None:
            return self.edges
        batch = torch.zeros(self.n_atoms, dtype=torch.long, device=pos.device)
        return radius_graph(pos, batch, self.cutoff)

    def _heads(self, h, which: int) -> list[torch.Tensor]:
        return [h.index_select(0, sel) @ g[which] for sel, *g in self.groups]

    def energy(self, pos: torch.Tensor):
        """Total energy (kcal/mol, float64 0-d tensor) and the coefficient trunk's output."""
        src, dst = self._graph(pos)
        vec = pos.index_select(0, src) - pos.index_select(0, dst)
        r = vec.norm(dim=1)
        sh = self.sh(vec, r)
        if self.edges is not None:  # reverse pairs: radial features once per pair
            r = r[: len(r) // 2]
        rad_c = self.ctrunk.radial(r)
        rad_e = rad_c if self.share_radial else self.etrunk.radial(r)
        hc = self.ctrunk(self.h0_c, sh, rad_c, src, dst)
        cin = torch.cat(self._heads(hc, 1)).index_select(0, self.atoms_back)
        x = self.h0_e + cin @ self.emb_coeff + (cin * cin) @ self.emb_norm
        he = self.etrunk(x, sh, rad_e, src, dst)
        w1, b1, w2, b2 = self.readout
        y = nn.functional.linear(nn.functional.silu(nn.functional.linear(he, w1, b1)), w2, b2)
        return y.sum().double() * self.e_scale + self.e_shift, hc

    @torch.no_grad()
    def coefficients(self, hc: torch.Tensor) -> torch.Tensor:
        """(naux,) coefficients (electrons, PySCF order) with the exact electron count."""
        parts = []
        for (*_, prior), c in zip(self.groups, self._heads(hc, 0), strict=True):
            parts.append((c if prior is None else c + prior).reshape(-1))
        c = torch.cat(parts).index_select(0, self.to_pyscf)
        lam = (self.n_electrons - self.q @ c) / self.q_prior
        return c + lam * self.prior

    @torch.no_grad()
    def dipole(self, pos: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(3,) dipole in Debye: Σ_A (Z_A − ∫ρ_A) R_A − Σ_k c_k ∫r χ_k."""
        elec = torch.zeros(self.n_atoms, dtype=c.dtype, device=c.device)
        charge = self.numbers.to(c.dtype) - elec.index_add(0, self.owner, self.q * c)
        return (charge @ (pos * ANGSTROM_IN_BOHR) - c @ self.m) * AU_DIPOLE_IN_DEBYE

    def __call__(self, positions, *, forces: bool = True, dipole: bool = True) -> dict:
        """``positions`` (n_atoms, 3) Å → energy (kcal/mol), forces (n_atoms, 3) kcal/mol/Å,
        dipole (3,) Debye, coeff (naux,) electrons (numpy, float64)."""
        pos = torch.as_tensor(np.asarray(positions), device=self.device).to(self.dtype)
        if pos.shape != (self.n_atoms, 3):
            raise ValueError(f"positions must have shape ({self.n_atoms}, 3)")
        if forces:
            pos.requires_grad_(True)
            e, hc = self._energy(pos)
            (g,) = torch.autograd.grad(e, pos)
        else:
            with torch.no_grad():
                e, hc = self._energy(pos)
        out = {"energy": float(e.detach())}
        if forces:
            out["forces"] = (-g).double().cpu().numpy()
        c = self.coefficients(hc.detach())
        if dipole:
            out["dipole"] = self.dipole(pos.detach(), c).double().cpu().numpy()
        out["coeff"] = c.double().cpu().numpy()
        return out

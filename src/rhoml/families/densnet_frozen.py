"""DenSNet's energy stage on frozen coefficient-network features.

In stage 2 the coefficient network is frozen, so its per-atom features f(R) (the normalised
Δ-coefficients the energy network reads) and their Jacobian ∂f/∂R are the same in every epoch.
They are computed once per frame (forward-mode AD, :func:`torch.func.jvp` vmapped over the 3·n
coordinate directions), and every training step then runs only the energy network:

    F = −(∂E/∂R + (∂f/∂R)ᵀ ∂E/∂f)        (kcal/mol/Å; f dimensionless, R in Å)

which equals the forces through both networks to round-off and costs about a fifth of a step
through both (ethanol, ``benchmarks/densnet_energy_stage.py``). Memory: one (n_feat, 3n)
Jacobian per frame, e.g. 637 × 27 floats for ethanol; :func:`jacobian_bytes` estimates it so the
caller can fall back to the full path for large systems.
"""

from __future__ import annotations

import numpy as np

#: above this many bytes of Jacobians the energy stage recomputes the coefficient network instead
MAX_JACOBIAN_BYTES = 2_000_000_000


def feature_sizes(coeff_net) -> dict[int, int]:
    """Element → features per atom (the width of the coefficient network's head)."""
    return {int(z): int(coeff_net.nfun[z]) for z in coeff_net.elements}


def jacobian_bytes(items: list[dict], sizes: dict[int, int], itemsize: int = 4) -> int:
    """Bytes of the Jacobians of ``items`` (the energy stage's per-frame dicts)."""
    total = 0
    for it in items:
        z = it["z"].numpy()
        total += sum(sizes[int(k)] for k in z) * 3 * len(z)
    return total * itemsize


def add_frozen_features(coeff_net, items: list[dict], batch_size: int = 8,
                        progress: bool = False) -> None:  # fmt: skip
    """Add ``feats`` (element → (n_z, d_z) features of the frame's atoms of that element, in atom
    order) and ``jac`` ((n_feat, 3n) ∂f/∂R, rows: elements ascending, then atoms, then
    features; columns: R flattened, Å⁻¹) to every item, in place. ``coeff_net`` must be frozen
    (no parameter requiring gradients)."""
    import torch
    from torch.func import jvp, vmap
    from tqdm.auto import tqdm

    if any(p.requires_grad for p in coeff_net.parameters()):
        raise ValueError("freeze the coefficient network first")
    starts = range(0, len(items), batch_size)
    bar = tqdm(starts, desc="energy stage: features and Jacobians", unit="batch",
               disable=not progress)  # fmt: skip
    for s in bar:
        chunk = items[s : s + batch_size]
        sizes = [len(it["z"]) for it in chunk]
        z = torch.cat([it["z"] for it in chunk])
        pos = torch.cat([it["pos"] for it in chunk])
        batch = torch.repeat_interleave(torch.arange(len(chunk)), torch.tensor(sizes))
        n_e = torch.tensor([it["n_e"] for it in chunk], dtype=pos.dtype)
        keys = sorted({int(k) for k in z.tolist()})

        def features(p, z=z, batch=batch, n_e=n_e, keys=keys):
            _, feats, _ = coeff_net(z, p, batch, n_e)
            return tuple(feats[k][1] for k in keys)

        # tangent 3a + c moves coordinate c of the a-th atom of every frame that has one
        first = np.cumsum([0, *sizes[:-1]])
        tangents = torch.zeros(3 * max(sizes), len(z), 3, dtype=pos.dtype)
        for f0, n in zip(first, sizes, strict=True):
            a = torch.arange(n)
            for c in range(3):
                tangents[3 * a + c, f0 + a, c] = 1.0
        # one vmapped jvp: the features (the same for every tangent) and the Jacobian columns
        values, columns = vmap(lambda t, pos=pos, f=features: jvp(f, (pos,), (t,)),
                               out_dims=(None, 0))(tangents)  # fmt: skip
        owner = {k: batch[z == k] for k in keys}
        for m, (it, n) in enumerate(zip(chunk, sizes, strict=True)):
            it["feats"], rows = {}, []
            for k, v, col in zip(keys, values, columns, strict=True):
                mine = owner[k] == m
                if not bool(mine.any()):
                    continue
                it["feats"][k] = v[mine].detach().clone()
                # (3n, n_zm, d_z) → (n_zm · d_z, 3n)
                rows.append(col[: 3 * n, mine].reshape(3 * n, -1).T)
            it["jac"] = torch.cat(rows).detach().clone()


def collate_frozen(items: list[dict]) -> dict:
    """:func:`rhoml.families.densnet_train.collate_items` plus ``feats`` (element → (n_z, d_z)
    over the batch, in batch atom order), ``jac`` (per-frame list) and ``rows`` (element →
    per-frame (start, stop) rows of ``feats``)."""
    import torch

    from rhoml.families.densnet_train import collate_items

    out = collate_items(items)
    keys = sorted({k for it in items for k in it["feats"]})
    out["feats"], out["rows"] = {}, {}
    for k in keys:
        parts = [it["feats"].get(k) for it in items]
        counts = [0 if p is None else len(p) for p in parts]
        ends = np.cumsum(counts)
        out["feats"][k] = torch.cat([p for p in parts if p is not None])
        out["rows"][k] = [(int(e - c), int(e)) for e, c in zip(ends, counts, strict=True)]
    out["jac"] = [it["jac"] for it in items]
    return out


def frozen_energy_forces(energy_net, b: dict, create_graph: bool):
    """Energies (n_mol,) and forces (n_atoms, 3) of a :func:`collate_frozen` batch through
    the energy network only (module docstring)."""
    import torch

    keys = sorted(b["feats"])
    with torch.enable_grad():
        pos = b["pos"].detach().requires_grad_(True)
        leaves = [b["feats"][k].detach().requires_grad_(True) for k in keys]
        sel = {k: (b["z"] == k).nonzero(as_tuple=True)[0] for k in keys}
        feats = {k: (sel[k], leaf) for k, leaf in zip(keys, leaves, strict=True)}
        energy = energy_net(b["z"], pos, b["batch"], feats)
        g_pos, *g_feat = torch.autograd.grad(energy.sum(), [pos, *leaves],
                                             create_graph=create_graph)  # fmt: skip
    chain = []
    for m, jac in enumerate(b["jac"]):
        g = torch.cat([g_feat[i][slice(*b["rows"][k][m])].reshape(-1) for i, k in enumerate(keys)])
        chain.append(jac.to(g.dtype).T @ g)
    forces = -(g_pos + torch.cat(chain).reshape(-1, 3))
    return energy, forces

"""Training DenSNet, the stages that :class:`rhoml.families.densnet.DenSNetFamily` runs from a
config (sections in :mod:`rhoml.families.densnet_config`): stage 1 the coefficient network on the
Coulomb
norm of the density error, stage 2 the energy network on energies and forces (forces through
both networks, the coefficient network frozen).

Losses: stage 1 mean over molecules of (δρ|δρ) = δcᵀ J δc (Hartree), δc = c_pred − c_fit in the
same basis (or, with ``loss_metric = "overlap"``, the L² norm ∫δρ² = δcᵀ S δc in e²/Bohr³, which
weights the short-range density errors that dominate the NMAE more). Stage 2 mean of
((E−E_ref)/σ_E)² + w·mean(((F−F_ref)/σ_F)²) with σ from the training set (E kcal/mol, F kcal/mol/Å).
"""

from __future__ import annotations

import math

import numpy as np

from rhoml.errors import InputError
from rhoml.families.densnet_config import BasisSection, TrainSection
from rhoml.represent.coefficients import Frame


def make_basis(cfg: BasisSection, elements):
    """The flexible aux basis of ``[basis]`` for ``elements`` (symbols)."""
    from rhoml.density.flexible_basis import FlexibleBasis

    lmax = {el: (cfg.lmax_h if el == "H" else cfg.lmax_heavy) for el in elements}
    basis = FlexibleBasis.from_pyscf(cfg.basis, elements, lmax)
    return basis.orthogonalised(cfg.orthogonalise) if cfg.orthogonalise else basis


def coefficient_scales(frames: list[Frame], basis, prior: dict, mode: str) -> dict:
    """Per-element, per-shell RMS of the targets (Δ or full): one scale per shell keeps
    equivariance. Returns {element: (nfun,)}."""
    from rhoml.elements import symbol

    acc: dict[str, list[np.ndarray]] = {el: [] for el in basis.elements}
    for f in frames:
        o = 0
        for z in f.molecule.numbers:
            el = symbol(int(z))
            n = basis.n_functions(el)
            c = f.coeff[o : o + n] - (prior[el] if mode == "delta" else 0.0)
            acc[el].append(c)
            o += n
    out = {}
    for el, rows in acc.items():
        if not rows:
            out[el] = np.ones(basis.n_functions(el))
            continue
        a = np.stack(rows)
        s, o = [], 0
        for l in basis.ls(el):
            d = 2 * l + 1
            rms = float(np.sqrt(np.mean(a[:, o : o + d] ** 2))) or 1.0
            s += [rms] * d
            o += d
        out[el] = np.asarray(s)
    return out


def collate(frames: list[Frame], dtype, device="cpu"):
    """Disjoint union of molecules → tensors (numbers, pos Å, batch, n_e, sizes)."""
    import torch

    z = torch.as_tensor(np.concatenate([f.molecule.numbers for f in frames]), device=device)
    pos = torch.as_tensor(
        np.concatenate([f.molecule.positions for f in frames]), dtype=dtype, device=device
    )
    batch = torch.as_tensor(
        np.repeat(np.arange(len(frames)), [len(f.molecule.numbers) for f in frames]), device=device
    )
    n_e = torch.tensor(
        [float(f.molecule.numbers.sum() - f.molecule.charge) for f in frames],
        dtype=dtype,
        device=device,
    )
    return z, pos, batch, n_e


def _metric_matrix(frame: Frame, metric: str) -> np.ndarray:
    """The frame's Coulomb metric J or (``metric="overlap"``) aux overlap S."""
    m = frame.overlap if metric == "overlap" else frame.metric
    if m is None:
        raise InputError(f"frame {frame.molecule.id}: loaded without the {metric} matrix")
    return m


def coulomb_losses(coeff, frames: list[Frame], metric: str = "coulomb"):
    """(n_mol,) (δρ|δρ) in Hartree for the flat predicted coefficients of ``frames``
    (``metric="overlap"``: ∫δρ² in e²/Bohr³ instead, needs frames loaded with overlaps)."""
    import torch

    out, o = [], 0
    for f in frames:
        n = len(f.coeff)
        d = coeff[o : o + n] - torch.as_tensor(f.coeff, dtype=coeff.dtype, device=coeff.device)
        j = torch.as_tensor(_metric_matrix(f, metric), dtype=coeff.dtype, device=coeff.device)
        out.append(d @ j @ d)
        o += n
    return torch.stack(out)


def _items(frames: list[Frame], metric: str, dtype, density: bool = True) -> list[dict]:
    """Per-frame training items for :func:`rhoml.train.loop.fit`: numbers, positions (Å),
    electron count, energy (kcal/mol), forces (kcal/mol/Å) and the whitened density target
    ``Lᵀ c_fit`` with ``L`` the Cholesky factor of the frame's metric (J = L Lᵀ), so that
    ``|Lᵀ (c − c_fit)|² = δcᵀ J δc`` (Coulomb) or ``δcᵀ S δc`` (overlap); ``density=False``
    leaves both empty (energy stage)."""
    import torch

    items = []
    for f in frames:
        whiten, target = np.zeros((0, 0)), np.zeros(0)
        if density:
            try:
                whiten = np.linalg.cholesky(_metric_matrix(f, metric)).T
            except np.linalg.LinAlgError:
                raise InputError(
                    f"frame {f.molecule.id}: {metric} metric not positive definite"
                ) from None
            target = whiten @ f.coeff
        items.append(
            {
                "z": torch.as_tensor(f.molecule.numbers),
                "pos": torch.as_tensor(f.molecule.positions, dtype=dtype),
                "n_e": float(f.molecule.numbers.sum() - f.molecule.charge),
                "energy": torch.tensor([f.energy], dtype=torch.float64),
                "forces": torch.as_tensor(f.forces, dtype=dtype),
                "whiten": torch.as_tensor(whiten, dtype=dtype),
                "density_target": torch.as_tensor(target, dtype=dtype),
            }
        )
    return items


def collate_items(items: list[dict]) -> dict:
    """Disjoint union of :func:`_items` → one batch dict (``whiten`` stays a per-frame list)."""
    import torch

    sizes = [len(it["z"]) for it in items]
    return {
        "z": torch.cat([it["z"] for it in items]),
        "pos": torch.cat([it["pos"] for it in items]),
        "batch": torch.repeat_interleave(torch.arange(len(items)), torch.tensor(sizes)),
        "n_e": torch.tensor([it["n_e"] for it in items], dtype=items[0]["pos"].dtype),
        "energy": torch.cat([it["energy"] for it in items]),
        "forces": torch.cat([it["forces"] for it in items]),
        "whiten": [it["whiten"] for it in items],
        "density_target": torch.cat([it["density_target"] for it in items]),
    }


def _stage_modules():
    """The two training stages as ``nn.Module``s called on a batch dict (the shared loop's
    model interface); defined lazily so that importing this module does not import torch."""
    import torch
    from torch import nn

    class DensityStage(nn.Module):
        """Whitened predicted coefficients ``Lᵀ c`` of every frame, concatenated."""

        def __init__(self, coeff_net) -> None:
            super().__init__()
            self.net = coeff_net

        def forward(self, b: dict) -> torch.Tensor:
            coeff, _, _ = self.net(b["z"], b["pos"], b["batch"], b["n_e"])
            parts = torch.split(coeff, [w.shape[1] for w in b["whiten"]])
            return torch.cat([w @ c for w, c in zip(b["whiten"], parts, strict=True)])

    class EnergyStage(nn.Module):
        """Scaled energies and forces of every frame, concatenated: ``[a·E (n_mol), b·F
        (3·n_atoms)]``; forces are −∂E/∂R through both networks (graph kept in training)."""

        def __init__(self, model, energy_factor: float, force_factor: float) -> None:
            super().__init__()
            self.model = model
            self.a, self.b = energy_factor, force_factor

        def forward(self, b: dict) -> torch.Tensor:
            with torch.enable_grad():
                pos = b["pos"].detach().requires_grad_(True)
                out = self.model(b["z"], pos, b["batch"], b["n_e"])
                (g,) = torch.autograd.grad(out["energy"].sum(), pos, create_graph=self.training)
            return torch.cat([out["energy"].double() * self.a, (-g).reshape(-1).double() * self.b])

    class FrozenEnergyStage(EnergyStage):
        """:class:`EnergyStage` on batches with the frozen coefficient network's features and
        Jacobians (:mod:`rhoml.families.densnet_frozen`): only the energy network runs."""

        def forward(self, b: dict) -> torch.Tensor:
            from rhoml.families.densnet_frozen import frozen_energy_forces

            e, f = frozen_energy_forces(self.model.energy_net, b, self.training)
            return torch.cat([e.double() * self.a, f.reshape(-1).double() * self.b])

    return DensityStage, EnergyStage, FrozenEnergyStage


def _loop_config(cfg: TrainSection, epochs: int, validation: bool = False):
    from rhoml.train.config import TrainConfig as LoopConfig

    return LoopConfig(
        epochs=epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        lr_min=cfg.lr * 0.02,
        optimizer="adam",
        scheduler="cosine",
        loss="mse",
        # without validation frames the loop's "validation" is a few training frames
        monitor="val_loss" if validation else "train_loss",
        patience=cfg.patience if validation else 0,
        seed=cfg.seed,
        device=cfg.device,
        bn_recalibration=0,
    )


def _mse(pred, true):
    return ((pred - true.to(pred.dtype)) ** 2).mean()


def fit_stage(module, items, epochs, cfg, objective, out_dir, progress, val_items=None,
              collate_fn=collate_items):  # fmt: skip
    """One stage through the shared loop (checkpoints, ``metrics.csv`` and resume in
    ``out_dir``). With ``val_items`` the loop keeps the epoch of lowest validation loss (and
    stops early after ``cfg.patience`` epochs without improvement); without, the last epoch of
    lowest training loss."""
    from rhoml.train.loop import fit

    validation = bool(val_items)
    val = val_items if validation else items[: cfg.batch_size]  # the loop wants a val set
    return fit(module, items, val, objective, _loop_config(cfg, epochs, validation), out_dir,
               collate_fn=collate_fn, progress=progress)  # fmt: skip


def train_density(model, frames, cfg: TrainSection, out_dir, *, log=print, progress=False):
    """Stage 1 through :func:`rhoml.train.loop.fit` (checkpoints and ``metrics.csv`` in
    ``out_dir``; a rerun resumes). Loss: Σ_mol δcᵀ M δc / Σ_mol n_aux (M the Coulomb metric,
    Hartree, or the overlap, e²/Bohr³), i.e. the density error norm per aux function. Returns
    the training loss per epoch."""
    from rhoml.train.loop import Objective

    density_stage, _, _ = _stage_modules()
    items = _items(frames, cfg.loss_metric, model.dtype_())
    objective = Objective(lambda b: b["density_target"], _mse, lambda p, t: {})
    res = fit_stage(density_stage(model.coeff_net), items, cfg.density_epochs, cfg, objective,
                     out_dir, progress)  # fmt: skip
    hist = [r["train_loss"] for r in res.history]
    log(f"density stage: {res.epochs_run} epochs, loss {hist[0]:.3e} → {hist[-1]:.3e}")
    return hist


def _composition_residual(frames: list[Frame], energies: np.ndarray) -> np.ndarray:
    """Energies minus their least-squares per-element fit (kcal/mol): the spread the energy
    network has to learn. For frames of one molecule this is E − mean(E); with several sizes
    (e.g. oligomers) the raw spread would be dominated by the composition."""
    zs = sorted({int(z) for f in frames for z in f.molecule.numbers})
    a = np.array([[np.sum(f.molecule.numbers == z) for z in zs] for f in frames], float)
    shift, *_ = np.linalg.lstsq(a, energies, rcond=None)
    return energies - a @ shift


def train_energy(model, frames, cfg: TrainSection, out_dir, *, val=None, log=print,
                 progress=False):  # fmt: skip
    """Stage 2 through :func:`rhoml.train.loop.fit` (coefficient network frozen, forces
    through both networks; its features and their Jacobians are computed once,
    :mod:`rhoml.families.densnet_frozen`, unless they would not fit in memory). Loss: mean over
    the entries of [a·ΔE, b·ΔF] with a = √(3 n̄)/σ_E and b = √w/σ_F (n̄ mean atoms per frame,
    w ``force_weight``, σ from the training set), i.e. ∝ mean ((ΔE/σ_E)²) +
    w·mean((ΔF/σ_F)²). ``val``: validation frames (the model keeps the epoch of lowest
    validation loss). Returns the training loss per epoch."""
    import torch

    from rhoml.train.loop import Objective

    for p in model.coeff_net.parameters():
        p.requires_grad_(False)
    e_all = np.array([f.energy for f in frames])
    sig_e = float(np.std(_composition_residual(frames, e_all))) or 1.0
    sig_f = float(np.sqrt(np.mean(np.concatenate([f.forces.ravel() for f in frames]) ** 2)))
    n_mean = float(np.mean([len(f.molecule.numbers) for f in frames]))
    a, b = math.sqrt(3 * n_mean) / sig_e, math.sqrt(cfg.force_weight) / (sig_f or 1.0)

    def targets(batch):
        return torch.cat([batch["energy"] * a, batch["forces"].reshape(-1).double() * b])

    from rhoml.families import densnet_frozen as frozen

    _, energy_stage, frozen_stage = _stage_modules()
    items = _items(frames, cfg.loss_metric, model.dtype_(), density=False)
    val_items = _items(val, cfg.loss_metric, model.dtype_(), density=False) if val else None
    everything = items + (val_items or [])
    size = frozen.jacobian_bytes(everything, frozen.feature_sizes(model.coeff_net))
    use_frozen = size <= frozen.MAX_JACOBIAN_BYTES
    collate_fn = frozen.collate_frozen if use_frozen else collate_items
    if use_frozen:
        log(f"energy stage: coefficient-network features and Jacobians of {len(everything)} "
            f"frames computed once ({size / 1e6:.0f} MB)")  # fmt: skip
        energy_stage = frozen_stage
    else:
        log(f"energy stage: Jacobians would take {size / 1e9:.1f} GB; the coefficient network "
            "runs in every step")  # fmt: skip
    try:
        if use_frozen:
            frozen.add_frozen_features(model.coeff_net, everything, cfg.batch_size, progress)
        res = fit_stage(energy_stage(model, a, b), items, cfg.energy_epochs, cfg,
                         Objective(targets, _mse, lambda p, t: {}), out_dir, progress,
                         val_items, collate_fn)  # fmt: skip
    finally:
        for p in model.coeff_net.parameters():
            p.requires_grad_(True)
    hist = [r["train_loss"] for r in res.history]
    msg = f"energy stage: {res.epochs_run} epochs, loss {hist[0]:.4f} → {hist[-1]:.4f}"
    if val:
        msg += f", best validation loss {res.best_value:.4f} at epoch {res.best_epoch}"
    log(msg)
    return hist


def evaluate(model, frames: list[Frame], batch_size: int = 10) -> dict[str, float]:
    """Test metrics: mean (δρ|δρ) (Hartree), energy and force MAE (kcal/mol, kcal/mol/Å),
    dipole MAE vs the fitted DFT density's dipole (Debye, per component)."""
    return _errors(model, frames, batch_size, density=True)


def energy_errors(model, frames: list[Frame], batch_size: int = 10) -> dict[str, float]:
    """Energy and force MAE (kcal/mol, kcal/mol/Å; also the energy MAE after removing the mean
    error, i.e. up to a constant offset) of ``model`` on ``frames`` (no density needed)."""
    return _errors(model, frames, batch_size, density=False)


def _errors(model, frames: list[Frame], batch_size: int, density: bool) -> dict[str, float]:
    """One pass over ``frames``: energy and force errors, and with ``density`` the Coulomb
    loss of the coefficients and the dipole error against the fitted DFT density."""
    import torch

    from rhoml.density.base import Density

    dt = model.dtype_()
    cl, ee, fe, de = [], [], [], []
    for i in range(0, len(frames), batch_size):
        fb = frames[i : i + batch_size]
        z, pos, batch, n_e = collate(fb, dt)
        pos.requires_grad_(True)
        out = model(z, pos, batch, n_e)
        (g,) = torch.autograd.grad(out["energy"].sum(), pos)
        ee += (out["energy"].detach().double().numpy() - [f.energy for f in fb]).tolist()
        fe.append(np.abs(-g.detach().double().numpy() - np.concatenate([f.forces for f in fb])))
        if not density:
            continue
        mu = model.coeff_net.dipole(z, pos, batch, out["coeff"], out["offsets"]).detach()
        cl += coulomb_losses(out["coeff"].detach(), fb).tolist()
        for k, f in enumerate(fb):
            ref = Density(f.molecule, model.basis.pyscf_basis(), "coefficients", f.coeff,
                          f.molecule.numbers.astype(float), "fit").dipole()  # fmt: skip
            de.append(np.abs(mu[k].double().numpy() - ref))
    ee = np.asarray(ee)
    metrics = {
        "energy_mae_kcal_mol": float(np.mean(np.abs(ee))),
        "energy_mae_offset_removed_kcal_mol": float(np.mean(np.abs(ee - ee.mean()))),
        "force_mae_kcal_mol_angstrom": float(np.mean(np.concatenate([a.ravel() for a in fe]))),
    }
    if density:
        metrics = {"coulomb_error_hartree": float(np.mean(cl)), **metrics,
                   "dipole_mae_debye": float(np.mean(np.concatenate(de)))}  # fmt: skip
    return {**metrics, "n": len(frames)}


def optimise_basis(store, cfg: BasisSection, basis, log=print):
    """Optimise exponent scales on the first 2 training-split DFT densities of ``store``."""
    from rhoml.density.fit_scales import optimise_scales
    from rhoml.represent.coefficients import label_method
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        method = label_method(st)
        idx = sorted(st.finished(method, include_failed=False))
        mols = [(i, st.molecule(i)) for i in idx]
        dens = [st.density(i, method) for i, m in mols if "_test" not in m.id.split("#")[0]][:2]
    opt, hist = optimise_scales(dens, basis, steps=(-0.25, 0.25), sweeps=cfg.scale_sweeps, log=log)
    log(f"basis scales: (δρ|δρ) {hist[0]:.3e} → {hist[-1]:.3e} Ha on {len(dens)} frames")
    return opt


def build_model(config: dict, frames: list[Frame], basis=None, energy_frames=None):
    """A fresh DenSNet for the config sections ``config`` (``basis``, ``density_net``,
    ``energy_net``, ``train``) with scales from the training ``frames`` and energy shift and
    scale from ``energy_frames`` (default: ``frames``) (``basis``: an already optimised
    flexible basis; default: from ``config["basis"]``)."""
    from rhoml.density.prior import prior_table
    from rhoml.elements import symbol
    from rhoml.models.densnet.potential import DenSNet

    bcfg = config["basis"]
    elements = sorted({symbol(int(z)) for f in frames for z in f.molecule.numbers})
    basis = basis or make_basis(bcfg, elements)
    prior = prior_table(basis)
    scales = coefficient_scales(frames, basis, prior, bcfg.mode)
    e_shift, e_scale = energy_shift_scale(energy_frames or frames)
    model = DenSNet(
        basis, prior, scales, config["density_net"], config["energy_net"], e_shift, e_scale,
        bcfg.mode,
    )  # fmt: skip
    return model.to(torch_dtype(config["train"].dtype))


def energy_shift_scale(frames: list[Frame]) -> tuple[dict[int, float], float]:
    """Per-element energy shift (kcal/mol; least squares on the compositions, min-norm when
    degenerate) and the per-atom scale of the residual spread (kcal/mol) of ``frames``."""
    zs = sorted({int(z) for f in frames for z in f.molecule.numbers})
    a = np.array([[np.sum(f.molecule.numbers == z) for z in zs] for f in frames], float)
    e = np.array([f.energy for f in frames])
    shift, *_ = np.linalg.lstsq(a, e, rcond=None)
    n_atoms = np.mean([len(f.molecule.numbers) for f in frames])
    e_scale = max(float(np.std(e - a @ shift)), 0.1) / math.sqrt(n_atoms)
    return {z: float(v) for z, v in zip(zs, shift, strict=True)}, e_scale


def torch_dtype(name: str):
    """``float32``/``float64`` → the torch dtype."""
    import torch

    dtype = {"float32": torch.float32, "float64": torch.float64}.get(name)
    if dtype is None:
        raise InputError(f"dtype must be float32 or float64, got {name!r}")
    return dtype

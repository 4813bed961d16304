"""A trained DenSNet: coefficient network + energy network + basis.

:class:`DenSNet` predicts for a :class:`~rhoml.molecule.Molecule` the energy (kcal/mol), forces
(kcal/mol/Å, −∂E/∂R through both networks), dipole (Debye, from the predicted density's
coefficients + nuclei) and the density itself as a rhoml ``Density`` (aux coefficients).
"""

from __future__ import annotations

import re
import weakref
from typing import Any

import numpy as np
import torch

from rhoml.density.flexible_basis import FlexibleBasis
from rhoml.errors import InputError
from rhoml.models.densnet.nets import CoefficientNet, EnergyNet, NetConfig
from rhoml.molecule import Molecule

_EVALUATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → {key: evaluator}


class DenSNet(torch.nn.Module):
    """Both networks and their metadata. ``meta`` holds units, level of theory, training info."""

    def __init__(
        self,
        basis: FlexibleBasis,
        prior: dict,
        scales: dict,
        density_cfg: NetConfig,
        energy_cfg: NetConfig,
        e_shift: dict,
        e_scale: float,
        mode: str = "delta",
        meta: dict | None = None,
    ):
        super().__init__()
        self.basis = basis
        self.hparams = {
            "prior": {k: np.asarray(v).tolist() for k, v in prior.items()},
            "scales": {k: np.asarray(v).tolist() for k, v in scales.items()},
            "density_cfg": density_cfg.__dict__,
            "energy_cfg": energy_cfg.__dict__,
            "e_shift": {int(k): float(v) for k, v in e_shift.items()},
            "e_scale": float(e_scale),
            "mode": mode,
        }
        self.coeff_net = CoefficientNet(basis, prior, scales, density_cfg, mode)
        self.energy_net = EnergyNet(basis, energy_cfg, e_shift, e_scale)
        self.meta = dict(meta or {})

    # -- core ---------------------------------------------------------------------------------
    def forward(self, numbers, pos, batch, n_electrons) -> dict[str, torch.Tensor]:
        """Energies (n_mol,) kcal/mol, coefficients (flat), dipoles (n_mol, 3) Debye."""
        coeff, feats, offsets = self.coeff_net(numbers, pos, batch, n_electrons)
        energy = self.energy_net(numbers, pos, batch, feats)
        return {"energy": energy, "coeff": coeff, "offsets": offsets, "feats": feats}

    def new_energy_net(self, cfg: NetConfig, e_shift: dict, e_scale: float) -> None:
        """Replace the energy network by a fresh one (``cfg``, per-element energy shift and
        scale, kcal/mol) on the same basis and coefficient network."""
        param = next(self.coeff_net.parameters())
        self.energy_net = EnergyNet(self.basis, cfg, e_shift, e_scale).to(param.device, param.dtype)
        self.hparams.update(energy_cfg=cfg.__dict__, e_shift={int(k): float(v) for k, v in
                            e_shift.items()}, e_scale=float(e_scale))  # fmt: skip

    def dtype_(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def evaluator(self, numbers, charge: int = 0, *, compile: bool = False):
        """Fast :class:`~rhoml.models.densnet.fast.Evaluator` for molecules with atomic ``numbers``
        and
        ``charge``; cached, and rebuilt when parameters, buffers, dtype or device change."""
        from rhoml.models.densnet.fast import Evaluator

        key = (tuple(int(z) for z in numbers), int(charge), bool(compile))
        state = tuple((t.data_ptr(), t._version, t.dtype) for t in self._state_tensors())
        cache = _EVALUATORS.setdefault(self, {})
        hit = cache.get(key)
        if hit is None or hit[0] != state:
            if len(cache) >= 8:
                cache.clear()
            hit = cache[key] = (state, Evaluator(self, key[0], charge, compile=compile))
        return hit[1]

    def _state_tensors(self):
        yield from self.parameters()
        yield from self.buffers()

    def predict(
        self, molecule: Molecule, *, forces: bool = True, dipole: bool = True, fast: bool = True
    ) -> dict[str, Any]:
        """Energy (kcal/mol), forces (kcal/mol/Å), dipole (Debye), coefficients (electrons).

        ``fast`` uses the cached :meth:`evaluator` (same numbers to round-off); ``fast=False``
        runs the modules (:meth:`forward` + autograd) directly."""
        if fast:
            ev = self.evaluator(molecule.numbers, molecule.charge)
            return ev(molecule.positions, forces=forces, dipole=dipole)
        dt = self.dtype_()
        dev = next(self.parameters()).device
        z = torch.as_tensor(molecule.numbers, device=dev)
        pos = torch.as_tensor(molecule.positions, dtype=dt, device=dev).requires_grad_(forces)
        batch = torch.zeros(len(z), dtype=torch.long, device=dev)
        n_e = torch.tensor([float(molecule.numbers.sum() - molecule.charge)], device=dev)
        out = self.forward(z, pos, batch, n_e)
        res: dict[str, Any] = {"energy": float(out["energy"][0].detach())}
        if forces:
            (g,) = torch.autograd.grad(out["energy"].sum(), pos)
            res["forces"] = (-g).detach().cpu().double().numpy()
        if dipole:
            mu = self.coeff_net.dipole(z, pos, batch, out["coeff"], out["offsets"])
            res["dipole"] = mu[0].detach().cpu().double().numpy()
        res["coeff"] = out["coeff"].detach().cpu().double().numpy()
        return res

    def density(self, molecule: Molecule):
        """The predicted density as a rhoml ``Density`` (aux-basis coefficients)."""
        from rhoml.density.base import Density

        c = self.predict(molecule, forces=False, dipole=False)["coeff"]
        return Density(
            molecule,
            self.basis.pyscf_basis(),
            "coefficients",
            c,
            molecule.numbers.astype(float),
            "densnet",
            level=self.meta.get("level", ""),
        )

    # -- build arguments --------------------------------------------------------------------
    def build_args(self) -> dict:
        """Everything besides the weights that rebuilds this model (JSON-able): the basis, the
        hyper-parameters (prior, scales, network configs, energy shift and scale, mode) and
        ``meta``. :meth:`from_build` is the inverse."""
        hp = dict(self.hparams)
        hp["e_shift"] = {str(k): v for k, v in hp["e_shift"].items()}
        return {"basis": self.basis.to_dict(), "hparams": hp, "meta": self.meta}

    @classmethod
    def from_build(cls, build: dict, state: dict, *, dtype: torch.dtype = torch.float64,
                   device: str = "cpu", where: str = "model") -> DenSNet:  # fmt: skip
        """The model of :meth:`build_args` output ``build`` with weights ``state`` (a
        state_dict), in eval mode on ``device``. Buffers derived from the basis (prior,
        integrals, ordering, scales, energy shift) are rebuilt in float64 by the constructor
        rather than read from ``state`` (a float32 copy would break the exact electron count).
        Raises :class:`InputError` (naming ``where``) when the weights do not fit the build."""
        try:
            hp = build["hparams"]
            model = cls(
                FlexibleBasis.from_dict(build["basis"]),
                {k: np.asarray(v) for k, v in hp["prior"].items()},
                {k: np.asarray(v) for k, v in hp["scales"].items()},
                NetConfig(**hp["density_cfg"]),
                NetConfig(**hp["energy_cfg"]),
                {int(k): v for k, v in hp["e_shift"].items()},
                hp["e_scale"],
                hp["mode"],
                build.get("meta", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: incomplete DenSNet build arguments ({exc})") from None
        kept = {k: v for k, v in state.items() if not _DERIVED.search(k)}
        missing, unexpected = model.load_state_dict(kept, strict=False)
        if unexpected or any(not _DERIVED.search(k) for k in missing):
            raise InputError(f"{where}: model weights do not match its configuration")
        return model.to(dtype=dtype, device=device).eval()


_DERIVED = re.compile(r"(^|\.)((q|m|prior|conv|scale)_\d+|e_shift)$")
